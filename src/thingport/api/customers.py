"""Customers, their devices and users, and claiming devices as a customer user."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import thingport.api.render as render
from thingport.api.common import (
    JSONResponse,
    empty_ok,
    entity_uuid,
    json_object,
    page_link,
    principal,
    services,
    tenant_admin,
    uuid_param,
)
from thingport.domain.model import Authority
from thingport.errors import BadRequest
from thingport.http.operations import NO_BODY, PAGE, Param, operation


async def save_customer(request: Request) -> Response:
    """Create a customer, or update it when the body has an id."""
    _, tenant_id = await tenant_admin(request)
    body = await json_object(request)
    customer = await services(request).customers.save(
        tenant_id, body.get("title"), customer_id=entity_uuid(body.get("id"), "id"),
        email=body.get("email"), additional_info=body.get("additionalInfo"),
    )
    return JSONResponse(render.customer(customer))


async def get_customer(request: Request) -> Response:
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    customer = await services(request).customers.visible(
        caller, uuid_param(request.path_params["customerId"]))
    return JSONResponse(render.customer(customer))


async def delete_customer(request: Request) -> Response:
    """Delete a customer and its users; its devices return to the tenant."""
    _, tenant_id = await tenant_admin(request)
    await services(request).customers.delete(
        tenant_id, uuid_param(request.path_params["customerId"]))
    return empty_ok()


@operation(query=PAGE)
async def list_customers(request: Request) -> Response:
    _, tenant_id = await tenant_admin(request)
    result = await services(request).customers.find(tenant_id, page_link(request))
    return JSONResponse(render.page(result, render.customer))


@operation(query=(*PAGE, Param("type")))
async def customer_devices(request: Request) -> Response:
    """A page of the customer's devices (for its users, only their own customer's)."""
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    customer_id = uuid_param(request.path_params["customerId"])
    kind = request.query_params.get("type") or None
    result = await services(request).customers.devices(caller, customer_id, page_link(request),
                                                       kind)
    return JSONResponse(render.page(result, render.device))


@operation(query=PAGE)
async def customer_users(request: Request) -> Response:
    _, tenant_id = await tenant_admin(request)
    customer_id = uuid_param(request.path_params["customerId"])
    result = await services(request).customers.users(tenant_id, customer_id, page_link(request))
    return JSONResponse(render.page(result, render.user))


@operation(body=NO_BODY)
async def assign_device(request: Request) -> Response:
    """Assign a device to a customer."""
    _, tenant_id = await tenant_admin(request)
    customer_id = uuid_param(request.path_params["customerId"])
    device_id = uuid_param(request.path_params["deviceId"])
    device = await services(request).customers.assign_device(tenant_id, customer_id, device_id)
    return JSONResponse(render.device(device))


async def unassign_device(request: Request) -> Response:
    """Take a device back from its customer."""
    _, tenant_id = await tenant_admin(request)
    device = await services(request).customers.unassign_device(
        tenant_id, uuid_param(request.path_params["deviceId"]))
    return JSONResponse(render.device(device))


@operation(responses={400: "FAILURE or CLAIMED"})
async def claim_device(request: Request) -> Response:
    """``{"secretKey"}`` from a customer user: 200 ``{"device","response":"SUCCESS"}``, or 400
    with ``"FAILURE"`` (no open window, expired, wrong key) or ``"CLAIMED"``."""
    caller = await principal(request, Authority.CUSTOMER_USER)
    body = await json_object(request)
    secret = body.get("secretKey", "")
    if not isinstance(secret, str):
        raise BadRequest("secretKey must be a string")
    client = request.client.host if request.client else ""
    outcome = await services(request).customers.claim(
        caller, request.path_params["deviceName"], secret, client)
    if outcome.device is None:
        return JSONResponse(outcome.result, status_code=400)
    return JSONResponse({"device": render.device(outcome.device), "response": outcome.result})


async def reclaim_device(request: Request) -> Response:
    """Give a claimed device back: it leaves its customer and may be claimed again."""
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    await services(request).customers.reclaim(caller, request.path_params["deviceName"])
    return empty_ok()


routes = [
    Route("/api/customer", save_customer, methods=["POST"]),
    Route("/api/customers", list_customers, methods=["GET"]),
    Route("/api/customer/device/{deviceName}/claim", claim_device, methods=["POST"]),
    Route("/api/customer/device/{deviceName}/claim", reclaim_device, methods=["DELETE"]),
    Route("/api/customer/device/{deviceId}", unassign_device, methods=["DELETE"]),
    Route("/api/customer/{customerId}", get_customer, methods=["GET"]),
    Route("/api/customer/{customerId}", delete_customer, methods=["DELETE"]),
    Route("/api/customer/{customerId}/devices", customer_devices, methods=["GET"]),
    Route("/api/customer/{customerId}/users", customer_users, methods=["GET"]),
    Route("/api/customer/{customerId}/device/{deviceId}", assign_device, methods=["POST"]),
]
