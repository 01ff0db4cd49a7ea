"""SQLite's per-minute rollups: every write keeps them exact, reads use them, and where they may
be out of date (dirty granules) reads take ts_kv instead.

The invariant (``store/sqlite/rollups.py``) is checked against ts_kv itself: for every granule
that is not dirty, a rollup row exactly when ts_kv has rows there, with exactly their
aggregates.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from tests.store.conftest import MakeDevice
from tests.store.test_store_contract_history import (
    AGGREGATIONS,
    MINUTE,
    T0,
    Samples,
    entries,
    expected,
    same,
)
from thingport.domain.model import Aggregation, DataType, Device
from thingport.store.base import Store
from thingport.store.sqlite import SQLiteStore, aggregation, migrations, rollups, sample_log

pytestmark = pytest.mark.parametrize("store_factory", ["sqlite"], indirect=True)

START = T0 - T0 % MINUTE


def connect(store: Store) -> sqlite3.Connection:
    assert isinstance(store, SQLiteStore)
    return sqlite3.connect(store.path)


def computed(conn: sqlite3.Connection) -> dict[tuple[int, int, int], tuple[Any, ...]]:
    """The rollup rows ts_kv calls for, computed here from its rows."""
    out: dict[tuple[int, int, int], list[Any]] = {}
    for device, key, ts, code, v in conn.execute("SELECT device, key, ts, type, v FROM ts_kv"):
        row = out.setdefault((device, key, ts // MINUTE), [0, 0, 0, 0, 0, 0.0, None, None])
        row[0] += 1
        if code in (2, 3):
            row[1] += 1
            row[6] = v if row[6] is None else min(row[6], v)
            row[7] = v if row[7] is None else max(row[7], v)
        if code == 3:
            row[2] += 1
            row[5] += v
        if code == 2:
            row[3] += v >> 32
            row[4] += v & 0xFFFFFFFF
    return {k: tuple(v) for k, v in out.items()}


def assert_exact_rollups(store: Store) -> int:
    """The invariant holds; returns how many granules are dirty."""
    with connect(store) as conn:
        actual = {(r[0], r[1], r[2]): r[3:] for r in conn.execute(
            "SELECT device, key, g, n, nn, nd, lh, ll, ds, lo, hi FROM ts_kv_rollup")}
        dirty = set(conn.execute("SELECT device, key, g FROM ts_kv_dirty"))
        want = computed(conn)
    for granule in (set(actual) | set(want)) - dirty:
        got, expect = actual.get(granule), want.get(granule)
        assert (got is None) == (expect is None), f"granule {granule}: {got} vs {expect}"
        assert got is not None and expect is not None
        assert got[:5] == expect[:5] and got[6:] == expect[6:], f"{granule}: {got} vs {expect}"
        assert math.isclose(got[5], expect[5], rel_tol=1e-12, abs_tol=1e-9)
    return len(dirty)


def dirty_granules(store: Store) -> list[int]:
    with connect(store) as conn:
        return [g for (g,) in conn.execute("SELECT g FROM ts_kv_dirty ORDER BY g")]


async def check_all(store: Store, device: Device, samples: Samples) -> None:
    for aggregation_ in AGGREGATIONS:
        for start, end, interval in ((START, START + 30 * MINUTE, MINUTE),
                                     (START + 1_111, START + 30 * MINUTE, 97_000),
                                     (START - MINUTE, START + 40 * MINUTE, 11 * MINUTE)):
            got = await store.aggregate_telemetry(device.id, "v", start, end, interval,
                                                  aggregation_)
            same(got, expected(samples, start, end, interval, aggregation_),
                 f"{aggregation_} by {interval}")


def long_samples(stamps: range, value: Callable[[int], Any] = lambda ts: ts % 977) -> Samples:
    return {ts: (DataType.LONG, value(ts)) for ts in stamps}


async def test_writes_deletes_retention_and_uploads_keep_the_rollups_exact(
    store: Store, device: Device, make_device: MakeDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(store, SQLiteStore)
    samples = long_samples(range(START, START + 20 * MINUTE, 997))
    await store.save_telemetry(device.id, entries(samples, samples))
    other, _ = await make_device("other")
    await store.save_telemetry(other.id, entries(samples, samples))  # another series alike
    await check_all(store, device, samples)
    assert assert_exact_rollups(store) == 0  # all settled long ago: nothing left dirty

    for ts in list(samples)[::7]:  # overwritten, some with a text value
        samples[ts] = (DataType.STRING, "x") if ts % 2 else (DataType.DOUBLE, ts / 3)
    await store.save_telemetry(device.id, entries(samples, list(samples)[::7]))
    await check_all(store, device, samples)
    assert_exact_rollups(store)

    await store.delete_telemetry(device.id, ["v"], START + 90_500, START + 3 * MINUTE + 1)
    samples = {t: v for t, v in samples.items() if not START + 90_500 <= t < START + 3 * MINUTE + 1}
    await check_all(store, device, samples)
    assert_exact_rollups(store)

    monkeypatch.setattr("thingport.store.sqlite.uploads.SLICE_ROWS", 50)
    upload = long_samples(range(START + 10 * MINUTE, START + 12 * MINUTE, 250), lambda t: -t)
    samples.update(upload)
    await store.save_telemetry(device.id, entries(upload, upload))
    await check_all(store, device, samples)
    assert_exact_rollups(store)

    # Retention in transactions of 7 rows: each one stops inside a minute.
    cutoff = START + 5 * MINUTE + 30_000
    await store.delete_telemetry_before(cutoff, batch=7)
    samples = {t: v for t, v in samples.items() if t >= cutoff}
    await check_all(store, device, samples)
    assert_exact_rollups(store)

    await store.delete_device(other.id)
    with connect(store) as conn:
        for table in ("ts_kv_rollup", "ts_kv_dirty"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE device NOT IN "
                                "(SELECT seq FROM device)").fetchone()[0] == 0
    await store.delete_telemetry(device.id, ["v"], None, None)
    with connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM ts_kv_rollup").fetchone()[0] == 0


async def test_recent_minutes_stay_dirty_until_they_settle(
    store: Store, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = START + 100 * MINUTE + 5_000
    monkeypatch.setattr(sample_log, "now_ms", lambda: now)
    samples = long_samples(range(now - 3 * MINUTE, now, 1000))
    await store.save_telemetry(device.id, entries(samples, samples))
    await check_all(store, device, samples)
    # The current minute and the one before have not settled (SETTLE_MS after their end).
    assert assert_exact_rollups(store) == 2
    assert await store.aggregate_telemetry(device.id, "v", now - 3 * MINUTE, now, 3 * MINUTE,
                                           Aggregation.COUNT) != []

    minute = now // MINUTE
    assert dirty_granules(store) == [minute - 1, minute]
    now += MINUTE
    samples[now] = (DataType.LONG, 1)
    await store.save_telemetry(device.id, entries(samples, [now]))
    await check_all(store, device, samples)
    assert assert_exact_rollups(store) == 2
    assert dirty_granules(store) == [minute, minute + 1]  # the one that settled went


async def test_reads_take_rollups_for_clean_minutes_and_raw_rows_for_dirty_ones(
    store: Store, device: Device
) -> None:
    samples = long_samples(range(START, START + 10 * MINUTE, 1000))
    await store.save_telemetry(device.id, entries(samples, samples))
    await check_all(store, device, samples)
    with connect(store) as conn:  # a rollup row that lies: reads must show it...
        conn.execute("UPDATE ts_kv_rollup SET n = n + 1000 WHERE g = ?", (START // MINUTE + 4,))
    (count,) = await store.aggregate_telemetry(device.id, "v", START, START + 10 * MINUTE,
                                               10 * MINUTE, Aggregation.COUNT)
    assert count.value == len(samples) + 1000
    with connect(store) as conn:  # ...until it is marked dirty: then ts_kv is read
        conn.execute("INSERT INTO ts_kv_dirty SELECT device, key, g FROM ts_kv_rollup "
                     "WHERE g = ?", (START // MINUTE + 4,))
    (count,) = await store.aggregate_telemetry(device.id, "v", START, START + 10 * MINUTE,
                                               10 * MINUTE, Aggregation.COUNT)
    assert count.value == len(samples)


async def test_a_merge_rolls_up_a_bounded_amount(store: Store, device: Device,
                                                 make_device: MakeDevice) -> None:
    assert isinstance(store, SQLiteStore)
    others = [(await make_device(f"d{i}"))[0] for i in range(30)]
    three_minutes = range(START, START + 3 * MINUTE, 100)
    for other in others:
        await store.save_telemetry(other.id, entries(long_samples(three_minutes), three_minutes))
    await store._merge_log()  # nothing left for a merge of the writer's own to roll up
    # Mark everything dirty again, as if written by merges that could not roll up.
    await store._write(lambda tx: tx.conn.execute(
        "INSERT OR IGNORE INTO ts_kv_dirty SELECT device, key, g FROM ts_kv_rollup"))
    assert assert_exact_rollups(store) == 90
    read = await store._write(lambda tx: rollups.clean(tx.conn, START + 10 * MINUTE, 5_000))
    left = assert_exact_rollups(store)
    assert 5_000 <= read < 5_000 + 600 * 64 and 0 < left < 90  # granules of 600 rows
    while await store._write(lambda tx: rollups.clean(tx.conn, START + 10 * MINUTE, 5_000)):
        pass
    assert assert_exact_rollups(store) == 0
    # A minute settles a minute after its end: a millisecond before, nothing is rolled up.
    await store._write(lambda tx: tx.conn.execute(
        "INSERT OR IGNORE INTO ts_kv_dirty SELECT device, key, g FROM ts_kv_rollup"))
    assert await store._write(lambda tx: rollups.clean(tx.conn, START + 2 * MINUTE - 1, 10**9)) == 0
    assert await store._write(lambda tx: rollups.clean(tx.conn, START + 2 * MINUTE, 10**9)) \
        == 30 * 600  # the first minute of each device


async def test_many_buckets_and_unmerged_rows_are_read_raw(
    store: Store, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(store, SQLiteStore)
    samples = long_samples(range(START, START + 5 * MINUTE, 333), lambda t: t % 5)
    samples[START + 7] = (DataType.DOUBLE, 0.5)
    await store.save_telemetry(device.id, entries(samples, samples))
    for agg in AGGREGATIONS:  # one bucket a millisecond: more buckets than MAX_PIECES
        got = await store.aggregate_telemetry(device.id, "v", START, START + MINUTE, 1, agg)
        same(got, expected(samples, START, START + MINUTE, 1, agg), f"{agg} by 1 ms")
    assert aggregation.plan(START, START + MINUTE, 1, []) is None

    # While the log cannot be merged (a full disk), reads go over ts_kv and the log.
    more = long_samples(range(START + 2, START + 5 * MINUTE, 5000), lambda t: 7)
    samples.update(more)

    async def cannot_merge() -> bool:
        return False

    monkeypatch.setattr(store, "_merged", cannot_merge)
    await store.save_telemetry(device.id, entries(more, more))
    await check_all(store, device, samples)


async def test_negative_timestamps_fall_in_the_right_minute(store: Store, device: Device) -> None:
    samples = long_samples(range(-3 * MINUTE + 1, 2 * MINUTE, 7_001))
    await store.save_telemetry(device.id, entries(samples, samples))
    assert_exact_rollups(store)
    for agg in AGGREGATIONS:
        for start, interval in ((-3 * MINUTE, MINUTE), (-3 * MINUTE + 11, 45_000)):
            got = await store.aggregate_telemetry(device.id, "v", start, 2 * MINUTE, interval, agg)
            same(got, expected(samples, start, 2 * MINUTE, interval, agg), f"{agg} {start}")
    await store.delete_telemetry(device.id, ["v"], -MINUTE - 5, 5)
    assert_exact_rollups(store)


async def test_the_migration_rolls_up_what_a_database_already_holds(
    store: Store, device: Device, store_factory: Any
) -> None:
    assert isinstance(store, SQLiteStore)
    samples = long_samples(range(START, START + 15 * MINUTE, 1_234))
    samples.update({ts: (DataType.DOUBLE, ts / 9) for ts in list(samples)[::3]})
    samples[START + 5] = (DataType.STRING, "s")
    await store.save_telemetry(device.id, entries(samples, samples))
    await check_all(store, device, samples)
    await store.close()
    with sqlite3.connect(store.path) as conn:  # the database as version 8 left it
        conn.executescript(
            "DROP TRIGGER device_rollups_delete; DROP TABLE ts_kv_rollup; "
            "DROP TABLE ts_kv_dirty; PRAGMA user_version = 8;")
    reopened = store_factory()
    await reopened.open()
    try:
        with sqlite3.connect(store.path) as conn:
            assert migrations.user_version(conn) >= 9
        assert assert_exact_rollups(reopened) == 0
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("SELECT count(*) FROM ts_kv_rollup").fetchone()[0] == 15
        await check_all(reopened, device, samples)
    finally:
        await reopened.close()
