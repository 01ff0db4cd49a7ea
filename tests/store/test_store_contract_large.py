"""The store contract for large values and for saves too large for one transaction, on every
backend: they round-trip exactly, replace and delete like small ones, and a large save is all
or nothing. On SQLite, also that no out-of-line value is left without its row."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from tests.store.conftest import MakeDevice
from tests.store.test_store_contract import CLIENT, SERVER, SHARED, history, kv, values
from thingport.domain.model import Aggregation, DataType, Device, KvEntry
from thingport.errors import NotFound
from thingport.store.base import Store
from thingport.store.postgresql import uploads as pg_uploads
from thingport.store.shared.histogram import Buckets
from thingport.store.sqlite import SQLiteStore
from thingport.store.sqlite import uploads as sqlite_uploads

BIG = "é" * 700_000 + "\U0001f600" * 10  # 1.4 MB of UTF-8, beyond the BMP at the end
BIG_JSON = '{"a":[' + ",".join(str(i) for i in range(200_000)) + '],"s":"\\u00e9"}'


def blobs(store: Store) -> int | None:
    """How many out-of-line values the SQLite store holds (None on other backends)."""
    if not isinstance(store, SQLiteStore):
        return None
    with sqlite3.connect(store.path) as conn:
        return int(conn.execute("SELECT count(*) FROM kv_blob").fetchone()[0])


def json_kv(key: str, text: str) -> KvEntry:
    return KvEntry(key, DataType.JSON, text)


async def test_large_values_round_trip_in_history_latest_and_attributes(
    store: Store, device: Device
) -> None:
    await store.save_telemetry(device.id, [(1, [kv("s", BIG), json_kv("j", BIG_JSON)]),
                                           (2, [kv("s", "small")])])
    assert values(await history(store, device, "s", descending=False)) == [(1, BIG), (2, "small")]
    assert values(await history(store, device, "j")) == [(1, BIG_JSON)]
    latest = {e.key: (e.ts, e.type, e.value) for e in await store.get_latest_telemetry(device.id)}
    assert latest == {"s": (2, DataType.STRING, "small"), "j": (1, DataType.JSON, BIG_JSON)}
    counted = await store.aggregate_telemetry(device.id, "s", 0, 10, 10, Aggregation.COUNT)
    assert [e.value for e in counted] == [2]
    for scope in (CLIENT, SERVER, SHARED):
        await store.save_attributes(device.id, scope, [kv("a", BIG), json_kv("b", BIG_JSON)], 5)
        got = {a.key: (a.type, a.value) for a in await store.get_attributes(device.id, scope)}
        assert got == {"a": (DataType.STRING, BIG), "b": (DataType.JSON, BIG_JSON)}
    await store.save_attributes_tracked(device.id, SHARED, [kv("a", BIG + "!")], 6)
    changes = await store.take_attribute_changes(device.id)
    assert [(a.key, a.value) for a in changes.updated] == [("a", BIG + "!")]


async def test_replacing_and_deleting_large_values_leaves_nothing_behind(
    store: Store, device: Device, make_device: MakeDevice
) -> None:
    await store.save_telemetry(device.id, [(1, [kv("s", BIG)])])
    await store.save_telemetry(device.id, [(1, [kv("s", BIG + "2")])])  # same ts: replaced
    await store.save_telemetry(device.id, [(0, [kv("s", BIG + "0")])])  # older: latest stays
    assert values(await history(store, device, "s", descending=False)) == [
        (0, BIG + "0"), (1, BIG + "2")]
    assert values(await store.get_latest_telemetry(device.id)) == [(1, BIG + "2")]
    # Deleting the latest point makes the one before it the latest (a copy of its value).
    await store.delete_telemetry(device.id, ["s"], 1, 2)
    assert values(await store.get_latest_telemetry(device.id)) == [(0, BIG + "0")]
    assert values(await history(store, device, "s")) == [(0, BIG + "0")]
    await store.save_attributes(device.id, CLIENT, [kv("a", BIG)], 1)
    await store.save_attributes(device.id, CLIENT, [kv("a", 1)], 2)
    assert [a.value for a in await store.get_attributes(device.id, CLIENT)] == [1]
    assert await store.add_attribute(device.id, SERVER, kv("b", BIG), 1)
    assert not await store.add_attribute(device.id, SERVER, kv("b", BIG + "x"), 2)
    assert [a.value for a in await store.get_attributes(device.id, SERVER)] == [BIG]
    assert blobs(store) in (None, 3)  # history ts 0, latest (its copy), attribute b
    await store.delete_telemetry(device.id, ["s"], None, None)
    await store.delete_attributes(device.id, SERVER, ["b"])
    assert blobs(store) in (None, 0)
    other, _ = await make_device("other")
    await store.save_telemetry(other.id, [(1, [kv("s", BIG)])])
    await store.save_attributes(other.id, SHARED, [kv("a", BIG)], 1)
    await store.delete_device(other.id)
    assert blobs(store) in (None, 0)


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> int:
    """Slices of 50 samples (and 3 MB of text) on both backends, so that a test's save of a
    few hundred samples is written in several of them."""
    for module in (sqlite_uploads, pg_uploads):
        monkeypatch.setattr(module, "SLICE_ROWS", 50)
        monkeypatch.setattr(module, "SLICE_BYTES", 3 * 2**20)
    return 50


async def test_a_save_of_many_slices_is_stored_whole(
    store: Store, device: Device, small_slices: int
) -> None:
    batch = [(ts, [kv("n", ts), kv("m", -ts)]) for ts in range(1, 301)]
    batch.append((150, [kv("n", "replaced")]))  # later in the same call: it wins
    await store.save_telemetry(device.id, batch)
    got = values(await history(store, device, "n", descending=False))
    assert got == [(ts, "replaced" if ts == 150 else ts) for ts in range(1, 301)]
    assert len(await history(store, device, "m")) == 300
    latest = {e.key: (e.ts, e.value) for e in await store.get_latest_telemetry(device.id)}
    assert latest == {"n": (300, 300), "m": (300, -300)}
    # A later call at an equal timestamp wins over the large one.
    await store.save_telemetry(device.id, [(5, [kv("n", "after")])])
    assert (await history(store, device, "n", start=5, end=6))[0].value == "after"


async def test_a_save_of_many_slices_for_an_unknown_device_stores_nothing(
    store: Store, device: Device, small_slices: int
) -> None:
    with pytest.raises(NotFound):
        await store.save_telemetry(uuid.uuid4(), [(ts, [kv("n", ts)]) for ts in range(500)])
    await store.save_telemetry(device.id, [(1, [kv("n", 1)])])
    assert values(await history(store, device, "n")) == [(1, 1)]


async def test_large_values_in_a_save_cut_by_size(
    store: Store, device: Device, small_slices: int
) -> None:
    # 8 values of 1.4 MB: several slices by size, one row each at least.
    batch = [(ts, [kv("s", BIG + str(ts))]) for ts in range(8)]
    await store.save_telemetry(device.id, batch)
    assert values(await history(store, device, "s", descending=False)) == [
        (ts, BIG + str(ts)) for ts in range(8)]
    assert values(await store.get_latest_telemetry(device.id)) == [(7, BIG + "7")]
    assert blobs(store) in (None, 9)  # 8 points and the latest


async def test_commits_are_counted_in_the_histograms(store: Store, device: Device) -> None:
    before = store.stats
    for ts in range(5):
        await store.save_telemetry(device.id, [(ts, [kv("n", ts)])])
    after = store.stats
    assert after.batch_sizes.count - before.batch_sizes.count >= 5  # type: ignore[attr-defined]
    assert after.commit_seconds.count - before.commit_seconds.count >= 5  # type: ignore[attr-defined]
    sizes = after.batch_sizes  # type: ignore[attr-defined]
    assert sizes.cumulative()[-1] == (float("inf"), sizes.count)
    assert sizes.total >= 5


def test_buckets_count_by_upper_bound() -> None:
    buckets = Buckets((1, 10))
    for value in (0.5, 1, 2, 10, 11, 100):
        buckets.observe(value)
    snapshot = buckets.snapshot()
    assert snapshot.counts == (2, 2, 2)
    assert snapshot.cumulative() == [(1, 2), (10, 4), (float("inf"), 6)]
    assert snapshot.total == 124.5 and snapshot.count == 6


async def test_a_small_latest_value_replacing_a_large_one_frees_it(
    store: Store, device: Device
) -> None:
    await store.save_telemetry(device.id, [(1, [kv("s", BIG)])])
    await store.save_telemetry(device.id, [(2, [kv("s", "small")])])
    assert values(await store.get_latest_telemetry(device.id)) == [(2, "small")]
    await store.delete_telemetry(device.id, ["s"], 1, 2)  # history keeps only ts 2
    assert blobs(store) in (None, 0)
