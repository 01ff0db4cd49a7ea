"""Tenants and users, as the system and tenant administrators manage them."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from thingport.api import render
from thingport.api.common import (
    JSONResponse,
    bool_param,
    entity_uuid,
    json_object,
    page_link,
    principal,
    services,
    uuid_param,
)
from thingport.api.public_url import public_address
from thingport.domain.model import Authority
from thingport.errors import BadRequest, NotFound, PermissionDenied

#: The UI's page where a new user chooses a password (web/static/js/pages/login.js).
ACTIVATE_PAGE = "/activate"


async def save_tenant(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    body = await json_object(request)
    svc = services(request)
    users = svc.users
    tenant_id = entity_uuid(body.get("id"), "id")
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise BadRequest("Tenant title should be specified!")
    # No tenantProfileId: the default profile, as ThingsBoard assigns it.
    profile_id = await svc.tenant_profiles.for_tenant(
        entity_uuid(body.get("tenantProfileId"), "tenantProfileId"))
    if tenant_id is None:
        tenant = await users.create_tenant(title, body.get("email"), profile_id)
    else:
        tenant = await users.get_tenant(tenant_id)
        previous = tenant.tenant_profile_id
        tenant.title = title
        tenant.email = body.get("email")
        tenant.additional_info = body.get("additionalInfo")
        tenant.tenant_profile_id = profile_id
        await users.save_tenant(tenant)
        if previous != profile_id:
            await svc.rate_limits.changed()
    return JSONResponse(render.tenant(tenant))


async def get_tenant(request: Request) -> Response:
    caller = await principal(request, Authority.SYS_ADMIN, Authority.TENANT_ADMIN)
    tenant_id = uuid_param(request.path_params["tenantId"])
    if caller.authority is Authority.TENANT_ADMIN and caller.tenant_id != tenant_id:
        raise NotFound(f"Tenant with id [{tenant_id}] is not found")
    svc = services(request)
    default = await svc.tenant_profiles.default_profile()
    return JSONResponse(render.tenant(await svc.users.get_tenant(tenant_id), default.id))


async def list_tenants(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    svc = services(request)
    result = await svc.users.find_tenants(page_link(request))
    default = await svc.tenant_profiles.default_profile()
    return JSONResponse(render.page(result, lambda t: render.tenant(t, default.id)))


async def save_user(request: Request) -> Response:
    """Create or update a user. A system administrator creates tenant administrators; a tenant
    administrator creates users in its own tenant. ``sendActivationMail`` is accepted; no mail is
    sent: the activation link is read with ``GET /api/user/{id}/activationLink``."""
    caller = await principal(request, Authority.SYS_ADMIN, Authority.TENANT_ADMIN)
    body = await json_object(request)
    bool_param(request, "sendActivationMail")
    users = services(request).users
    try:
        authority = Authority(str(body.get("authority")))
    except ValueError:
        raise BadRequest(f"Invalid authority: {body.get('authority')}") from None
    tenant_id = entity_uuid(body.get("tenantId"), "tenantId")
    customer_id = entity_uuid(body.get("customerId"), "customerId")
    if caller.authority is Authority.SYS_ADMIN:
        if authority is not Authority.TENANT_ADMIN or tenant_id is None:
            raise BadRequest("A system administrator creates tenant administrators of a tenant")
        await users.get_tenant(tenant_id)
        customer_id = None
    else:
        if authority is Authority.SYS_ADMIN:
            raise PermissionDenied("You don't have permission to perform this operation!")
        tenant_id = caller.tenant_id
        assert tenant_id is not None
        if authority is Authority.TENANT_ADMIN:
            customer_id = None
        elif customer_id is None:
            raise BadRequest("A customer user needs a customerId")
        else:
            await services(request).customers.get(tenant_id, customer_id)
    user_id = entity_uuid(body.get("id"), "id")
    if user_id is None:
        user, _ = await users.create_user(
            tenant_id, customer_id, str(body.get("email") or ""), authority,
            first_name=body.get("firstName"), last_name=body.get("lastName"),
        )
    else:
        user = await users.get_user(user_id)
        if caller.authority is Authority.TENANT_ADMIN and user.tenant_id != caller.tenant_id:
            raise NotFound(f"User with id [{user_id}] is not found")
        user.email = str(body.get("email") or user.email)
        user.first_name = body.get("firstName")
        user.last_name = body.get("lastName")
        user.additional_info = body.get("additionalInfo")
        await users.update_user(user)
    return JSONResponse(render.user(user))


async def get_user(request: Request) -> Response:
    """The user, with ThingsBoard's ``additionalInfo`` flags of its credentials:
    ``userCredentialsEnabled`` (false while disabled or locked) and ``userActivated``."""
    caller = await principal(request)
    users = services(request).users
    user = await users.get_user(uuid_param(request.path_params["userId"]))
    visible = (
        caller.authority is Authority.SYS_ADMIN
        or user.id == caller.user_id
        or (caller.authority is Authority.TENANT_ADMIN and user.tenant_id == caller.tenant_id)
    )
    if not visible:
        raise NotFound(f"User with id [{user.id}] is not found")
    body = render.user(user)
    credentials = await users.credentials(user.id)
    if credentials is not None:
        body["additionalInfo"] = {
            **(user.additional_info or {}), "userCredentialsEnabled": credentials.enabled,
            "userActivated": credentials.activate_token is None,
        }
    return JSONResponse(body)


async def set_user_credentials_enabled(request: Request) -> Response:
    """``?userCredentialsEnabled=true|false`` (default true): unlock (also an account the
    security policy locked) or disable a user. A system administrator may for anyone, a tenant
    administrator for its tenant's users."""
    caller = await principal(request, Authority.SYS_ADMIN, Authority.TENANT_ADMIN)
    users = services(request).users
    user = await users.get_user(uuid_param(request.path_params["userId"]))
    if caller.authority is Authority.TENANT_ADMIN and user.tenant_id != caller.tenant_id:
        raise NotFound(f"User with id [{user.id}] is not found")
    raw = request.query_params.get("userCredentialsEnabled") or "true"
    if raw.lower() not in ("true", "false"):
        # Not bool_param's "anything else is false": a typo must not disable an account.
        raise BadRequest(f"Failed to convert value of 'userCredentialsEnabled': '{raw}' is not "
                         "true or false")
    await users.set_credentials_enabled(user.id, raw.lower() == "true")
    return Response(status_code=200)


async def list_tenant_admins(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    tenant_id = uuid_param(request.path_params["tenantId"])
    result = await services(request).users.find_users(
        tenant_id, None, page_link(request), Authority.TENANT_ADMIN
    )
    return JSONResponse(render.page(result, render.user))


async def activation_link(request: Request) -> Response:
    """The link a new user opens to set a password (ThingsBoard answers it as plain text)."""
    caller = await principal(request, Authority.SYS_ADMIN, Authority.TENANT_ADMIN)
    users = services(request).users
    user = await users.get_user(uuid_param(request.path_params["userId"]))
    if caller.authority is Authority.TENANT_ADMIN and user.tenant_id != caller.tenant_id:
        raise NotFound(f"User with id [{user.id}] is not found")
    token = await users.activation_token(user.id)
    if token is None:
        raise BadRequest("User is already activated!")
    # The UI's page, at the public address (as ThingsBoard's link opens its UI's page).
    origin = public_address(request).origin
    return Response(f"{origin}{ACTIVATE_PAGE}?activateToken={quote(token, safe='')}",
                    media_type="text/plain")


async def activate_page(request: Request) -> Response:
    """``GET /api/noauth/activate?activateToken=``: links handed out before the link named the
    UI's page; 302 to it."""
    token = request.query_params.get("activateToken", "")
    # Relative, so it works at whatever address the old link used (under the base URL's path).
    page = public_address(request).prefix + ACTIVATE_PAGE
    return RedirectResponse(f"{page}?activateToken={quote(token, safe='')}", status_code=302)


async def activate(request: Request) -> Response:
    """``{"activateToken","password"}``: set the password, answer a token pair."""
    body = await json_object(request)
    token, password = body.get("activateToken"), body.get("password")
    if not isinstance(token, str) or not isinstance(password, str):
        raise BadRequest("activateToken and password are required")
    svc = services(request)
    user = await svc.users.activate(token, password)
    return JSONResponse(svc.auth.issue(user))


routes = [
    Route("/api/tenant", save_tenant, methods=["POST"]),
    Route("/api/tenant/{tenantId}", get_tenant, methods=["GET"]),
    Route("/api/tenants", list_tenants, methods=["GET"]),
    Route("/api/tenant/{tenantId}/users", list_tenant_admins, methods=["GET"]),
    Route("/api/user", save_user, methods=["POST"]),
    Route("/api/user/{userId}", get_user, methods=["GET"]),
    Route("/api/user/{userId}/activationLink", activation_link, methods=["GET"]),
    Route("/api/user/{userId}/userCredentialsEnabled", set_user_credentials_enabled,
          methods=["POST"]),
    Route("/api/noauth/activate", activate, methods=["POST"]),
    Route("/api/noauth/activate", activate_page, methods=["GET"]),
]
