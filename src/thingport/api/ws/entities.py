"""Which devices a WebSocket caller may see, and ENTITY_DATA's filters, fields and paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from thingport.api.ws.commands import PageLinkSpec
from thingport.api.ws.frames import CommandFailed, ErrorCode
from thingport.domain.model import Authority, Device, Page
from thingport.errors import NotFound
from thingport.services import Services
from thingport.services.auth import Principal

#: ThingsBoard's max_entities_per_data_subscription, echoed as allowedEntities.
MAX_ENTITIES = 10000
NO_PERMISSION = "You don't have permission to perform this operation!"
#: Device fields an ENTITY_FIELD key may name, and how each is rendered (as a string).
ENTITY_FIELDS: dict[str, Callable[[Device], str]] = {
    "name": lambda d: d.name,
    "type": lambda d: d.type,
    "label": lambda d: d.label or "",
    "createdTime": lambda d: str(d.created_time),
    "id": lambda d: str(d.id),
    "entityType": lambda d: "DEVICE",
}
#: Sort keys an ENTITY_FIELD sort may use, as device attributes.
SORTABLE = {"name": "name", "type": "type", "label": "label", "createdTime": "created_time"}


def _sees_devices(caller: Principal) -> UUID:
    if caller.authority is Authority.SYS_ADMIN or caller.tenant_id is None:
        raise CommandFailed(ErrorCode.UNAUTHORIZED, NO_PERMISSION)
    return caller.tenant_id


def _may_see(caller: Principal, device: Device) -> bool:
    return caller.authority is not Authority.CUSTOMER_USER or device.customer_id == \
        caller.customer_id


def _device_uuid(raw: Any) -> UUID:
    if not raw:
        raise CommandFailed(ErrorCode.BAD_REQUEST, "Device id is empty!")
    try:
        return UUID(str(raw))
    except ValueError:
        raise CommandFailed(ErrorCode.BAD_REQUEST, f"Invalid entity id: {raw}") from None


def _check_type(entity_type: str | None) -> None:
    if (entity_type or "DEVICE") != "DEVICE":
        raise CommandFailed(ErrorCode.BAD_REQUEST,
                            f"Entity type {entity_type} is not supported; only DEVICE is")


async def visible_device(
    services: Services, caller: Principal, entity_type: str | None, entity_id: Any
) -> Device:
    """The device named by a command, if the caller may read it; another tenant's or
    customer's device is UNAUTHORIZED, as if it did not exist."""
    _check_type(entity_type)
    device_id = _device_uuid(entity_id)
    tenant_id = _sees_devices(caller)
    try:
        device = await services.devices.get(tenant_id, device_id)
    except NotFound:
        raise CommandFailed(ErrorCode.UNAUTHORIZED, NO_PERMISSION) from None
    if not _may_see(caller, device):
        raise CommandFailed(ErrorCode.UNAUTHORIZED, NO_PERMISSION)
    return device


async def find_devices(
    services: Services, caller: Principal, entity_filter: dict[str, Any]
) -> list[Device]:
    """The devices an ENTITY_DATA / ENTITY_COUNT filter selects among those the caller sees:
    ``singleEntity``, ``entityList``, ``entityType``, ``entityName`` and ``deviceType``."""
    kind = entity_filter.get("type")
    if kind == "singleEntity":
        single = entity_filter.get("singleEntity") or {}
        if not isinstance(single, dict):
            raise CommandFailed(ErrorCode.BAD_REQUEST, "singleEntity must be an entity id")
        return [await visible_device(services, caller, single.get("entityType"),
                                     single.get("id"))]
    tenant_id = _sees_devices(caller)
    if kind == "entityList":
        _check_type(entity_filter.get("entityType"))
        wanted = [_device_uuid(raw) for raw in entity_filter.get("entityList") or []]
        found = []
        for device_id in dict.fromkeys(wanted):
            try:
                device = await services.devices.get(tenant_id, device_id)
            except NotFound:
                continue  # as ThingsBoard's query: entities the caller cannot see are left out
            if _may_see(caller, device):
                found.append(device)
        return found
    customer = caller.customer_id if caller.authority is Authority.CUSTOMER_USER else None
    if kind in ("entityType", "entityName"):
        _check_type(entity_filter.get("entityType"))
        devices = await services.devices.find_all(tenant_id, customer_id=customer)
        prefix = entity_filter.get("entityNameFilter") if kind == "entityName" else None
    elif kind == "deviceType":
        types = entity_filter.get("deviceTypes") or [entity_filter.get("deviceType")]
        devices = [d for d in await services.devices.find_all(tenant_id, customer_id=customer)
                   if d.type in types]
        prefix = entity_filter.get("deviceNameFilter")
    else:
        raise CommandFailed(ErrorCode.BAD_REQUEST, f"Entity filter type {kind} is not supported")
    if prefix:
        lowered = str(prefix).lower()
        devices = [d for d in devices if d.name.lower().startswith(lowered)]
    return devices


def page_of(devices: list[Device], link: PageLinkSpec) -> Page[Device]:
    """One page of ``devices``, searched and sorted as ``pageLink`` asks."""
    if link.page_size < 1 or link.page < 0:
        raise CommandFailed(ErrorCode.BAD_REQUEST, "Invalid page link")
    size = min(link.page_size, MAX_ENTITIES)
    if link.text_search:
        needle = link.text_search.lower()
        devices = [d for d in devices if needle in d.name.lower()]
    sort = link.sort_order
    field = "created_time"
    descending = True
    if sort is not None and sort.key is not None and sort.key.key in SORTABLE:
        field = SORTABLE[sort.key.key]
        descending = sort.direction.upper() == "DESC"
    devices = sorted(devices, key=lambda d: getattr(d, field) or "", reverse=descending)
    total = len(devices)
    start = link.page * size
    return Page(
        data=devices[start:start + size], total_pages=(total + size - 1) // size,
        total_elements=total, has_next=start + size < total,
    )
