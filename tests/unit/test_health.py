"""The health check: bounded probes, one probe per part per cache period however many ask."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from thingport.bus import BusUnavailable, MemoryBus
from thingport.services.health import HealthService
from thingport.store.base import Store


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Probed:
    """A store stand-in whose ping counts calls and can hang or fail."""

    def __init__(self) -> None:
        self.pings = 0
        self.hang = False
        self.error: Exception | None = None

    async def ping(self) -> None:
        self.pings += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error


class DownBus(MemoryBus):
    async def ping(self, timeout_s: float = 1.0) -> None:
        raise BusUnavailable("reconnecting to redis://nowhere")


def service(store: Any, bus: MemoryBus | None = None, **options: Any) -> HealthService:
    return HealthService(cast(Store, store), bus or MemoryBus(), **options)


async def test_up_when_both_parts_answer() -> None:
    report = await service(Probed()).check()
    assert report.up and report.store.up and report.bus.up


async def test_a_flood_of_checks_probes_once_per_period() -> None:
    store, clock = Probed(), Clock()
    health = service(store, clock=clock, cache_s=1.0)
    reports = await asyncio.gather(*(health.check() for _ in range(200)))
    assert all(r.up for r in reports)
    assert store.pings == 1
    clock.now += 0.5
    await health.check()
    assert store.pings == 1
    clock.now += 0.6
    await health.check()
    assert store.pings == 2


async def test_a_store_that_does_not_answer_is_down_after_the_timeout() -> None:
    store = Probed()
    store.hang = True
    report = await asyncio.wait_for(service(store, timeout_s=0.05).check(), 5)
    assert not report.up
    assert not report.store.up and report.store.error == "no answer within 0.05 s"
    assert report.bus.up


async def test_a_failing_part_is_named_with_its_error() -> None:
    store = Probed()
    store.error = ConnectionRefusedError("connection refused")
    report = await service(store, DownBus()).check()
    assert (report.store.up, report.store.error) == (False, "connection refused")
    assert (report.bus.up, report.bus.error) == (False, "reconnecting to redis://nowhere")


async def test_a_caller_that_gives_up_does_not_cancel_the_others() -> None:
    store = Probed()
    health = service(store, timeout_s=0.2)
    store.hang = True
    impatient = asyncio.create_task(health.check())
    patient = asyncio.create_task(health.check())
    await asyncio.sleep(0.01)
    impatient.cancel()
    report = await asyncio.wait_for(patient, 5)
    assert not report.store.up and store.pings == 1
