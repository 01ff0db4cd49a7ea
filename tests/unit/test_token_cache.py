"""The device API's token cache: a lookup racing a change is not cached."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from thingport.bus import MemoryBus
from thingport.domain.model import Device, DeviceCredentials, DeviceCredentialsType
from thingport.services import devices as devices_module
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
                                        DeviceCredentialsType.ACCESS_TOKEN, token)
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


class Devices:
    """A store of one device per token, counting lookups."""

    def __init__(self, tokens: list[str]) -> None:
        self.devices = {token: Device(uuid.uuid4(), uuid.uuid4(), token, "default",
                                      uuid.uuid4(), 0) for token in tokens}
        self.lookups: list[str] = []

    async def get_device_by_credentials_id(self, token: str) -> Any:
        self.lookups.append(token)
        device = self.devices.get(token)
        if device is None:
            return None
        return device, DeviceCredentials(uuid.uuid4(), device.id, 0,
                                         DeviceCredentialsType.ACCESS_TOKEN, token)


async def test_a_full_cache_forgets_the_least_recently_used_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices_module, "TOKEN_CACHE_SIZE", 2)
    store = Devices(["a", "b", "c"])
    service = DeviceService(store, MemoryBus())  # type: ignore[arg-type]
    for token in ("a", "b", "a", "c"):  # "a" used again: "b" is the least recently used
        assert await service.authenticate(token) is store.devices[token]
    assert store.lookups == ["a", "b", "c"]
    assert await service.authenticate("a") is store.devices["a"]  # still cached
    assert await service.authenticate("c") is store.devices["c"]
    assert store.lookups == ["a", "b", "c"]
    assert await service.authenticate("b") is store.devices["b"]  # forgotten: asked again
    assert store.lookups == ["a", "b", "c", "b"]
    # The device -> token map follows the cache, so it stays bounded too.
    assert len(service._token_of) == 2


async def test_a_token_cached_again_after_eviction_is_still_forgotten(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices_module, "TOKEN_CACHE_SIZE", 1)
    store = Devices(["a", "b"])
    service = DeviceService(store, MemoryBus())  # type: ignore[arg-type]
    await service.authenticate("a")
    await service.authenticate("b")  # pushes "a" out
    await service.authenticate("a")  # "a" cached again, "b" out
    service.forget(store.devices["a"].id)  # its token changed
    assert await service.authenticate("a") is store.devices["a"]
    assert store.lookups == ["a", "b", "a", "a"]  # asked the store again
