"""What every REST endpoint shares: the caller, the body, paging, responses."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from thingport.domain.json_depth import ORJSON_MAX_DEPTH, deeper_than
from thingport.domain.model import Authority, Device, PageLink
from thingport.errors import (
    BadRequest,
    NotFound,
    PermissionDenied,
    Unauthorized,
)
from thingport.http.asgi import ClientDisconnected, check_content_length, read_body
from thingport.services import Services
from thingport.services.auth import Principal

HEADER_NAMES = ("x-authorization", "authorization")
#: Deepest nesting of a JSON body: what it holds is stored and written back inside responses,
#: a few levels down, and orjson writes only so many. Real bodies nest a handful.
MAX_BODY_DEPTH = ORJSON_MAX_DEPTH - 54


class JSONResponse(Response):
    """A JSON response serialised with orjson (non-ASCII kept, datetimes as ISO)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def services(request: Request) -> Services:
    """The services the app was built with."""
    return request.app.state.services  # type: ignore[no-any-return]


async def principal(request: Request, *allowed: Authority) -> Principal:
    """The authenticated caller, from ``X-Authorization`` (first) or ``Authorization``:
    ``Bearer <JWT>``. With ``allowed``, other authorities get 403."""
    token = None
    for name in HEADER_NAMES:
        value = request.headers.get(name)
        if value:
            # ThingsBoard cuts the first 7 characters ("Bearer ") without checking them.
            token = value[7:] if value[:7].lower() == "bearer " else value
            break
    if not token:
        raise Unauthorized("Authentication failed")
    caller = await services(request).auth.principal(token.strip())
    if allowed and caller.authority not in allowed:
        raise PermissionDenied("You don't have permission to perform this operation!")
    return caller


async def tenant_admin(request: Request) -> tuple[Principal, UUID]:
    """The caller, who must be a tenant administrator, and their tenant."""
    caller = await principal(request, Authority.TENANT_ADMIN)
    assert caller.tenant_id is not None
    return caller, caller.tenant_id


async def visible_device(request: Request, device_id: UUID) -> tuple[Principal, Device]:
    """The device, if the caller may use it: a tenant administrator any of its tenant's, a
    customer user only its customer's. Anything else is a 404, as if it did not exist."""
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    assert caller.tenant_id is not None
    device = await services(request).devices.get(caller.tenant_id, device_id)
    if caller.authority is Authority.CUSTOMER_USER and device.customer_id != caller.customer_id:
        raise NotFound(f"Device with id [{device_id}] is not found")
    return caller, device


async def body_bytes(request: Request) -> bytes:
    """The raw body, at most the REST limit (``http.asgi.read_body``; what a 413 leaves
    unread, the app's ``DrainUnreadBody`` drains)."""
    limit: int = request.app.state.settings.rest_max_payload
    check_content_length(request.scope, limit)
    try:
        return await read_body(request.receive, limit, drain_bytes=0)
    except ClientDisconnected:
        raise ClientDisconnect from None


async def json_body(request: Request) -> Any:
    """The body parsed as JSON whatever its Content-Type: ThingsBoard's REST clients send
    JSON as text/plain."""
    body = await body_bytes(request)
    if not body.strip():
        raise BadRequest("Required request body is missing")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Invalid request body: {exc}") from None
    if deeper_than(value, MAX_BODY_DEPTH, body):
        raise BadRequest(f"Invalid request body: nesting is deeper than {MAX_BODY_DEPTH}")
    return value


async def json_object(request: Request) -> dict[str, Any]:
    """The body, which must be a JSON object."""
    value = await json_body(request)
    if not isinstance(value, dict):
        raise BadRequest("Request body must be a JSON object")
    return value


def uuid_param(value: str, what: str = "id") -> UUID:
    """A UUID from the path or a body, else 400 (ThingsBoard's wording)."""
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise BadRequest(f"Invalid UUID string: {value}") from None


def text_field(body: dict[str, Any], name: str) -> str | None:
    """A body field that must be a string when present (None when absent or null)."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def entity_uuid(value: Any, what: str) -> UUID | None:
    """The id out of ``{"entityType":..,"id":..}`` (or a bare id string), or None."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
        if value is None:
            return None
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be an entity id")
    return uuid_param(value, what)


def int_param(request: Request, name: str, default: int | None = None) -> int:
    """An integer query parameter; missing without a default, or not a number, is a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"Required request parameter '{name}' is not present")
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Failed to convert value of '{name}': '{raw}' is not a number") from None


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return raw.lower() == "true"


def page_link(request: Request) -> PageLink:
    """ThingsBoard's paging parameters: pageSize and page are required."""
    link = PageLink(
        page_size=int_param(request, "pageSize"), page=int_param(request, "page"),
        text_search=request.query_params.get("textSearch") or None,
        sort_property=request.query_params.get("sortProperty") or None,
        sort_order=(request.query_params.get("sortOrder") or "ASC").upper(),
    )
    link.check()
    return link


def key_list(raw: str | None) -> list[str] | None:
    """``a,b,c`` as a list, trimmed, blanks dropped; None when absent."""
    if raw is None:
        return None
    return [key.strip() for key in raw.split(",") if key.strip()]


def empty_ok() -> Response:
    """200 with no body, as ThingsBoard answers saves."""
    return Response(status_code=200)
