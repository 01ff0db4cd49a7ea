"""Devices and their credentials: ``/api/device...``, ``/api/tenant/devices``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

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
    services,
    tenant_admin,
    uuid_param,
    visible_device,
)
from thingport.domain.model import Device, DeviceCredentials, DeviceCredentialsType
from thingport.errors import BadRequest
from thingport.http.operations import PAGE, Param, operation
from thingport.services import Services


async def _save(
    svc: Services, tenant_id: UUID, body: dict[str, Any], access_token: str | None = None,
    credentials: dict[str, Any] | None = None,
) -> Device:
    """Create (no id) or update (with id) a device from ThingsBoard's Device JSON."""
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("Device name should be specified!")
    info = body.get("additionalInfo")
    if info is not None and not isinstance(info, dict):
        raise BadRequest("additionalInfo must be a JSON object")
    label = body.get("label")
    fields: dict[str, Any] = {
        "type": body.get("type") if isinstance(body.get("type"), str) else None,
        "profile_id": entity_uuid(body.get("deviceProfileId"), "deviceProfileId"),
        "label": label if isinstance(label, str) else None,
        "additional_info": info,
        # The whole device is replaced, as in ThingsBoard: no firmwareId means none of its
        # own (the profile's applies).
        "firmware_id": entity_uuid(body.get("firmwareId"), "firmwareId"),
        "software_id": entity_uuid(body.get("softwareId"), "softwareId"),
    }
    device_id = entity_uuid(body.get("id"), "id")
    if device_id is not None:
        return await svc.devices.update(tenant_id, device_id, name=name, **fields)
    given = _credentials_from(credentials) if credentials is not None else None
    device, _ = await svc.devices.create(
        tenant_id, name, access_token=access_token, credentials=given, **fields
    )
    return device


def _credentials_from(body: dict[str, Any]) -> DeviceCredentials:
    try:
        kind = DeviceCredentialsType(body.get("credentialsType", "ACCESS_TOKEN"))
    except ValueError:
        raise BadRequest(f"Invalid credentials type: {body.get('credentialsType')}") from None
    credentials_id = body.get("credentialsId")
    if kind is DeviceCredentialsType.ACCESS_TOKEN and (
        not isinstance(credentials_id, str) or not credentials_id.strip()
    ):
        raise BadRequest("Device credentials id should be specified")
    value = body.get("credentialsValue")
    return DeviceCredentials(
        id=UUID(int=0), device_id=UUID(int=0), created_time=0, credentials_type=kind,
        credentials_id=str(credentials_id or ""),
        credentials_value=value if isinstance(value, str) or value is None else str(value),
    )


@operation(query=(Param("accessToken", description="The new device's token "
                                     "(default: a generated one)"),))
async def save_device(request: Request) -> Response:
    """``POST /api/device[?accessToken=]``: create or update."""
    _, tenant_id = await tenant_admin(request)
    body = await json_object(request)
    token = request.query_params.get("accessToken")
    device = await _save(services(request), tenant_id, body, access_token=token)
    return JSONResponse(render.device(device))


async def save_device_with_credentials(request: Request) -> Response:
    """``POST /api/device-with-credentials``: ``{"device":{..},"credentials":{..}}``."""
    _, tenant_id = await tenant_admin(request)
    body = await json_object(request)
    device_body, credentials = body.get("device"), body.get("credentials")
    if not isinstance(device_body, dict) or not isinstance(credentials, dict):
        raise BadRequest("Body must have 'device' and 'credentials' objects")
    svc = services(request)
    if device_body.get("id"):
        device = await _save(svc, tenant_id, device_body)
        given = _credentials_from(credentials)
        await svc.devices.update_credentials(
            tenant_id, device.id, given.credentials_type, given.credentials_id,
            given.credentials_value,
        )
    else:
        device = await _save(svc, tenant_id, device_body, credentials=credentials)
    return JSONResponse(render.device(device))


async def get_device(request: Request) -> Response:
    _, device = await visible_device(request, uuid_param(request.path_params["deviceId"]))
    return JSONResponse(render.device(device))


async def delete_device(request: Request) -> Response:
    _, tenant_id = await tenant_admin(request)
    device_id = uuid_param(request.path_params["deviceId"])
    await services(request).devices.delete(tenant_id, device_id)
    return empty_ok()


@operation(query=(*PAGE, Param("type"),
                  Param("deviceName", description="One device by name, "
                                                  "instead of a page")))
async def tenant_devices(request: Request) -> Response:
    """``GET /api/tenant/devices``: a page, or one device with ``?deviceName=``."""
    _, tenant_id = await tenant_admin(request)
    devices = services(request).devices
    name = request.query_params.get("deviceName")
    if name is not None:
        return JSONResponse(render.device(await devices.get_by_name(tenant_id, name)))
    kind = request.query_params.get("type") or None
    result = await devices.find(tenant_id, page_link(request), type=kind)
    return JSONResponse(render.page(result, render.device))


@operation(query=(Param("deviceName", True),))
async def tenant_device_by_name(request: Request) -> Response:
    """``GET /api/tenant/device?deviceName=``."""
    _, tenant_id = await tenant_admin(request)
    name = request.query_params.get("deviceName")
    if name is None:
        raise BadRequest("Required request parameter 'deviceName' is not present")
    return JSONResponse(render.device(await services(request).devices.get_by_name(tenant_id, name)))


async def get_credentials(request: Request) -> Response:
    _, tenant_id = await tenant_admin(request)
    device_id = uuid_param(request.path_params["deviceId"])
    credentials = await services(request).devices.get_credentials(tenant_id, device_id)
    return JSONResponse(render.credentials(credentials))


async def update_credentials(request: Request) -> Response:
    """``POST /api/device/credentials``: the credentials object with a new credentialsId."""
    _, tenant_id = await tenant_admin(request)
    body = await json_object(request)
    device_id = entity_uuid(body.get("deviceId"), "deviceId")
    if device_id is None:
        raise BadRequest("Device id should be specified")
    given = _credentials_from(body)
    updated = await services(request).devices.update_credentials(
        tenant_id, device_id, given.credentials_type, given.credentials_id,
        given.credentials_value,
    )
    return JSONResponse(render.credentials(updated))


routes = [
    Route("/api/device", save_device, methods=["POST"]),
    Route("/api/device-with-credentials", save_device_with_credentials, methods=["POST"]),
    Route("/api/device/credentials", update_credentials, methods=["POST"]),
    Route("/api/device/{deviceId}", get_device, methods=["GET"]),
    Route("/api/device/{deviceId}", delete_device, methods=["DELETE"]),
    Route("/api/device/{deviceId}/credentials", get_credentials, methods=["GET"]),
    Route("/api/tenant/devices", tenant_devices, methods=["GET"]),
    Route("/api/tenant/device", tenant_device_by_name, methods=["GET"]),
]
