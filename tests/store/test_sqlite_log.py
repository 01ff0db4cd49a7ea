"""SQLite's sample log: new samples are appended, merged into ts_kv in bulk, never lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from thingport.domain.model import Aggregation, DataType, Device, KvEntry
from thingport.store.sqlite import SQLiteStore


def rows(path: str, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_samples_are_appended_to_the_log_and_merged_before_a_read(
    store: SQLiteStore, device: Device, tmp_path: Path
) -> None:
    if not isinstance(store, SQLiteStore):
        return
    await store.save_telemetry(device.id, [(1000, [KvEntry("t", DataType.LONG, 1)])])
    await store.save_telemetry(device.id, [(1000, [KvEntry("t", DataType.LONG, 2)])])
    await store.save_telemetry(device.id, [(2000, [KvEntry("t", DataType.DOUBLE, 2.5)])])
    assert rows(store.path, "ts_kv_log") == 3 and rows(store.path, "ts_kv") == 0
    history = await store.get_telemetry(device.id, "t", 0, 10_000, 10, descending=False)
    assert [(e.ts, e.value) for e in history] == [(1000, 2), (2000, 2.5)]  # the later write won
    assert rows(store.path, "ts_kv_log") == 0 and rows(store.path, "ts_kv") == 2


async def test_unmerged_samples_survive_a_reopen(
    store: SQLiteStore, device: Device
) -> None:
    if not isinstance(store, SQLiteStore):
        return
    await store.save_telemetry(device.id, [(5, [KvEntry("x", DataType.STRING, "kept")])])
    await store.close()
    reopened = SQLiteStore(store.path)
    await reopened.open()
    try:
        got = await reopened.get_telemetry(device.id, "x", 0, 10, 10)
        assert [(e.ts, e.value) for e in got] == [(5, "kept")]
        counted = await reopened.aggregate_telemetry(device.id, "x", 0, 10, 10, Aggregation.COUNT)
        assert counted[0].value == 1
    finally:
        await reopened.close()


async def test_deleting_a_device_empties_its_log(store: SQLiteStore, device: Device) -> None:
    if not isinstance(store, SQLiteStore):
        return
    await store.save_telemetry(device.id, [(7, [KvEntry("y", DataType.LONG, 1)])])
    await store.delete_device(device.id)
    assert rows(store.path, "ts_kv_log") == 0
