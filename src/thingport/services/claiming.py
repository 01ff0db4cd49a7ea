"""Claiming: a device opens a window with a secret; a customer user claims it with the secret.

Failed claims (FAILURE: wrong secret, no window open) are counted per client address; too many
block the address for a while (``TooManyRequests``), so that secrets cannot be guessed at speed.
"""

from __future__ import annotations

from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import (
    LONG_MAX,
    AttributeScope,
    ClaimResult,
    ClaimWindow,
    DataType,
    Device,
    KvEntry,
)
from thingport.errors import TooManyRequests
from thingport.services.devices import DeviceService
from thingport.services.failure_limit import FailureLimit, MemoryFailureLimit
from thingport.services.keyed_locks import KeyedLocks
from thingport.store.base import Store

CLAIMING_ALLOWED = "claimingAllowed"


class ClaimingService:
    """Claim windows opened by devices, and claims made by customers."""

    def __init__(self, store: Store, devices: DeviceService, duration_ms: int = 86400000,
                 allowed_by_default: bool = True, limiter: FailureLimit | None = None) -> None:
        self._store = store
        self._devices = devices
        self.duration_ms = duration_ms
        self.allowed_by_default = allowed_by_default
        # Not `limiter or ...`: a memory limit with nothing counted yet has a length of 0.
        self.limiter = limiter if limiter is not None else MemoryFailureLimit(10, 60)
        self._per_client = KeyedLocks()

    async def offer(self, device: Device, secret_key: str, duration_ms: int) -> bool:
        """Open the device's claim window, if it may be claimed and none is open; the device is
        answered 200 either way, as ThingsBoard does. Returns whether a window was opened."""
        current = await self._store.get_device(device.id)
        if current is None or current.customer_id is not None:
            return False
        if not self.allowed_by_default and not await self._claiming_allowed(device.id):
            return False
        now = now_ms()
        duration = duration_ms if duration_ms > 0 else self.duration_ms
        return await self._store.open_claim_window(
            ClaimWindow(device.id, secret_key, min(now + duration, LONG_MAX)), now
        )

    async def claim(self, device: Device, customer_id: UUID, secret_key: str,
                    client: str = "") -> ClaimResult:
        """The claim's result; TooManyRequests while the address ``client`` is blocked after
        too many FAILUREs."""
        # One claim per address at a time, so that parallel guesses are all counted.
        async with self._per_client.hold(client):
            wait = await self.limiter.retry_after(client)
            if wait:
                raise TooManyRequests(f"Too many failed claims; retry in {wait} s",
                                      retry_after=wait, limit="claim")
            result = await self._store.claim_device(device.id, customer_id, secret_key,
                                                    now_ms())
            if result is ClaimResult.FAILURE:
                await self.limiter.record_failure(client)
        if result is ClaimResult.SUCCESS:
            await self._devices.changed(device.id)
        return result

    async def close(self) -> None:
        """Release the failure limit's connections."""
        await self.limiter.close()

    async def reclaim(self, device: Device) -> Device:
        """Give the device back: no customer, and claimable again."""
        released = await self._devices.assign_customer(device.tenant_id, device.id, None)
        if not self.allowed_by_default:
            await self._store.save_attributes(
                device.id, AttributeScope.SERVER_SCOPE,
                [KvEntry(CLAIMING_ALLOWED, DataType.BOOLEAN, True)], now_ms(),
            )
        await self._store.close_claim_window(device.id)
        return released

    async def _claiming_allowed(self, device_id: UUID) -> bool:
        found = await self._store.get_attributes(
            device_id, AttributeScope.SERVER_SCOPE, [CLAIMING_ALLOWED]
        )
        return bool(found) and found[0].value is True
