"""Device tables: ``/api/tenant/deviceInfos`` and ``/api/customer/{customerId}/deviceInfos``,
ThingsBoard's pages of DeviceInfo (a device with its profile name, customer title and state)."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import thingport.api.render as render
from thingport.api.common import (
    JSONResponse,
    page_link,
    principal,
    services,
    tenant_admin,
    uuid_param,
)
from thingport.domain.model import Authority
from thingport.errors import BadRequest
from thingport.http.operations import PAGE, Param, operation


@operation(query=(*PAGE, Param("deviceProfileId"), Param("active", type="boolean")))
async def tenant_device_infos(request: Request) -> Response:
    """A page of the tenant's devices with their profile name, customer title and state."""
    _, tenant_id = await tenant_admin(request)
    return await _infos(request, tenant_id, None)


@operation(query=(*PAGE, Param("deviceProfileId"), Param("active", type="boolean")))
async def customer_device_infos(request: Request) -> Response:
    """A page of one customer's devices with their profile name, customer title and state
    (for its users, only their own customer's)."""
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    customer = await services(request).customers.visible(
        caller, uuid_param(request.path_params["customerId"]))
    return await _infos(request, customer.tenant_id, customer.id)


async def _infos(request: Request, tenant_id: UUID, customer_id: UUID | None) -> Response:
    link = page_link(request)
    raw_profile = request.query_params.get("deviceProfileId")
    profile_id = uuid_param(raw_profile) if raw_profile else None
    result = await services(request).devices.find_infos(
        tenant_id, link, customer_id=customer_id, device_profile_id=profile_id,
        active=_active_param(request),
    )
    return JSONResponse(render.page(result, render.device_info))


def _active_param(request: Request) -> bool | None:
    """``active=true|false`` (any case); absent or empty means either."""
    raw = request.query_params.get("active")
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered not in {"true", "false"}:
        raise BadRequest(f"Failed to convert value of 'active': '{raw}' is not true or false")
    return lowered == "true"


routes = [
    Route("/api/tenant/deviceInfos", tenant_device_infos, methods=["GET"]),
    Route("/api/customer/{customerId}/deviceInfos", customer_device_infos, methods=["GET"]),
]
