"""The activity tracker's state machine over a real (temporary) SQLite store, driven by an
injected clock: nothing here sleeps."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from thingport.bus import MemoryBus
from thingport.domain.model import (
    AttributeScope,
    DataType,
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceProfile,
    KvEntry,
    Tenant,
)
from thingport.services.activity import ActivityTracker
from thingport.services.attributes import AttributeService
from thingport.services.channels import DEVICE_INACTIVE
from thingport.store.sqlite import SQLiteStore

SERVER = AttributeScope.SERVER_SCOPE
T0 = 1_700_000_000_000
TIMEOUT = 600_000
CHECK = 60_000
FLUSH = 5_000


class Clock:
    """Milliseconds that move only when told to."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


class FlakyAttributes(AttributeService):
    """Fails the next ``failures`` saves, as a store that is briefly unwritable would."""

    failures = 0

    async def save(self, device_id: UUID, scope: AttributeScope,
                   entries: Sequence[KvEntry]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("disk I/O error")
        await super().save(device_id, scope, entries)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "activity.db"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def attributes(store: SQLiteStore, bus: MemoryBus) -> FlakyAttributes:
    return FlakyAttributes(store, bus)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def tracker_on(store: SQLiteStore, attributes: AttributeService, bus: MemoryBus,
               clock: Clock, flush: int = FLUSH) -> ActivityTracker:
    return ActivityTracker(store, attributes, bus, inactivity_timeout_ms=TIMEOUT,
                           check_interval_ms=CHECK, flush_interval_ms=flush, clock=clock)


@pytest.fixture
def tracker(store: SQLiteStore, attributes: FlakyAttributes, bus: MemoryBus,
            clock: Clock) -> ActivityTracker:
    return tracker_on(store, attributes, bus, clock)


@pytest.fixture
async def device(store: SQLiteStore) -> Device:
    tenant = Tenant(uuid.uuid4(), "T", 1)
    await store.save_tenant(tenant)
    profile = DeviceProfile(uuid.uuid4(), tenant.id, "default", 1, default=True)
    await store.save_device_profile(profile)
    made = Device(uuid.uuid4(), tenant.id, "thermostat", "default", profile.id, 1)
    await store.create_device(made, DeviceCredentials(
        uuid.uuid4(), made.id, 1, DeviceCredentialsType.ACCESS_TOKEN, "tok"))
    return made


async def state(store: SQLiteStore, device: Device) -> dict[str, Any]:
    return {e.key: e.value for e in await store.get_attributes(device.id, SERVER)}


async def test_a_device_turning_active_is_stored_at_the_next_tick(
    store: SQLiteStore, tracker: ActivityTracker, device: Device
) -> None:
    tracker.touch(device.id)
    assert await state(store, device) == {}  # touch itself writes nothing
    await tracker.tick()
    assert await state(store, device) == {"active": True, "lastActivityTime": T0}


async def test_activity_of_an_active_device_is_flushed_once_an_interval(
    store: SQLiteStore, tracker: ActivityTracker, device: Device, clock: Clock
) -> None:
    tracker.touch(device.id)
    await tracker.tick()
    seen_at = clock.advance(1000)
    tracker.touch(device.id)
    await tracker.tick()
    assert (await state(store, device))["lastActivityTime"] == T0  # not yet
    clock.advance(FLUSH - 1000)
    await tracker.tick()
    assert await state(store, device) == {"active": True, "lastActivityTime": seen_at}


async def test_silent_devices_turn_inactive_and_active_again(
    store: SQLiteStore, tracker: ActivityTracker, device: Device, clock: Clock
) -> None:
    tracker.touch(device.id)
    await tracker.tick()
    clock.advance(TIMEOUT)  # at the timeout, not yet past it
    await tracker.tick()
    assert (await state(store, device))["active"] is True
    checked_at = clock.advance(CHECK)
    await tracker.tick()
    assert await state(store, device) == {
        "active": False, "lastActivityTime": T0, "inactivityAlarmTime": checked_at}
    back_at = clock.advance(1000)
    tracker.touch(device.id)
    await tracker.tick()  # written at once, not at the next flush
    assert await state(store, device) == {
        "active": True, "lastActivityTime": back_at, "inactivityAlarmTime": checked_at}


async def test_a_device_another_node_keeps_active_is_not_marked_inactive(
    store: SQLiteStore, attributes: FlakyAttributes, bus: MemoryBus, device: Device,
    clock: Clock,
) -> None:
    node_a = tracker_on(store, attributes, bus, clock)
    node_b = tracker_on(store, attributes, bus, clock)
    for _ in range((TIMEOUT + 2 * CHECK) // FLUSH):
        node_a.touch(device.id)
        await node_a.tick()
        await node_b.tick()  # B never sees the device: it knows only the store
        clock.advance(FLUSH)
    assert (await state(store, device))["active"] is True


async def test_a_node_that_saw_the_device_meanwhile_turns_it_active_again(
    store: SQLiteStore, attributes: FlakyAttributes, bus: MemoryBus, device: Device,
    clock: Clock,
) -> None:
    # A flushes rarely, so the stored activity falls behind what A has seen.
    node_a = tracker_on(store, attributes, bus, clock, flush=10 * TIMEOUT)
    node_b = tracker_on(store, attributes, bus, clock)
    node_a.touch(device.id)
    await node_a.tick()
    seen_at = clock.advance(TIMEOUT - 1000)
    node_a.touch(device.id)
    await node_a.tick()
    clock.advance(CHECK)
    await node_a.tick()  # A checks too, but it saw the device within the timeout
    assert (await state(store, device))["active"] is True
    async with bus.subscribe(DEVICE_INACTIVE) as told:
        await node_b.tick()  # the stored time is stale: B marks it inactive and says so
        assert (await state(store, device))["active"] is False
        message = await told.get(0)
    assert message is not None
    node_a.heard_inactive(message[1])
    await node_a.tick()
    assert (await state(store, device))["active"] is True
    assert (await state(store, device))["lastActivityTime"] == seen_at
    node_a.heard_inactive(b"short")  # not a message: ignored


async def test_a_lost_message_heals_at_the_next_request(
    store: SQLiteStore, attributes: FlakyAttributes, bus: MemoryBus, device: Device,
    clock: Clock,
) -> None:
    node_a = tracker_on(store, attributes, bus, clock)
    node_b = tracker_on(store, attributes, bus, clock)
    node_a.touch(device.id)
    await node_a.tick()
    clock.advance(TIMEOUT + CHECK)
    await node_b.tick()  # B marks it inactive; A does not hear of it
    assert (await state(store, device))["active"] is False
    node_a.touch(device.id)
    await node_a.tick()  # A saw nothing of it for the timeout: it is turning active
    assert (await state(store, device))["active"] is True


class StaleRead:
    """The inactivity query's answer as it was a moment ago, before another node flushed."""

    def __init__(self, answer: list[tuple[UUID, int | None]]) -> None:
        self.answer = answer

    async def find_stale_active_devices(self, *args: Any) -> list[tuple[UUID, int | None]]:
        return self.answer


async def test_the_stored_activity_is_read_again_before_marking_inactive(
    store: SQLiteStore, attributes: FlakyAttributes, bus: MemoryBus, device: Device,
    clock: Clock,
) -> None:
    checker = ActivityTracker(
        StaleRead([(device.id, T0)]), attributes, bus,  # type: ignore[arg-type]
        inactivity_timeout_ms=TIMEOUT, check_interval_ms=CHECK, flush_interval_ms=FLUSH,
        clock=clock)
    now = clock.advance(TIMEOUT + CHECK)
    await attributes.save(device.id, SERVER, [KvEntry("active", DataType.BOOLEAN, True),
                                              KvEntry("lastActivityTime", DataType.LONG, now)])
    await checker.tick()
    assert (await state(store, device))["active"] is True


async def test_a_failed_write_is_logged_and_retried(
    store: SQLiteStore, tracker: ActivityTracker, attributes: FlakyAttributes,
    device: Device, clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:
    attributes.failures = 1
    tracker.touch(device.id)
    with caplog.at_level(logging.WARNING):
        await tracker.tick()
    assert "could not store the activity of 1 devices" in caplog.text
    assert await state(store, device) == {}
    clock.advance(1000)
    await tracker.tick()
    assert await state(store, device) == {"active": True, "lastActivityTime": T0}


async def test_deleted_devices_are_dropped(
    store: SQLiteStore, tracker: ActivityTracker, device: Device, clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker.touch(device.id)
    await store.delete_device(device.id)
    with caplog.at_level(logging.WARNING):
        await tracker.tick()
        clock.advance(FLUSH)
        await tracker.flush_all()
    assert caplog.text == ""


async def test_flush_all_stores_everything_pending(
    store: SQLiteStore, tracker: ActivityTracker, device: Device, clock: Clock
) -> None:
    tracker.touch(device.id)
    await tracker.flush_all()
    assert (await state(store, device))["active"] is True
    later = clock.advance(100)
    tracker.touch(device.id)
    await tracker.flush_all()  # whatever the flush interval
    assert (await state(store, device))["lastActivityTime"] == later


async def test_cancelling_run_stores_what_is_pending(
    store: SQLiteStore, tracker: ActivityTracker, device: Device
) -> None:
    task = asyncio.create_task(tracker.run())
    await asyncio.sleep(0)  # let it start waiting for its first tick
    tracker.touch(device.id)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await state(store, device) == {"active": True, "lastActivityTime": T0}
