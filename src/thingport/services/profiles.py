"""Device profiles as a tenant administrator manages them, with their provisioning settings.

A tenant always has exactly one default profile (created on first use): it cannot be deleted,
and another profile becomes the default only through ``set_default``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import DeviceProfile, Page, PageLink, ProvisionType
from thingport.errors import BadRequest, Conflict
from thingport.services.devices import DeviceService
from thingport.store.base import EntityStore

PROVISION_TYPES = frozenset(ProvisionType)
PROFILE_TYPES = frozenset({"DEFAULT"})
TRANSPORT_TYPES = frozenset({"DEFAULT", "MQTT", "COAP", "LWM2M", "SNMP"})
#: Devices renamed per store page when a profile's name (their ``type``) changes.
RENAME_PAGE = 500


@dataclass(frozen=True, slots=True)
class ProfileDraft:
    """A profile as a tenant administrator sends it; without ``id`` it is a new one."""

    name: str
    id: UUID | None = None
    description: str | None = None
    type: str = "DEFAULT"
    transport_type: str = "DEFAULT"
    #: Checked against ``ProvisionType`` when saved.
    provision_type: str = ProvisionType.DISABLED
    provision_device_key: str | None = None
    provision_device_secret: str | None = field(default=None, repr=False)
    #: ThingsBoard's ``profileData`` (configuration, alarms...), kept as given.
    profile_data: dict[str, Any] = field(default_factory=dict)
    default: bool = False
    #: The profile's firmware and software packages; None assigns none (the body is whole).
    firmware_id: UUID | None = None
    software_id: UUID | None = None


#: Checks a profile before it is saved (raising BadRequest), or hears of it after.
ProfileCheck = Callable[[DeviceProfile], Awaitable[None]]
ProfileSaved = Callable[[DeviceProfile, "DeviceProfile | None"], Awaitable[None]]


class DeviceProfileService:
    """Create, change, list and delete a tenant's device profiles."""

    def __init__(self, store: EntityStore, devices: DeviceService) -> None:
        self._store = store
        self._devices = devices
        self._checks: list[ProfileCheck] = []
        self._saved_listeners: list[ProfileSaved] = []

    def on_save(self, check: ProfileCheck, saved: ProfileSaved) -> None:
        """Call ``check(profile)`` before each save (it may refuse) and
        ``saved(profile, previous)`` after it."""
        self._checks.append(check)
        self._saved_listeners.append(saved)

    async def save(self, tenant_id: UUID, draft: ProfileDraft) -> DeviceProfile:
        """Create or update a profile. A provision key is unique across tenants (Conflict);
        a provisioning profile needs both its key and its secret."""
        default = await self._devices.default_profile(tenant_id)
        if not draft.name or not draft.name.strip():
            raise BadRequest("Device profile name should be specified!")
        _check_choice(draft.type, PROFILE_TYPES, "Device profile type")
        _check_choice(draft.transport_type, TRANSPORT_TYPES, "Device profile transport type")
        _check_choice(draft.provision_type, PROVISION_TYPES, "Device profile provision type")
        key = draft.provision_device_key or None
        secret = draft.provision_device_secret or None
        if draft.provision_type != ProvisionType.DISABLED:
            if key is None:
                raise BadRequest("Provision device key should be specified!")
            if secret is None:
                raise BadRequest("Provision device secret should be specified!")
        current = await self.get(tenant_id, draft.id) if draft.id is not None else None
        if draft.default and (current is None or current.id != default.id):
            raise BadRequest(
                "Another default device profile is present in scope of current tenant!"
            )
        if (current is not None and current.transport_type != draft.transport_type
                and await self._store.count_devices_with_profile(current.id)):
            raise BadRequest(
                "Can't change device profile transport type because devices referenced it!"
            )
        profile = DeviceProfile(
            id=current.id if current else uuid.uuid4(),
            tenant_id=tenant_id,
            name=draft.name,
            created_time=current.created_time if current else now_ms(),
            # Only set_default moves the default: a tenant must never be left without one.
            default=current.default if current else False,
            description=draft.description,
            type=draft.type,
            transport_type=draft.transport_type,
            provision_type=ProvisionType(draft.provision_type),
            provision_device_key=key,
            profile_data={
                **draft.profile_data,
                "provisionConfiguration": {
                    "type": draft.provision_type, "provisionDeviceSecret": secret,
                },
            },
            firmware_id=draft.firmware_id,
            software_id=draft.software_id,
        )
        for check in self._checks:
            await check(profile)
        await self._store.save_device_profile(profile)
        if current is not None and current.name != profile.name:
            await self._rename_devices(tenant_id, current.name, profile.name)
        for listener in self._saved_listeners:
            await listener(profile, current)
        return profile

    async def get(self, tenant_id: UUID, profile_id: UUID) -> DeviceProfile:
        """The tenant's profile, or NotFound."""
        return await self._devices.get_profile(tenant_id, profile_id)

    async def default(self, tenant_id: UUID) -> DeviceProfile:
        """The tenant's default profile."""
        return await self._devices.default_profile(tenant_id)

    async def find(self, tenant_id: UUID, page_link: PageLink) -> Page[DeviceProfile]:
        """A page of the tenant's profiles, searched and sorted by name."""
        await self._devices.default_profile(tenant_id)
        return await self._store.find_device_profiles(tenant_id, page_link)

    async def set_default(self, tenant_id: UUID, profile_id: UUID) -> DeviceProfile:
        """Make a profile the tenant's default (the previous one stops being it)."""
        await self._devices.default_profile(tenant_id)
        profile = await self.get(tenant_id, profile_id)
        if not profile.default:
            profile = replace(profile, default=True)
            await self._store.save_device_profile(profile)
        return profile

    async def delete(self, tenant_id: UUID, profile_id: UUID) -> None:
        """Delete a profile that is neither the default nor used by a device."""
        profile = await self.get(tenant_id, profile_id)
        if profile.default:
            raise BadRequest("Deletion of Default Device Profile is prohibited!")
        in_use = "The device profile referenced by the devices cannot be deleted!"
        if await self._store.count_devices_with_profile(profile_id):
            raise BadRequest(in_use)
        try:
            await self._store.delete_device_profile(profile_id)
        except Conflict:
            # A device took the profile between the count and the delete.
            raise BadRequest(in_use) from None

    async def _rename_devices(self, tenant_id: UUID, old: str, new: str) -> None:
        """A device's ``type`` is its profile's name: follow a rename, as ThingsBoard does."""
        while True:
            page = await self._store.find_devices(tenant_id, PageLink(RENAME_PAGE), None, old)
            if not page.data:
                return
            for device in page.data:
                await self._store.update_device(replace(device, type=new))
                await self._devices.changed(device.id)


def _check_choice(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise BadRequest(f"{what} should be one of {', '.join(sorted(allowed))}, not {value!r}")
