"""Every kind of subscriber copes with the bus's own news (BUS_STATE), which reaches every
subscription whatever its channels."""

from __future__ import annotations

import asyncio
import uuid

from thingport.bus import BUS_DOWN, BUS_STATE, BUS_UP, MemoryBus
from thingport.domain.model import DataType, KvEntry
from thingport.services.live import LiveService, publish_telemetry


async def test_bus_state_reaches_every_subscription_once() -> None:
    bus = MemoryBus()
    async with bus.subscribe("a", "b") as both, bus.subscribe("c") as other:
        bus.local.broadcast(BUS_STATE, BUS_DOWN)
        assert await both.get(1) == (BUS_STATE, BUS_DOWN)
        assert await both.get(0.05) is None  # once, though it listens on two channels
        assert await other.get(1) == (BUS_STATE, BUS_DOWN)


async def test_a_live_watch_skips_bus_state_and_goes_on() -> None:
    bus = MemoryBus()
    device_id = uuid.uuid4()
    async with LiveService(bus).watch([device_id]) as watch:
        bus.local.broadcast(BUS_STATE, BUS_DOWN)
        bus.local.broadcast(BUS_STATE, BUS_UP)
        await publish_telemetry(bus, device_id, [(5, [KvEntry("t", DataType.LONG, 1)])])
        got_device, points = await asyncio.wait_for(watch.next(), 5)
    assert got_device == device_id
    assert isinstance(points, list) and [(p.ts, p.value) for p in points] == [(5, 1)]
