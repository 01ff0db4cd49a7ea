"""The device API's token cache: a lookup racing a change is not cached."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from thingport.bus import MemoryBus
from thingport.domain.model import CredentialsType, Device, DeviceCredentials
from thingport.services.devices import DeviceService


class SlowStore:
    """Answers a token lookup only when told to, with what the token meant when asked."""

    def __init__(self, device: Device, token: str) -> None:
        self.device = device
        self.token = token
        self.release = asyncio.Event()
        self.lookups = 0

    async def get_device_by_credentials_id(self, token: str) -> Any:
        self.lookups += 1
        meant = self.token
        await self.release.wait()
        if token != meant:
            return None
        credentials = DeviceCredentials(uuid.uuid4(), self.device.id, 0,
                                        CredentialsType.ACCESS_TOKEN, token)
        return self.device, credentials


async def test_a_lookup_that_raced_a_token_change_is_not_cached() -> None:
    device = Device(uuid.uuid4(), uuid.uuid4(), "d", "default", uuid.uuid4(), 0)
    store = SlowStore(device, "old-token")
    service = DeviceService(store, MemoryBus())  # type: ignore[arg-type]
    lookup = asyncio.create_task(service.authenticate("old-token"))
    await asyncio.sleep(0)
    store.token = "new-token"  # the token is rotated while the lookup is in flight
    service.forget(device.id)
    store.release.set()
    assert await lookup is device  # this request was made while the old token was valid...
    assert await service.authenticate("old-token") is None  # ...but it is not remembered
    assert store.lookups == 2


async def test_lookups_are_cached_until_forgotten() -> None:
    device = Device(uuid.uuid4(), uuid.uuid4(), "d", "default", uuid.uuid4(), 0)
    store = SlowStore(device, "tok")
    store.release.set()
    service = DeviceService(store, MemoryBus())  # type: ignore[arg-type]
    assert await service.authenticate("tok") is device
    assert await service.authenticate("tok") is device
    assert store.lookups == 1
    service.forget(device.id)
    assert await service.authenticate("tok") is device
    assert store.lookups == 2
