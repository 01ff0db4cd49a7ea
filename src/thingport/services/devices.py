"""Devices, their profiles and credentials, and the token lookup on the device API's hot path."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from types import EllipsisType
from typing import Any
from uuid import UUID

from thingport.bus import BUS_STATE, Bus
from thingport.clock import now_ms
from thingport.domain.model import (
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceInfo,
    DeviceProfile,
    OtaPackageType,
    Page,
    PageLink,
)
from thingport.errors import BadRequest, Conflict, NotFound
from thingport.lru import LruCache
from thingport.services.channels import DEVICE_CHANGED, device_channel
from thingport.services.ota import check_assignment
from thingport.services.tokens import random_alphanumeric
from thingport.store.base import Store

DEFAULT_PROFILE_NAME = "default"
#: Token lookups kept in memory; beyond this the least recently used are forgotten first.
TOKEN_CACHE_SIZE = 200_000

#: Told about every device created (previous None) or changed, after the store has it.
DeviceSaved = Callable[[Device, "Device | None"], Awaitable[None]]


class DeviceService:
    """Create, find, change and delete devices, scoped to a tenant."""

    def __init__(self, store: Store, bus: Bus) -> None:
        self._store = store
        self._bus = bus
        self._by_token: LruCache[str, Device] = LruCache(TOKEN_CACHE_SIZE, self._evicted)
        #: The token each cached device is cached under (never larger than ``_by_token``).
        self._token_of: dict[UUID, str] = {}
        #: Bumped by every forget(): a lookup that raced a change must not be cached.
        self._generation = 0
        self._saved_listeners: list[DeviceSaved] = []
        #: Token lookups answered from the cache, and those that went to the store (metrics).
        self.cache_hits = 0
        self.cache_misses = 0

    def on_saved(self, listener: DeviceSaved) -> None:
        """Call ``listener(device, previous)`` after each create (previous None) or update,
        whoever makes it (the REST API, provisioning, the CLI)."""
        self._saved_listeners.append(listener)

    async def _saved(self, device: Device, previous: Device | None) -> None:
        for listener in self._saved_listeners:
            await listener(device, previous)

    # -- the device API's view -------------------------------------------------------------------
    async def authenticate(self, token: str) -> Device | None:
        """The device whose ACCESS_TOKEN is exactly ``token``, or None."""
        return self.cached(token) or await self.lookup(token)

    def cached(self, token: str) -> Device | None:
        """The device of ``token`` if this node's cache has it (the hot path: one dict
        lookup and a ``move_to_end``), else None: then ``lookup`` asks the store."""
        # While the bus is down, another node's token change would not reach this cache: ask
        # the store every time until it is back (BUS_STATE then clears the cache).
        device = self._by_token.get(token) if self._bus.connected else None
        if device is not None:
            self.cache_hits += 1
        return device

    async def lookup(self, token: str) -> Device | None:
        """The device of ``token`` from the store (cached for the next time), or None."""
        cache = self._bus.connected
        self.cache_misses += 1
        generation = self._generation
        found = await self._store.get_device_by_credentials_id(token)
        if found is None or found[1].credentials_type is not DeviceCredentialsType.ACCESS_TOKEN:
            return None
        if generation != self._generation or not cache:
            # A device changed while we read: the answer may predate the change, so use it
            # for this request only.
            return found[0]
        self._by_token[token] = found[0]
        self._token_of[found[0].id] = token
        return found[0]

    def _evicted(self, token: str, device: Device) -> None:
        # Only if the device is still cached under this token (not re-cached under a new one).
        if self._token_of.get(device.id) == token:
            del self._token_of[device.id]

    def forget(self, device_id: UUID) -> None:
        """Drop this node's cached lookups of a device."""
        self._generation += 1
        token = self._token_of.pop(device_id, None)
        if token is not None:
            self._by_token.pop(token)

    async def changed(self, device_id: UUID, deleted: bool = False) -> None:
        """Tell every node that a device's name, owner, token or existence changed, and wake
        its waiting polls when it was deleted."""
        self.forget(device_id)
        await self._bus.publish(DEVICE_CHANGED, device_id.bytes)
        if deleted:
            await self._bus.publish(device_channel(device_id), b"deleted")

    def forget_all(self) -> None:
        """Drop every cached lookup of this node."""
        self._generation += 1
        self._by_token.clear()
        self._token_of.clear()

    async def forget_changed_devices(self) -> None:
        """Run for the server's lifetime: keep this node's cache in step with the others."""
        async with self._bus.subscribe(DEVICE_CHANGED) as changes:
            while True:
                message = await changes.get()
                if message is None:
                    continue
                if message[0] == BUS_STATE:
                    # Changes announced while the bus was down were lost: trust nothing cached.
                    self.forget_all()
                else:
                    self.forget(UUID(bytes=message[1]))

    # -- profiles --------------------------------------------------------------------------------
    async def default_profile(self, tenant_id: UUID) -> DeviceProfile:
        """The tenant's default device profile, created on first use."""
        profile = await self._store.get_default_device_profile(tenant_id)
        if profile is not None:
            return profile
        try:
            profile = DeviceProfile(
                id=uuid.uuid4(), tenant_id=tenant_id, name=DEFAULT_PROFILE_NAME,
                created_time=now_ms(), default=True, description="Default device profile",
            )
            await self._store.save_device_profile(profile)
            return profile
        except Conflict:
            # A concurrent request created it first.
            existing = await self._store.get_default_device_profile(tenant_id)
            if existing is None:
                raise
            return existing

    async def profile_named(self, tenant_id: UUID, name: str) -> DeviceProfile:
        """The tenant's profile with this name, created (not default) when missing, as
        ThingsBoard does for a device saved with a new ``type``."""
        default = await self.default_profile(tenant_id)
        if name == default.name:
            return default
        profile = await self._store.get_device_profile_by_name(tenant_id, name)
        if profile is not None:
            return profile
        try:
            profile = DeviceProfile(
                id=uuid.uuid4(), tenant_id=tenant_id, name=name, created_time=now_ms(),
            )
            await self._store.save_device_profile(profile)
            return profile
        except Conflict:
            existing = await self._store.get_device_profile_by_name(tenant_id, name)
            if existing is None:
                raise
            return existing

    async def get_profile(self, tenant_id: UUID, profile_id: UUID) -> DeviceProfile:
        """The tenant's profile, or NotFound."""
        profile = await self._store.get_device_profile(profile_id)
        if profile is None or profile.tenant_id != tenant_id:
            raise NotFound(f"Device profile with id [{profile_id}] is not found")
        return profile

    # -- devices ---------------------------------------------------------------------------------
    async def create(
        self,
        tenant_id: UUID,
        name: str,
        *,
        type: str | None = None,
        profile_id: UUID | None = None,
        label: str | None = None,
        customer_id: UUID | None = None,
        additional_info: dict[str, Any] | None = None,
        access_token: str | None = None,
        credentials: DeviceCredentials | None = None,
        firmware_id: UUID | None = None,
        software_id: UUID | None = None,
    ) -> tuple[Device, DeviceCredentials]:
        """Create a device with ACCESS_TOKEN credentials (random unless given), and with its
        own firmware and software packages when given (packages of its profile)."""
        name = _check_name(name)
        profile = await self._resolve_profile(tenant_id, profile_id, type)
        await self._check_packages(tenant_id, profile.id, firmware_id, software_id)
        device = Device(
            id=uuid.uuid4(), tenant_id=tenant_id, name=name, type=profile.name,
            device_profile_id=profile.id, created_time=now_ms(), customer_id=customer_id,
            label=label, additional_info=additional_info, firmware_id=firmware_id,
            software_id=software_id,
        )
        if credentials is None:
            token = access_token if access_token is not None else random_alphanumeric(20)
            if not token.strip():
                raise BadRequest("Access token should not be empty")
            credentials = DeviceCredentials(
                id=uuid.uuid4(), device_id=device.id, created_time=device.created_time,
                credentials_type=DeviceCredentialsType.ACCESS_TOKEN, credentials_id=token,
            )
        else:
            credentials = replace(credentials, device_id=device.id, created_time=now_ms())
        await self._store.create_device(device, credentials)
        await self._saved(device, None)
        return device, credentials

    async def update(
        self,
        tenant_id: UUID,
        device_id: UUID,
        *,
        name: str,
        type: str | None = None,
        profile_id: UUID | None = None,
        label: str | None = None,
        additional_info: dict[str, Any] | None = None,
        firmware_id: UUID | EllipsisType | None = ...,
        software_id: UUID | EllipsisType | None = ...,
    ) -> Device:
        """Change a device's name, profile, label, additional info and (unless left as
        ``...``) its own firmware and software packages (None: follow the profile's)."""
        current = await self.get(tenant_id, device_id)
        profile = await self._resolve_profile(tenant_id, profile_id, type, current)
        firmware = current.firmware_id if isinstance(firmware_id, EllipsisType) else firmware_id
        software = current.software_id if isinstance(software_id, EllipsisType) else software_id
        await self._check_packages(tenant_id, profile.id, firmware, software)
        device = replace(
            current, name=_check_name(name), type=profile.name, device_profile_id=profile.id,
            label=label, additional_info=additional_info, firmware_id=firmware,
            software_id=software,
        )
        await self._store.update_device(device)
        await self.changed(device_id)
        await self._saved(device, current)
        return device

    async def _check_packages(
        self, tenant_id: UUID, profile_id: UUID, firmware_id: UUID | None,
        software_id: UUID | None,
    ) -> None:
        await check_assignment(self._store, tenant_id, profile_id, OtaPackageType.FIRMWARE,
                               firmware_id)
        await check_assignment(self._store, tenant_id, profile_id, OtaPackageType.SOFTWARE,
                               software_id)

    async def assign_customer(
        self, tenant_id: UUID, device_id: UUID, customer_id: UUID | None
    ) -> Device:
        """Assign the device to a customer, or unassign it with None."""
        device = replace(await self.get(tenant_id, device_id), customer_id=customer_id)
        await self._store.update_device(device)
        await self.changed(device_id)
        return device

    async def get(self, tenant_id: UUID, device_id: UUID) -> Device:
        """The tenant's device, or NotFound (also for another tenant's device)."""
        device = await self._store.get_device(device_id)
        if device is None or device.tenant_id != tenant_id:
            raise NotFound(f"Device with id [{device_id}] is not found")
        return device

    async def get_by_name(self, tenant_id: UUID, name: str) -> Device:
        """The tenant's device with this name, or NotFound."""
        device = await self._store.get_device_by_name(tenant_id, name)
        if device is None:
            raise NotFound(f"Device with name [{name}] is not found")
        return device

    async def find(
        self, tenant_id: UUID, page_link: PageLink, *, customer_id: UUID | None = None,
        type: str | None = None,
    ) -> Page[Device]:
        """A page of the tenant's (or one customer's) devices."""
        return await self._store.find_devices(tenant_id, page_link, customer_id, type)

    async def find_infos(
        self, tenant_id: UUID, page_link: PageLink, *, customer_id: UUID | None = None,
        device_profile_id: UUID | None = None, active: bool | None = None,
    ) -> Page[DeviceInfo]:
        """A page of the tenant's (or one customer's) devices with their profile name,
        customer title and state, optionally of one profile or state only."""
        return await self._store.find_device_infos(
            tenant_id, page_link, customer_id, device_profile_id, active
        )

    async def find_all(
        self, tenant_id: UUID, *, customer_id: UUID | None = None
    ) -> list[Device]:
        """Every device of the tenant (or of one customer), page by page."""
        found: list[Device] = []
        page = 0
        while True:
            result = await self.find(tenant_id, PageLink(1000, page), customer_id=customer_id)
            found.extend(result.data)
            if not result.has_next:
                return found
            page += 1

    async def delete(self, tenant_id: UUID, device_id: UUID) -> Device:
        """Delete a device and everything stored for it."""
        device = await self.get(tenant_id, device_id)
        await self._store.delete_device(device_id)
        await self.changed(device_id, deleted=True)
        return device

    async def get_credentials(self, tenant_id: UUID, device_id: UUID) -> DeviceCredentials:
        """The device's credentials."""
        await self.get(tenant_id, device_id)
        credentials = await self._store.get_device_credentials(device_id)
        if credentials is None:
            raise NotFound(f"Device credentials for device [{device_id}] are not found")
        return credentials

    async def update_credentials(
        self, tenant_id: UUID, device_id: UUID, credentials_type: DeviceCredentialsType,
        credentials_id: str, credentials_value: str | None = None,
    ) -> DeviceCredentials:
        """Replace the device's credentials (a new access token, say)."""
        current = await self.get_credentials(tenant_id, device_id)
        if credentials_type is DeviceCredentialsType.ACCESS_TOKEN and not credentials_id.strip():
            raise BadRequest("Device credentials id should be specified")
        updated = replace(
            current, credentials_type=credentials_type, credentials_id=credentials_id,
            credentials_value=credentials_value,
        )
        await self._store.update_device_credentials(updated)
        await self.changed(device_id)
        return updated

    async def _resolve_profile(
        self, tenant_id: UUID, profile_id: UUID | None, type: str | None,
        current: Device | None = None,
    ) -> DeviceProfile:
        if profile_id is not None:
            return await self.get_profile(tenant_id, profile_id)
        if type:
            return await self.profile_named(tenant_id, type)
        if current is not None:
            return await self.get_profile(tenant_id, current.device_profile_id)
        return await self.default_profile(tenant_id)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Device name should be specified!")
    if len(name) > 255:
        raise BadRequest("Device name should be 255 characters or fewer")
    return name
