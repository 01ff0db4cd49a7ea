"""What only the SQLite store promises about its writer thread: one transaction for many
callers, the telemetry fast lane, a full disk failing only what does not fit; and that it
refuses a schema newer than it knows. (Moved out of the store contract, which every backend
must pass.)"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest

from tests.store.conftest import MakeDevice, StoreFactory
from tests.store.test_store_contract import CLIENT, SHARED, history, kv, values
from thingport.domain.model import AttributeKvEntry, DataType, Device, KvEntry, Tenant
from thingport.errors import ConfigError, Conflict, StoreUnavailable
from thingport.store.base import Store
from thingport.store.sqlite import SQLiteStore

pytestmark = pytest.mark.parametrize("store_factory", ["sqlite"], indirect=True)


@pytest.fixture
def sqlite_store(store: Store) -> SQLiteStore:
    assert isinstance(store, SQLiteStore)
    return store

class _Gate:
    """Holds the SQLite writer inside a transaction until released, so that the writes queued
    meanwhile all go into the next transaction together."""

    def __init__(self, store: SQLiteStore) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.task = asyncio.ensure_future(store._write(self._hold))

    def _hold(self, tx: object) -> None:
        self.entered.set()
        self.release.wait(10)

    async def __aenter__(self) -> _Gate:
        assert await asyncio.to_thread(self.entered.wait, 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        await self.task


async def test_sqlite_group_commit_isolates_a_failing_operation(
    sqlite_store: SQLiteStore, tenant: Tenant, make_device: MakeDevice
) -> None:
    device, _ = await make_device("existing")
    async with _Gate(sqlite_store):
        before = sqlite_store.stats
        tasks: list[asyncio.Future[Any]] = [
            asyncio.ensure_future(sqlite_store.save_telemetry(device.id, [(i, [kv("n", i)])]))
            for i in range(100)
        ]
        tasks.append(asyncio.ensure_future(make_device("existing", token="other")))
        tasks += [
            asyncio.ensure_future(sqlite_store.save_telemetry(device.id, [(i, [kv("n", i)])]))
            for i in range(100, 200)
        ]
        await asyncio.sleep(0)  # every task has queued its write behind the gate
    results = await asyncio.gather(*tasks, return_exceptions=True)
    after = sqlite_store.stats

    assert after.transactions - before.transactions == 2  # the gate's, then all 201 in one
    assert after.largest_batch >= 201
    assert [i for i, r in enumerate(results) if r is not None] == [100]
    assert isinstance(results[100], Conflict)
    assert len(await history(sqlite_store, device, "n")) == 200


@pytest.mark.parametrize("warm", [False, True], ids=["ids-unknown", "ids-published"])
async def test_sqlite_fast_lane_falls_back_to_isolate_a_bad_value(
    sqlite_store: SQLiteStore, device: Device, warm: bool
) -> None:
    if warm:  # the device and key ids are then known on the event loop: rows come prepared
        await sqlite_store.save_telemetry(device.id, [(-1, [kv("n", -1)])])
        await sqlite_store.delete_telemetry(device.id, ["n"], None, None)
    async with _Gate(sqlite_store):
        tasks = [
            asyncio.ensure_future(sqlite_store.save_telemetry(device.id, [(i, [kv("n", i)])]))
            for i in range(50)
        ]
        # SQLite cannot store an integer beyond 64 bits; only this call may fail.
        too_big = KvEntry("n", DataType.LONG, 2**64)
        tasks.append(
            asyncio.ensure_future(sqlite_store.save_telemetry(device.id, [(50, [too_big])]))
        )
        tasks += [
            asyncio.ensure_future(sqlite_store.save_telemetry(device.id, [(i, [kv("n", i)])]))
            for i in range(51, 100)
        ]
        await asyncio.sleep(0)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [i for i, r in enumerate(results) if r is not None] == [50]
    assert isinstance(results[50], OverflowError)
    got = await history(sqlite_store, device, "n", descending=False)
    assert [e.ts for e in got] == [i for i in range(100) if i != 50]
    (latest,) = await sqlite_store.get_latest_telemetry(device.id)
    assert latest.value == 99


async def test_sqlite_rolled_back_keys_are_not_remembered(
    sqlite_store: SQLiteStore, device: Device
) -> None:
    # The failing call adds key "fresh" to the dictionary inside its own savepoint, which rolls
    # back; the writer must forget that id, or later writes would point at a key that is gone.
    async with _Gate(sqlite_store):
        bad = asyncio.ensure_future(
            sqlite_store.save_attributes(device.id, SHARED, [kv("fresh", 2**64)], 1)
        )
        good = asyncio.ensure_future(
            sqlite_store.save_attributes(device.id, SHARED, [kv("fresh", 2)], 2)
        )
        await asyncio.sleep(0)
    with pytest.raises(OverflowError):
        await bad
    await good
    await sqlite_store.save_telemetry(device.id, [(1, [kv("fresh", 1)])])
    assert values(await sqlite_store.get_latest_telemetry(device.id)) == [(1, 1)]
    assert await sqlite_store.get_attributes(device.id, SHARED) == [
        AttributeKvEntry("fresh", DataType.LONG, 2, 2)
    ]


async def test_sqlite_disk_full_fails_only_what_does_not_fit(
    sqlite_store: SQLiteStore, device: Device
) -> None:
    # A full disk makes SQLite roll back the whole transaction, batch-mates' work included;
    # those must be redone, not failed. max_page_count stands in for the full disk.
    def limit(pages: int | None) -> Any:
        def op(tx: Any) -> None:
            count = tx.conn.execute("PRAGMA page_count").fetchone()[0]
            tx.conn.execute(f"PRAGMA max_page_count = {pages or count + 3}").fetchone()
        return op

    await sqlite_store._write(limit(None))
    async with _Gate(sqlite_store):
        small = [
            asyncio.ensure_future(sqlite_store.save_telemetry(device.id, [(i, [kv("n", i)])]))
            for i in range(10)
        ]
        huge = [
            asyncio.ensure_future(sqlite_store.save_telemetry(
                device.id, [(i, [kv("big", "x" * 3000)]) for i in range(100)]
            )),
            asyncio.ensure_future(
                sqlite_store.save_attributes(device.id, CLIENT, [kv("big", "y" * 100_000)], 1)
            ),
        ]
        more = [
            asyncio.ensure_future(sqlite_store.save_attributes(device.id, CLIENT, [kv("a", 1)], 1)),
            asyncio.ensure_future(sqlite_store.save_telemetry(device.id, [(10, [kv("n", 10)])])),
        ]
        await asyncio.sleep(0)
    results = await asyncio.gather(*small, *huge, *more, return_exceptions=True)
    assert results[:10] == [None] * 10 and results[12:] == [None, None]
    # What the HTTP layers answer 503 (not a 500 with a traceback).
    assert all(isinstance(r, StoreUnavailable) for r in results[10:12])
    assert len(await history(sqlite_store, device, "n")) == 11
    assert await history(sqlite_store, device, "big") == []
    assert [a.key for a in await sqlite_store.get_attributes(device.id, CLIENT)] == ["a"]

    await sqlite_store._write(limit(2**30))
    await sqlite_store.save_telemetry(device.id, [(1, [kv("big", "x" * 3000)])])
    assert len(await history(sqlite_store, device, "big")) == 1


async def test_sqlite_refuses_a_newer_schema(
    store_factory: StoreFactory, sqlite_store: SQLiteStore
) -> None:
    store = sqlite_store
    await store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    newer = store_factory()
    with pytest.raises(ConfigError, match="newer"):
        await newer.open()
    await newer.close()
