"""What only the PostgreSQL store promises: migrations when several nodes start at once, time
partitions and retention, group commit per node, and nodes that never deadlock or take one RPC
twice. Each test has a schema of its own (``conftest.postgres_schema``); "nodes" are several
stores on that schema.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.store.conftest import postgres_schema
from thingport.domain.model import (
    AttributeScope,
    DataType,
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceProfile,
    KvEntry,
    Rpc,
    Tenant,
)
from thingport.errors import BadRequest, ConfigError, Conflict, NotFound, StoreUnavailable
from thingport.settings import Settings
from thingport.store import store_from_url
from thingport.store.postgresql import PostgresStore, partitions, uploads
from thingport.store.shared import migrations

pytest.importorskip("asyncpg")
import asyncpg

SHARED = AttributeScope.SHARED_SCOPE
DAY = 86_400_000
# 2025-06-15T00:00:00Z
JUNE_2025 = 1_749_945_600_000


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with postgres_schema() as schema_url:
        yield schema_url


@pytest.fixture
async def make_store(url: str) -> AsyncIterator[Callable[..., PostgresStore]]:
    """Makes stores (nodes) on the test's schema; closes them all after the test."""
    made: list[PostgresStore] = []

    def make(**options: Any) -> PostgresStore:
        options.setdefault("pool_size", 3)
        store = PostgresStore(url, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


async def open_store(make: Callable[..., PostgresStore], **options: Any) -> PostgresStore:
    store = make(**options)
    await store.open()
    return store


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def make_devices(store: PostgresStore, count: int) -> list[Device]:
    tenant = Tenant(uuid.uuid4(), "T", 1)
    await store.save_tenant(tenant)
    profile = DeviceProfile(uuid.uuid4(), tenant.id, "default", 1, default=True)
    await store.save_device_profile(profile)
    devices = []
    for i in range(count):
        device = Device(uuid.uuid4(), tenant.id, f"d{i}", "default", profile.id, 1)
        await store.create_device(device, DeviceCredentials(
            uuid.uuid4(), device.id, 1, DeviceCredentialsType.ACCESS_TOKEN, f"token-{i}"))
        devices.append(device)
    return devices


def long(key: str, value: int) -> KvEntry:
    return KvEntry(key, DataType.LONG, value)


# -- choosing the store ------------------------------------------------------------------------


def test_store_from_url_picks_postgresql_for_both_schemes() -> None:
    settings = Settings(database_pool_size=5, ts_partitioning="DAYS", ts_ttl_days=30)
    for scheme in ("postgresql", "postgres"):
        store = store_from_url(f"{scheme}://u:secret@db:5432/x", settings)
        assert isinstance(store, PostgresStore)
        assert "secret" not in store.url


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(ConfigError, match=r"pip install 'thingport\[postgres\]'"):
        store_from_url("postgresql://db/x")


def test_settings_of_the_postgresql_store() -> None:
    settings = Settings.from_env({
        "THINGPORT_DATABASE_POOL_SIZE": "12", "SQL_POSTGRES_TS_KV_PARTITIONING": "days",
        "THINGPORT_TS_TTL_DAYS": "90",
    })
    assert (settings.database_pool_size, settings.ts_partitioning, settings.ts_ttl_days) == (
        12, "DAYS", 90)
    with pytest.raises(ConfigError, match="SQL_POSTGRES_TS_KV_PARTITIONING"):
        Settings.from_env({"SQL_POSTGRES_TS_KV_PARTITIONING": "WEEKS"})


async def test_an_unreachable_server_is_a_config_error() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(ConfigError, match="Cannot connect to PostgreSQL"):
        await store.open()


# -- migrations --------------------------------------------------------------------------------


async def test_nodes_starting_together_migrate_once(
    url: str, make_store: Callable[..., PostgresStore]
) -> None:
    stores = [make_store(pool_size=2) for _ in range(6)]
    await asyncio.gather(*(s.open() for s in stores))
    applied = await fetch(url, "SELECT version FROM schema_migrations ORDER BY version")
    shipped = migrations.discover("postgresql")
    assert [r[0] for r in applied] == [m.number for m in shipped]
    # Every node works on the one schema.
    devices = await make_devices(stores[0], 1)
    await asyncio.gather(*(
        s.save_telemetry(devices[0].id, [(i, [long("n", i)])]) for i, s in enumerate(stores)
    ))
    got = await stores[-1].get_telemetry(devices[0].id, "n", 0, 100, 100)
    assert sorted(e.value for e in got) == list(range(6))


async def test_a_newer_database_refuses_to_start(
    url: str, make_store: Callable[..., PostgresStore]
) -> None:
    first = await open_store(make_store)
    await first.close()
    await fetch(url, "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(ConfigError, match="newer than this thingport"):
        await make_store().open()


# -- partitions and retention -------------------------------------------------------------------


async def partition_of(url: str, device: Device, ts: int) -> str:
    rows = await fetch(
        url, "SELECT tableoid::regclass::text FROM ts_kv WHERE entity_id = $1 AND ts = $2",
        device.id, ts,
    )
    return str(rows[0][0])


async def test_partitions_around_now_and_the_default_for_the_rest(
    url: str, make_store: Callable[..., PostgresStore]
) -> None:
    store = await open_store(make_store)
    expected = [p.name for p in partitions.periods_around("MONTHS", partitions_now())]
    names = {r[0] for r in await fetch(
        url, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'ts_kv'::regclass")}
    assert set(expected) | {"ts_kv_indefinite"} == names
    assert len(expected) == 4  # the previous month, this one and the next two
    (device,) = await make_devices(store, 1)
    now = partitions_now()
    far = now + 40 * 365 * DAY
    await store.save_telemetry(device.id, [(now, [long("t", 1)]), (far, [long("t", 2)])])
    assert await partition_of(url, device, now) == partitions.periods_around("MONTHS", now)[1].name
    assert await partition_of(url, device, far) == "ts_kv_indefinite"
    # Running it again (on any node) creates nothing more.
    assert (await store.maintain()).created == []


def partitions_now() -> int:
    from thingport.clock import now_ms

    return now_ms()


async def test_period_boundaries() -> None:
    months = partitions.periods_around("MONTHS", JUNE_2025)
    assert [p.name for p in months] == [
        "ts_kv_2025_05", "ts_kv_2025_06", "ts_kv_2025_07", "ts_kv_2025_08"]
    assert months[1].start == 1_748_736_000_000 and months[1].end == 1_751_328_000_000
    assert all(a.end == b.start for a, b in itertools.pairwise(months))
    days = partitions.periods_around("DAYS", JUNE_2025)
    assert days[1].name == "ts_kv_2025_06_15" and days[1].end - days[1].start == DAY
    assert [p.name for p in partitions.periods_around("YEARS", JUNE_2025)] == [
        "ts_kv_2024", "ts_kv_2025", "ts_kv_2026"]
    assert partitions.periods_around("INDEFINITE", JUNE_2025) == []
    december = partitions.periods_around("MONTHS", 1_765_000_000_000)  # 2025-12-06
    assert [p.name for p in december][1:3] == ["ts_kv_2025_12", "ts_kv_2026_01"]


async def test_creating_a_period_moves_its_rows_out_of_the_default_partition(
    url: str, make_store: Callable[..., PostgresStore]
) -> None:
    store = await open_store(make_store, ts_partitioning="DAYS")
    (device,) = await make_devices(store, 1)
    later = partitions_now() + 30 * DAY  # beyond the days created ahead
    await store.save_telemetry(device.id, [(later, [long("t", 7)])])
    assert await partition_of(url, device, later) == "ts_kv_indefinite"
    conn = await asyncpg.connect(url)
    try:
        created = await partitions.ensure_partitions(conn, "DAYS", later)
    finally:
        await conn.close()
    day = partitions.periods_around("DAYS", later)[1].name
    assert day in created
    assert await partition_of(url, device, later) == day
    (entry,) = await store.get_telemetry(device.id, "t", later, later + 1, 10)
    assert entry.value == 7


async def test_retention_drops_whole_partitions_and_old_default_rows(
    url: str, make_store: Callable[..., PostgresStore]
) -> None:
    store = await open_store(make_store, ts_ttl_days=30)
    (device,) = await make_devices(store, 1)
    # Partitions of a year ago, as if the store had been running then.
    conn = await asyncpg.connect(url)
    try:
        year_ago = partitions_now() - 365 * DAY
        old = await partitions.ensure_partitions(conn, "MONTHS", year_ago)
    finally:
        await conn.close()
    assert len(old) == 4
    now = partitions_now()
    samples = [(year_ago, [long("t", 1)]), (now, [long("t", 2)]), (-5, [long("t", 3)])]
    await store.save_telemetry(device.id, samples)
    done = await store.maintain()
    assert sorted(done.dropped) == sorted(old)
    assert done.deleted_rows == 1  # the sample at ts -5, in the default partition
    got = await store.get_telemetry(device.id, "t", -(2**62), 2**62, 10)
    assert [e.value for e in got] == [2]
    # The latest value is kept whatever its age.
    assert [e.value for e in await store.get_latest_telemetry(device.id)] == [2]


# -- group commit ------------------------------------------------------------------------------


async def hold_lane(store: PostgresStore, seconds: float) -> asyncio.Task[Any]:
    """Keeps the (only) lane busy in a transaction, so that what is queued meanwhile forms
    the next batch."""
    entered = asyncio.Event()

    async def hold(conn: asyncpg.Connection) -> None:
        entered.set()
        await conn.execute(f"SELECT pg_sleep({seconds})")

    task = asyncio.ensure_future(store._write(hold))
    await entered.wait()
    return task


async def test_concurrent_writers_share_one_commit(
    make_store: Callable[..., PostgresStore],
) -> None:
    store = await open_store(make_store, lanes=1)
    devices = await make_devices(store, 3)
    # Key ids first: a new key is resolved (a round trip) before its write joins the queue,
    # and on a busy machine that can take longer than the gate holds the lane.
    await store.save_telemetry(devices[0].id, [(-1, [long("n", -1)])])
    await store.save_attributes(devices[1].id, SHARED, [long(f"a{i}", i) for i in range(20)], 0)
    gate = await hold_lane(store, 0.3)
    before = store.stats
    writes = [
        store.save_telemetry(devices[i % 3].id, [(i, [long("n", i)])]) for i in range(150)
    ] + [store.save_attributes(devices[0].id, SHARED, [long(f"a{i}", i)], i) for i in range(20)]
    await asyncio.gather(gate, *writes)
    after = store.stats
    assert after.transactions - before.transactions == 2  # the gate's, then all 170 at once
    assert after.largest_batch >= 170
    for index, device in enumerate(devices):
        got = await store.get_telemetry(device.id, "n", 0, 1000, 1000, descending=False)
        assert [e.value for e in got] == list(range(index, 150, 3))
    assert len(await store.get_attributes(devices[0].id, SHARED)) == 20


async def test_a_bad_operation_does_not_fail_its_batch(
    make_store: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # So that the long value below joins the lane's batch instead of being an upload.
    monkeypatch.setattr(uploads, "SLICE_BYTES", 2**30)
    store = await open_store(make_store, lanes=1)
    device, other = await make_devices(store, 2)
    rpc = Rpc(uuid.uuid4(), device.tenant_id, device.id, 1, 2**62, "m", "{}", False, True)
    await store.create_rpc(rpc)
    gate = await hold_lane(store, 0.3)
    tasks: list[asyncio.Future[Any]] = [
        asyncio.ensure_future(store.save_telemetry(device.id, [(i, [long("n", i)])]))
        for i in range(50)
    ]
    # A value the server refuses (longer than ThingsBoard's varchar(10000000)): the shared
    # statement fails, and the batch is redone with each operation on its own.
    too_long = KvEntry("s", DataType.STRING, "x" * 10_000_001)
    tasks.append(asyncio.ensure_future(store.save_telemetry(device.id, [(50, [too_long])])))
    tasks.append(asyncio.ensure_future(store.create_rpc(rpc)))  # duplicate id
    tasks.append(asyncio.ensure_future(store.save_telemetry(uuid.uuid4(), [(1, [long("n", 1)])])))
    tasks += [
        asyncio.ensure_future(store.save_telemetry(other.id, [(i, [long("n", i)])]))
        for i in range(50)
    ]
    results = await asyncio.gather(gate, *tasks, return_exceptions=True)
    failed = {i: type(r) for i, r in enumerate(results[1:]) if r is not None}
    # The too long value is the caller's fault: a 400, not a 500.
    assert failed == {50: BadRequest, 51: Conflict, 52: NotFound}
    assert len(await store.get_telemetry(device.id, "n", 0, 100, 100)) == 50
    assert len(await store.get_telemetry(other.id, "n", 0, 100, 100)) == 50
    assert await store.get_telemetry(device.id, "s", 0, 100, 100) == []
    assert (await store.create_rpc(dataclass_copy(rpc))).request_id == 2  # no id used up


def dataclass_copy(rpc: Rpc) -> Rpc:
    import dataclasses

    return dataclasses.replace(rpc, id=uuid.uuid4())


# -- several nodes -----------------------------------------------------------------------------


async def test_two_nodes_upserting_the_same_rows_never_deadlock(
    make_store: Callable[..., PostgresStore],
) -> None:
    one = await open_store(make_store, lanes=2)
    two = await open_store(make_store, lanes=2)
    devices = await make_devices(one, 8)
    keys = [f"k{i}" for i in range(6)]
    rng = random.Random(7)

    async def node(store: PostgresStore, base: int) -> None:
        for round_ in range(25):
            order = devices[:]
            rng.shuffle(order)
            writes = []
            for device in order:
                picked = rng.sample(keys, 4)
                ts = base + round_
                writes.append(store.save_telemetry(
                    device.id, [(ts, [long(k, ts) for k in picked])]))
                writes.append(store.save_attributes_tracked(
                    device.id, SHARED, [long(k, ts) for k in reversed(picked)], ts))
            await asyncio.gather(*writes)

    await asyncio.gather(node(one, 1000), node(two, 2000))
    assert one.stats.retries == 0 and two.stats.retries == 0  # no deadlock was ever redone
    for device in devices:
        latest = await one.get_latest_telemetry(device.id)
        assert all(e.ts >= 2000 for e in latest)  # the newest write of each key won


async def test_an_rpc_is_taken_once_whichever_node_polls(
    make_store: Callable[..., PostgresStore],
) -> None:
    one = await open_store(make_store)
    two = await open_store(make_store)
    (device,) = await make_devices(one, 1)

    def rpc() -> Rpc:
        return Rpc(uuid.uuid4(), device.tenant_id, device.id, 1, 2**62, "m", "{}", False, True)

    # Request ids from both nodes at once never repeat.
    created = await asyncio.gather(*(
        (one if i % 2 else two).create_rpc(rpc()) for i in range(30)))
    assert sorted(r.request_id for r in created) == list(range(1, 31))

    async def poll(store: PostgresStore) -> list[int]:
        taken = []
        while (got := await store.take_next_rpc(device.id, 1)) is not None:
            taken.append(got.request_id)
        return taken

    results = await asyncio.gather(poll(one), poll(two), poll(one), poll(two))
    every = [i for r in results for i in r]
    assert sorted(every) == list(range(1, 31))  # each exactly once
    for taken in results:
        assert taken == sorted(taken)  # in order on each poll


async def test_a_deleted_device_takes_no_more_samples_from_another_node(
    make_store: Callable[..., PostgresStore],
) -> None:
    one = await open_store(make_store)
    two = await open_store(make_store)
    (device,) = await make_devices(one, 1)
    await two.save_telemetry(device.id, [(1, [long("t", 1)])])
    await one.delete_device(device.id)
    with pytest.raises(NotFound):
        await two.save_telemetry(device.id, [(2, [long("t", 2)])])
    with pytest.raises(NotFound):
        await two.save_attributes(device.id, SHARED, [long("a", 1)], 1)


async def test_a_node_reconnects_after_its_sessions_were_ended(url: str) -> None:
    # A name of its own, so that only this store's sessions are ended.
    name = f"thingport_test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(f"{url}&application_name={name}", pool_size=3)
    await store.open()
    try:
        (device,) = await make_devices(store, 1)
        await store.save_telemetry(device.id, [(1, [long("t", 1)])])
        # What a server restart does to every session of the node.
        ended = await fetch(
            url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1", name,
        )
        assert len(ended) >= 2  # the lane's and the pool's
        acknowledged = []
        for ts in range(2, 12):
            try:
                await store.save_telemetry(device.id, [(ts, [long("t", ts)])])
            except (StoreUnavailable, asyncpg.InterfaceError, OSError):
                continue  # in flight when the session ended: no promise was made (a 503)
            acknowledged.append(ts)
        assert len(acknowledged) >= 8  # a lost session costs at most the batch in flight
        got = await store.get_telemetry(device.id, "t", 0, 100, 100, descending=False)
        assert set(acknowledged) <= {e.ts for e in got}
    finally:
        await store.close()
