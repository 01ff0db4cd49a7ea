"""Live updates (what WebSocket sessions hear) cross nodes through the bus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.services import REDIS_URL, require_redis
from thingport.bus import Bus, MemoryBus
from thingport.bus.redis import RedisBus
from thingport.domain.model import AttributeScope, DataType, KvEntry
from thingport.services.attributes import AttributeService
from thingport.services.devices import DeviceService
from thingport.services.live import AttributeUpdate, LiveService
from thingport.services.telemetry import TelemetryService
from thingport.services.users import UserService
from thingport.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "thingport.db"))
    await opened.open()
    yield opened
    await opened.close()


async def a_device(store: SQLiteStore, bus: Bus) -> uuid.UUID:
    devices = DeviceService(store, bus)
    tenant = await UserService(store).create_tenant("Tenant")
    device, _ = await devices.create(tenant.id, f"device-{uuid.uuid4().hex[:8]}")
    return device.id


@pytest.fixture
async def two_nodes(store: SQLiteStore) -> AsyncIterator[tuple[Bus, Bus, SQLiteStore]]:
    """Two nodes' buses on one Redis channel, and the store the first node writes to."""
    require_redis()
    channel = f"thingport-test:{uuid.uuid4().hex}"
    first, second = RedisBus(REDIS_URL, channel=channel), RedisBus(REDIS_URL, channel=channel)
    await first.start()
    await second.start()
    yield first, second, store
    await first.stop()
    await second.stop()


async def known_to(bus: Bus, channel: str, expected: bool = True) -> None:
    """Wait until ``bus`` has heard (or forgotten) that a node listens to ``channel``."""
    for _ in range(200):
        if bus.may_have_subscribers(channel) is expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{channel}: may_have_subscribers never became {expected}")


async def test_telemetry_crosses_redis_only_when_a_node_listens(
    two_nodes: tuple[Bus, Bus, SQLiteStore],
) -> None:
    first, second, store = two_nodes
    device_id = await a_device(store, first)
    channel = f"ts:{device_id}"
    assert not first.may_have_subscribers(channel)  # nobody listens: nothing is published
    async with LiveService(second).watch([device_id]):
        await known_to(first, channel)
    await known_to(first, channel, expected=False)


async def test_a_node_started_later_learns_who_listens(
    two_nodes: tuple[Bus, Bus, SQLiteStore],
) -> None:
    first, second, store = two_nodes
    device_id = await a_device(store, first)
    async with LiveService(second).watch([device_id]):
        await known_to(first, f"ts:{device_id}")
        assert isinstance(first, RedisBus)
        late = RedisBus(REDIS_URL, channel=first.channel)
        await late.start()
        try:
            await known_to(late, f"ts:{device_id}")  # asked with "?", answered with "="
        finally:
            await late.stop()


async def test_points_saved_on_one_node_reach_a_watch_on_another(
    two_nodes: tuple[Bus, Bus, SQLiteStore],
) -> None:
    first, second, store = two_nodes
    device_id = await a_device(store, first)
    telemetry = TelemetryService(store, first)
    async with LiveService(second).watch([device_id]) as watch:
        await known_to(first, f"ts:{device_id}")
        await telemetry.save(device_id, [(1000, [KvEntry("t", DataType.DOUBLE, 21.5)])])
        got_device, points = await asyncio.wait_for(watch.next(), 5)
    assert got_device == device_id
    assert isinstance(points, list)
    assert [(p.ts, p.key, p.type, p.value) for p in points] == [
        (1000, "t", DataType.DOUBLE, 21.5)]


async def test_attribute_saves_and_deletions_reach_another_node(
    two_nodes: tuple[Bus, Bus, SQLiteStore],
) -> None:
    first, second, store = two_nodes
    device_id = await a_device(store, first)
    attributes = AttributeService(store, first)
    async with LiveService(second).watch([device_id], telemetry=False) as watch:
        await known_to(first, f"attr:{device_id}")
        await attributes.save(device_id, AttributeScope.SHARED_SCOPE,
                              [KvEntry("target", DataType.LONG, 22)])
        _, saved = await asyncio.wait_for(watch.next(), 5)
        await attributes.delete(device_id, AttributeScope.SHARED_SCOPE, ["target"])
        _, deleted = await asyncio.wait_for(watch.next(), 5)
    assert isinstance(saved, AttributeUpdate) and isinstance(deleted, AttributeUpdate)
    assert saved.scope is AttributeScope.SHARED_SCOPE
    assert [(e.key, e.value) for e in saved.saved] == [("target", 22)]
    assert deleted.deleted == ["target"] and deleted.saved == []


async def test_the_memory_bus_skips_encoding_when_nobody_listens(store: SQLiteStore) -> None:
    bus = MemoryBus()
    device_id = await a_device(store, bus)
    published: list[str] = []
    original = bus.publish

    async def recording(channel: str, message: bytes = b"") -> None:
        published.append(channel)
        await original(channel, message)

    bus.publish = recording  # type: ignore[method-assign]
    telemetry = TelemetryService(store, bus)
    await telemetry.save(device_id, [(1, [KvEntry("t", DataType.LONG, 1)])])
    assert published == []
    async with LiveService(bus).watch([device_id]) as watch:
        await telemetry.save(device_id, [(2, [KvEntry("t", DataType.LONG, 2)])])
        _, points = await asyncio.wait_for(watch.next(), 1)
    assert published == [f"ts:{device_id}"]
    assert isinstance(points, list) and points[0].value == 2
