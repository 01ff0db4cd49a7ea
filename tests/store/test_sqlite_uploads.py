"""SQLite's uploads: a save too large for one transaction is written in slices, other writes
commit between them, and it becomes visible whole (or not at all)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.store.conftest import MakeDevice
from tests.store.test_store_contract import history, kv, values
from thingport.domain.model import Device
from thingport.errors import NotFound
from thingport.store.base import Store
from thingport.store.sqlite import SQLiteStore, tx, uploads

SLICE = 10
WAIT_S = 30  # generous: only a broken writer makes a test wait this long


#: The store fixtures (tests/store/conftest.py) on SQLite alone.
pytestmark = pytest.mark.parametrize("store_factory", ["sqlite"], indirect=True)


@pytest.fixture
def sqlite_store(store: Store) -> SQLiteStore:
    assert isinstance(store, SQLiteStore)
    return store


@pytest.fixture(autouse=True)
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "SLICE_ROWS", SLICE)


def rows(path: str, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


class SliceGates:
    """Holds the writer thread at the start of chosen slices of an upload until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *indices: int) -> None:
        self.reached = {i: threading.Event() for i in indices}
        self.release = {i: threading.Event() for i in indices}
        run_slice = uploads.run_slice

        def gated(transaction: tx.Tx, upload: uploads.Upload) -> Any:
            index = upload.done // SLICE
            if index in self.reached:
                self.reached[index].set()
                self.release[index].wait(WAIT_S)
            return run_slice(transaction, upload)

        monkeypatch.setattr(uploads, "run_slice", gated)

    async def reach(self, index: int) -> None:
        assert await asyncio.to_thread(self.reached[index].wait, WAIT_S)

    def open(self, index: int) -> None:
        self.release[index].set()

    def open_all(self) -> None:
        for event in self.release.values():
            event.set()


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    made: list[SliceGates] = []

    def make(*indices: int) -> SliceGates:
        made.append(SliceGates(monkeypatch, *indices))
        return made[-1]

    yield make
    for each in made:  # never leave the writer thread waiting
        each.open_all()


def samples(n: int, key: str = "n", value: Any = None) -> list[Any]:
    return [(ts, [kv(key, ts if value is None else value)]) for ts in range(n)]


async def test_a_small_write_commits_between_the_slices_of_a_large_one(
    sqlite_store: SQLiteStore, make_device: MakeDevice, gates: Any
) -> None:
    big_device, _ = await make_device("big")
    small_device, _ = await make_device("small")
    gate = gates(1, 3)  # 4 slices: hold the 2nd until the small write is queued, the last
    upload = asyncio.ensure_future(sqlite_store.save_telemetry(big_device.id, samples(4 * SLICE)))
    await gate.reach(1)
    small = asyncio.ensure_future(sqlite_store.save_telemetry(small_device.id, [(1, [kv("x", 1)])]))
    await asyncio.sleep(0)
    gate.open(1)
    # The last slice is held: the small write can only be answered if it committed before.
    await asyncio.wait_for(small, WAIT_S)
    assert not upload.done()
    assert values(await sqlite_store.get_latest_telemetry(small_device.id)) == [(1, 1)]
    # Nothing of the large write is visible until its last slice commits: its three slices
    # are held apart (a read of history would wait for the writer, which the gate holds).
    assert await sqlite_store.get_latest_telemetry(big_device.id) == []
    assert rows(sqlite_store.path, "ts_kv_held") == 3 * SLICE
    assert rows(sqlite_store.path, "ts_kv") == 0
    gate.open(3)
    await asyncio.wait_for(upload, WAIT_S)
    assert len(await history(sqlite_store, big_device, "n")) == 4 * SLICE
    assert rows(sqlite_store.path, "ts_kv_held") == 0
    assert rows(sqlite_store.path, "ts_kv_upload") == 0


async def test_an_upload_whose_device_goes_midway_leaves_nothing(
    sqlite_store: SQLiteStore, device: Device, gates: Any
) -> None:
    gate = gates(2)
    upload = asyncio.ensure_future(sqlite_store.save_telemetry(device.id, samples(5 * SLICE)))
    await gate.reach(2)
    assert rows(sqlite_store.path, "ts_kv_held") == 2 * SLICE  # two slices committed
    deleting = asyncio.ensure_future(sqlite_store.delete_device(device.id))
    await asyncio.sleep(0)
    gate.open(2)
    await asyncio.wait_for(deleting, WAIT_S)
    with pytest.raises(NotFound):
        await asyncio.wait_for(upload, WAIT_S)
    await sqlite_store.ping()  # a write after it: the failed upload's clean-up is done
    await sqlite_store._write(lambda tx: None)
    assert rows(sqlite_store.path, "ts_kv_held") == 0
    assert rows(sqlite_store.path, "ts_kv_upload") == 0
    assert rows(sqlite_store.path, "ts_kv") == 0


async def test_a_released_upload_is_merged_in_chunks_before_later_samples(
    sqlite_store: SQLiteStore, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tx, "CHUNK_ROWS", 7)
    stats = sqlite_store.stats
    before = stats.merge_seconds.count + stats.transactions
    await sqlite_store.save_telemetry(device.id, samples(6 * SLICE, value="upload"))
    # Acknowledged after the upload, at timestamps the upload also wrote: these win.
    await sqlite_store.save_telemetry(device.id, [(3, [kv("n", "later")])])
    got = dict(values(await history(sqlite_store, device, "n")))
    assert got == {ts: "later" if ts == 3 else "upload" for ts in range(6 * SLICE)}
    # One chunk per transaction (the writer's own merges, or the read's steps).
    stats = sqlite_store.stats
    assert stats.merge_seconds.count + stats.transactions - before >= 6 * SLICE // 7
    assert rows(sqlite_store.path, "ts_kv_held") == 0


async def test_a_restart_drops_an_unreleased_upload_and_merges_a_released_one(
    sqlite_store: SQLiteStore, device: Device
) -> None:
    await sqlite_store.save_telemetry(device.id, [(1, [kv("n", 1)])])
    await sqlite_store.close()
    with sqlite3.connect(sqlite_store.path) as conn:
        seq = conn.execute("SELECT seq FROM device").fetchone()[0]
        key = conn.execute("SELECT key_id FROM key_dictionary WHERE key = 'n'").fetchone()[0]
        held = [(seq, key, ts, 2, ts) for ts in range(10, 20)]
        conn.executemany("INSERT INTO ts_kv_held (device, key, ts, type, v) "
                         "VALUES (?, ?, ?, ?, ?)", held)
        # 10..14 were acknowledged (released), 15..19 belong to an upload a crash cut short.
        conn.execute("INSERT INTO ts_kv_upload (first_seq, last_seq, released) VALUES (1, 5, 1)")
        conn.execute("INSERT INTO ts_kv_upload (first_seq, released) VALUES (6, 0)")
    reopened = SQLiteStore(sqlite_store.path)
    await reopened.open()
    try:
        assert [e.ts for e in await history(reopened, device, "n", descending=False)] == [
            1, 10, 11, 12, 13, 14]
        assert rows(reopened.path, "ts_kv_held") == 0
        assert rows(reopened.path, "ts_kv_upload") == 0
    finally:
        await reopened.close()
