"""Tenants and users, as the system and tenant administrators manage them."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

import thingport.api.render as render
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
from thingport.errors import BadRequest
from thingport.http.operations import NO_BODY, PAGE, Param, operation
from thingport.services.users import UserDraft

#: The UI's page where a new user chooses a password (web/static/js/pages/login.js).
ACTIVATE_PAGE = "/activate"


async def save_tenant(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    body = await json_object(request)
    tenant = await services(request).tenants.save(
        entity_uuid(body.get("id"), "id"), body.get("title"), email=body.get("email"),
        additional_info=body.get("additionalInfo"),
        profile_id=entity_uuid(body.get("tenantProfileId"), "tenantProfileId"),
    )
    return JSONResponse(render.tenant(tenant))


async def get_tenant(request: Request) -> Response:
    caller = await principal(request, Authority.SYS_ADMIN, Authority.TENANT_ADMIN)
    svc = services(request)
    tenant = await svc.tenants.get_as(caller, uuid_param(request.path_params["tenantId"]))
    default = await svc.tenant_profiles.default_profile()
    return JSONResponse(render.tenant(tenant, default.id))


@operation(query=PAGE)
async def list_tenants(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    svc = services(request)
    result = await svc.users.find_tenants(page_link(request))
    default = await svc.tenant_profiles.default_profile()
    return JSONResponse(render.page(result, lambda t: render.tenant(t, default.id)))


@operation(query=(Param("sendActivationMail", type="boolean"),))
async def save_user(request: Request) -> Response:
    """Create or update a user. A system administrator creates tenant administrators; a tenant
    administrator creates users in its own tenant. ``sendActivationMail`` is accepted; no mail is
    sent: the activation link is read with ``GET /api/user/{id}/activationLink``."""
    caller = await principal(request, Authority.SYS_ADMIN, Authority.TENANT_ADMIN)
    body = await json_object(request)
    bool_param(request, "sendActivationMail")
    try:
        authority = Authority(str(body.get("authority")))
    except ValueError:
        raise BadRequest(f"Invalid authority: {body.get('authority')}") from None
    email = body.get("email")
    draft = UserDraft(
        authority, tenant_id=entity_uuid(body.get("tenantId"), "tenantId"),
        customer_id=entity_uuid(body.get("customerId"), "customerId"),
        user_id=entity_uuid(body.get("id"), "id"), email=str(email) if email else None,
        first_name=body.get("firstName"), last_name=body.get("lastName"),
        additional_info=body.get("additionalInfo"),
    )
    user = await services(request).users.save_user_as(caller, draft)
    return JSONResponse(render.user(user))


async def get_user(request: Request) -> Response:
    """The user, with ThingsBoard's ``additionalInfo`` flags of its credentials:
    ``userCredentialsEnabled`` (false while disabled or locked) and ``userActivated``."""
    caller = await principal(request)
    users = services(request).users
    user = await users.get_user_as(caller, uuid_param(request.path_params["userId"]))
    body = render.user(user)
    credentials = await users.credentials(user.id)
    if credentials is not None:
        body["additionalInfo"] = {
            **(user.additional_info or {}), "userCredentialsEnabled": credentials.enabled,
            "userActivated": credentials.activate_token is None,
        }
    return JSONResponse(body)


@operation(query=(Param("userCredentialsEnabled", type="boolean"),),
           body=NO_BODY)
async def set_user_credentials_enabled(request: Request) -> Response:
    """``?userCredentialsEnabled=true|false`` (default true): unlock (also an account the
    security policy locked) or disable a user. A system administrator may for anyone, a tenant
    administrator for its tenant's users."""
    caller = await principal(request, Authority.SYS_ADMIN, Authority.TENANT_ADMIN)
    user_id = uuid_param(request.path_params["userId"])
    raw = request.query_params.get("userCredentialsEnabled") or "true"
    if raw.lower() not in ("true", "false"):
        # Not bool_param's "anything else is false": a typo must not disable an account.
        raise BadRequest(f"Failed to convert value of 'userCredentialsEnabled': '{raw}' is not "
                         "true or false")
    await services(request).users.set_credentials_enabled_as(caller, user_id,
                                                             raw.lower() == "true")
    return Response(status_code=200)


@operation(query=PAGE)
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
    token = await services(request).users.activation_token_as(
        caller, uuid_param(request.path_params["userId"]))
    # The UI's page, at the public address (as ThingsBoard's link opens its UI's page).
    origin = public_address(request).origin
    return Response(f"{origin}{ACTIVATE_PAGE}?activateToken={quote(token, safe='')}",
                    media_type="text/plain")


@operation(query=(Param("activateToken"),),
           responses={302: "To the UI's activation page"})
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
