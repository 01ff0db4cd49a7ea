"""Entities in the JSON shapes ThingsBoard's REST API returns, for its clients to parse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import orjson

from thingport.domain.model import (
    NULL_UUID,
    Customer,
    Device,
    DeviceCredentials,
    DeviceInfo,
    DeviceProfile,
    OtaPackage,
    Page,
    Rpc,
    Tenant,
    User,
)

T = TypeVar("T")


def entity_id(entity_type: str, value: UUID | None) -> dict[str, str]:
    """``{"entityType": .., "id": ..}``; no id renders as ThingsBoard's NULL_UUID."""
    return {"entityType": entity_type, "id": str(value or NULL_UUID)}


def page(result: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": [render(item) for item in result.data],
        "totalPages": result.total_pages,
        "totalElements": result.total_elements,
        "hasNext": result.has_next,
    }


def device(d: Device) -> dict[str, Any]:
    return {
        "id": entity_id("DEVICE", d.id),
        "createdTime": d.created_time,
        "tenantId": entity_id("TENANT", d.tenant_id),
        "customerId": entity_id("CUSTOMER", d.customer_id),
        "ownerId": entity_id("CUSTOMER", d.customer_id) if d.customer_id
        else entity_id("TENANT", d.tenant_id),
        "name": d.name,
        "type": d.type,
        "label": d.label,
        "deviceProfileId": entity_id("DEVICE_PROFILE", d.device_profile_id),
        "deviceData": {
            "configuration": {"type": "DEFAULT"},
            "transportConfiguration": {"type": "DEFAULT"},
        },
        "firmwareId": entity_id("OTA_PACKAGE", d.firmware_id) if d.firmware_id else None,
        "softwareId": entity_id("OTA_PACKAGE", d.software_id) if d.software_id else None,
        "externalId": None,
        "version": 1,
        "additionalInfo": d.additional_info,
    }


def device_info(i: DeviceInfo) -> dict[str, Any]:
    """ThingsBoard's DeviceInfo: the device and what its table shows, plus
    ``lastActivityTime`` (ours: ms, or null when unknown)."""
    return {
        **device(i.device),
        "customerTitle": i.customer_title,
        "customerIsPublic": False,
        "deviceProfileName": i.device_profile_name,
        "active": i.active,
        "lastActivityTime": i.last_activity_time,
    }


def credentials(c: DeviceCredentials) -> dict[str, Any]:
    return {
        "id": {"id": str(c.id)},
        "createdTime": c.created_time,
        "deviceId": entity_id("DEVICE", c.device_id),
        "credentialsType": c.credentials_type.value,
        "credentialsId": c.credentials_id,
        "credentialsValue": c.credentials_value,
        "version": 1,
    }


def device_profile(p: DeviceProfile) -> dict[str, Any]:
    profile_data: dict[str, Any] = {
        "configuration": {"type": "DEFAULT"},
        "transportConfiguration": {"type": "DEFAULT"},
        "provisionConfiguration": None,
        "alarms": None,
    }
    profile_data.update(p.profile_data)
    # Its type mirrors provisionType, as in ThingsBoard's JSON; tenant administrators read
    # the secret back here.
    profile_data["provisionConfiguration"] = {
        "type": p.provision_type, "provisionDeviceSecret": p.provision_device_secret,
    }
    return {
        "id": entity_id("DEVICE_PROFILE", p.id),
        "createdTime": p.created_time,
        "tenantId": entity_id("TENANT", p.tenant_id),
        "name": p.name,
        "description": p.description,
        "type": p.type,
        "transportType": p.transport_type,
        "provisionType": p.provision_type,
        "provisionDeviceKey": p.provision_device_key,
        "default": p.default,
        "defaultRuleChainId": None,
        "defaultDashboardId": None,
        "defaultQueueName": None,
        "image": None,
        "firmwareId": entity_id("OTA_PACKAGE", p.firmware_id) if p.firmware_id else None,
        "softwareId": entity_id("OTA_PACKAGE", p.software_id) if p.software_id else None,
        "profileData": profile_data,
        "externalId": None,
        "version": 1,
    }


def device_profile_info(p: DeviceProfile) -> dict[str, Any]:
    return {
        "id": entity_id("DEVICE_PROFILE", p.id),
        "tenantId": entity_id("TENANT", p.tenant_id),
        "name": p.name,
        "image": None,
        "defaultDashboardId": None,
        "type": p.type,
        "transportType": p.transport_type,
    }


def tenant(t: Tenant, default_profile_id: UUID | None = None) -> dict[str, Any]:
    """A tenant; one that names no profile has ``default_profile_id``."""
    profile_id = t.tenant_profile_id or default_profile_id
    return {
        "id": entity_id("TENANT", t.id),
        "createdTime": t.created_time,
        "title": t.title,
        "name": t.title,
        "email": t.email,
        "region": None,
        "tenantProfileId": entity_id("TENANT_PROFILE", profile_id) if profile_id else None,
        "additionalInfo": t.additional_info,
        "version": 1,
    }


def customer(c: Customer) -> dict[str, Any]:
    return {
        "id": entity_id("CUSTOMER", c.id),
        "createdTime": c.created_time,
        "tenantId": entity_id("TENANT", c.tenant_id),
        "title": c.title,
        "name": c.title,
        "email": c.email,
        "additionalInfo": c.additional_info,
        "externalId": None,
        "version": 1,
    }


def user(u: User) -> dict[str, Any]:
    return {
        "id": entity_id("USER", u.id),
        "createdTime": u.created_time,
        "tenantId": entity_id("TENANT", u.tenant_id),
        "customerId": entity_id("CUSTOMER", u.customer_id),
        "email": u.email,
        "name": u.email,
        "authority": u.authority.value,
        "firstName": u.first_name,
        "lastName": u.last_name,
        "phone": None,
        "additionalInfo": u.additional_info,
        "version": 1,
    }


def _json_or_error(text: str | None) -> Any:
    """A stored reply as JSON; a reply that is not JSON as ``{"error": text}``."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"error": text}


def rpc(r: Rpc) -> dict[str, Any]:
    return {
        "id": entity_id("RPC", r.id),
        "createdTime": r.created_time,
        "tenantId": entity_id("TENANT", r.tenant_id),
        "deviceId": entity_id("DEVICE", r.device_id),
        "expirationTime": r.expiration_time,
        "request": {
            "id": str(r.id),
            "requestId": r.request_id,
            "tenantId": entity_id("TENANT", r.tenant_id),
            "deviceId": entity_id("DEVICE", r.device_id),
            "oneway": r.oneway,
            "expirationTime": r.expiration_time,
            "body": {"method": r.method, "params": r.params},
            "persisted": r.persistent,
            "retries": r.retries,
        },
        "response": _json_or_error(r.response),
        "status": r.status.value,
        "additionalInfo": r.additional_info,
    }


def ota_package(p: OtaPackage) -> dict[str, Any]:
    """ThingsBoard's OtaPackageInfo (also what ``GET /api/otaPackage/{id}`` returns: the bytes
    are never inlined in JSON here; ``/download`` streams them)."""
    return {
        "id": entity_id("OTA_PACKAGE", p.id),
        "createdTime": p.created_time,
        "tenantId": entity_id("TENANT", p.tenant_id),
        "deviceProfileId": entity_id("DEVICE_PROFILE", p.device_profile_id),
        "type": p.type.value,
        "title": p.title,
        "version": p.version,
        "tag": p.tag,
        "url": p.url,
        "hasData": p.has_data,
        "fileName": p.file_name,
        "contentType": p.content_type,
        "checksumAlgorithm": p.checksum_algorithm.value if p.checksum_algorithm else None,
        "checksum": p.checksum,
        "dataSize": p.data_size,
        "additionalInfo": p.additional_info,
        "name": p.title,
    }
