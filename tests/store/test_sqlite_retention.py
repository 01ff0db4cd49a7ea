"""SQLite's time-series retention: old points go in bounded transactions, latest values stay."""

from __future__ import annotations

import pytest

from tests.store.conftest import MakeDevice
from thingport.clock import now_ms
from thingport.domain.model import DataType, KvEntry
from thingport.store.base import Store
from thingport.store.sqlite import SQLiteStore

DAY = 86_400_000

#: The store fixtures on SQLite alone (PostgreSQL drops partitions: tests/store/test_postgresql).
pytestmark = pytest.mark.parametrize("store_factory", ["sqlite"], indirect=True)


async def test_points_older_than_the_cutoff_go_in_bounded_batches(
    store: Store, make_device: MakeDevice,
) -> None:
    assert isinstance(store, SQLiteStore)
    first, _ = await make_device("first")
    second, _ = await make_device("second")
    for device in (first, second):
        await store.save_telemetry(device.id, [(ts, [KvEntry("t", DataType.LONG, ts)])
                                               for ts in range(1, 8)])
        await store.save_telemetry(device.id, [(100, [KvEntry("t", DataType.LONG, 100)])])
    before = store.stats.transactions
    assert await store.delete_telemetry_before(50, batch=3) == 14
    assert store.stats.transactions - before >= 5  # 14 points, at most 3 per transaction
    for device in (first, second):
        kept = await store.get_telemetry(device.id, "t", 0, 1000, 100, False)
        assert [p.ts for p in kept] == [100]
        latest = await store.get_latest_telemetry(device.id, ["t"])
        assert [p.ts for p in latest] == [100]


async def test_maintain_applies_the_ttl(store: Store, make_device: MakeDevice) -> None:
    assert isinstance(store, SQLiteStore)
    device, _ = await make_device("d")
    now = now_ms()
    await store.save_telemetry(device.id, [(now - 40 * DAY, [KvEntry("t", DataType.LONG, 1)]),
                                           (now - DAY, [KvEntry("t", DataType.LONG, 2)])])
    assert await store.maintain() == 0  # no TTL configured: nothing goes
    store._ts_ttl_days = 30
    assert await store.maintain() == 1
    kept = await store.get_telemetry(device.id, "t", 0, now, 100, False)
    assert [p.value for p in kept] == [2]
