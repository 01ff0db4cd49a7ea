"""Customers, their devices and users, and claiming devices as a customer user."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api import render
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
from thingport.errors import BadRequest, NotFound


async def save_customer(request: Request) -> Response:
    """Create a customer, or update it when the body has an id."""
    _, tenant_id = await tenant_admin(request)
    body = await json_object(request)
    title, info = body.get("title"), body.get("additionalInfo")
    if not isinstance(title, str):
        raise BadRequest("Customer title should be specified!")
    customer = await services(request).customers.save(
        tenant_id, title, customer_id=entity_uuid(body.get("id"), "id"),
        email=body.get("email"), additional_info=info if isinstance(info, dict) else None,
    )
    return JSONResponse(render.customer(customer))


async def get_customer(request: Request) -> Response:
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    customer_id = uuid_param(request.path_params["customerId"])
    if caller.authority is Authority.CUSTOMER_USER and caller.customer_id != customer_id:
        raise NotFound(f"Customer with id [{customer_id}] is not found")
    assert caller.tenant_id is not None
    customer = await services(request).customers.get(caller.tenant_id, customer_id)
    return JSONResponse(render.customer(customer))


async def delete_customer(request: Request) -> Response:
    """Delete a customer and its users; its devices return to the tenant."""
    _, tenant_id = await tenant_admin(request)
    customer_id = uuid_param(request.path_params["customerId"])
    svc = services(request)
    assigned = await svc.devices.find_all(tenant_id, customer_id=customer_id)
    await svc.customers.delete(tenant_id, customer_id)
    for device in assigned:
        await svc.devices.changed(device.id)
    return empty_ok()


async def list_customers(request: Request) -> Response:
    _, tenant_id = await tenant_admin(request)
    result = await services(request).customers.find(tenant_id, page_link(request))
    return JSONResponse(render.page(result, render.customer))


async def customer_devices(request: Request) -> Response:
    """A page of the customer's devices (for its users, only their own customer's)."""
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    customer_id = uuid_param(request.path_params["customerId"])
    if caller.authority is Authority.CUSTOMER_USER and caller.customer_id != customer_id:
        raise NotFound(f"Customer with id [{customer_id}] is not found")
    assert caller.tenant_id is not None
    svc = services(request)
    await svc.customers.get(caller.tenant_id, customer_id)
    kind = request.query_params.get("type") or None
    result = await svc.devices.find(caller.tenant_id, page_link(request),
                                    customer_id=customer_id, type=kind)
    return JSONResponse(render.page(result, render.device))


async def customer_users(request: Request) -> Response:
    _, tenant_id = await tenant_admin(request)
    customer_id = uuid_param(request.path_params["customerId"])
    svc = services(request)
    await svc.customers.get(tenant_id, customer_id)
    result = await svc.users.find_users(tenant_id, customer_id, page_link(request))
    return JSONResponse(render.page(result, render.user))


async def assign_device(request: Request) -> Response:
    """Assign a device to a customer."""
    _, tenant_id = await tenant_admin(request)
    svc = services(request)
    customer = await svc.customers.get(tenant_id, uuid_param(request.path_params["customerId"]))
    device = await svc.devices.assign_customer(
        tenant_id, uuid_param(request.path_params["deviceId"]), customer.id
    )
    return JSONResponse(render.device(device))


async def unassign_device(request: Request) -> Response:
    """Take a device back from its customer."""
    _, tenant_id = await tenant_admin(request)
    svc = services(request)
    device_id = uuid_param(request.path_params["deviceId"])
    current = await svc.devices.get(tenant_id, device_id)
    if current.customer_id is None:
        raise BadRequest("Device isn't assigned to any customer!")
    device = await svc.devices.assign_customer(tenant_id, device_id, None)
    return JSONResponse(render.device(device))


async def claim_device(request: Request) -> Response:
    """``{"secretKey"}`` from a customer user: 200 ``{"device","response":"SUCCESS"}``, or 400
    with ``"FAILURE"`` (no open window, expired, wrong key) or ``"CLAIMED"``."""
    caller = await principal(request, Authority.CUSTOMER_USER)
    assert caller.tenant_id is not None and caller.customer_id is not None
    body = await json_object(request)
    secret = body.get("secretKey", "")
    if not isinstance(secret, str):
        raise BadRequest("secretKey must be a string")
    svc = services(request)
    device = await svc.devices.get_by_name(caller.tenant_id, request.path_params["deviceName"])
    client = request.client.host if request.client else ""
    result = await svc.claiming.claim(device, caller.customer_id, secret, client)
    if result != "SUCCESS":
        return JSONResponse(result, status_code=400)
    claimed = await svc.devices.get(caller.tenant_id, device.id)
    return JSONResponse({"device": render.device(claimed), "response": result})


async def reclaim_device(request: Request) -> Response:
    """Give a claimed device back: it leaves its customer and may be claimed again."""
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    assert caller.tenant_id is not None
    svc = services(request)
    device = await svc.devices.get_by_name(caller.tenant_id, request.path_params["deviceName"])
    if caller.authority is Authority.CUSTOMER_USER and device.customer_id != caller.customer_id:
        raise NotFound(f"Device with name [{device.name}] is not found")
    await svc.claiming.reclaim(device)
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
