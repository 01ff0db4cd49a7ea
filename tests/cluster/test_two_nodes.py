"""Two thingport nodes on one PostgreSQL and one Redis, behind a real nginx (round robin), all
on 127.0.0.1: what a device or a user sees must not depend on which node answers.

The nodes share ``THINGPORT_DATABASE_URL`` (a schema of this module's own in the test database,
dropped afterwards), ``THINGPORT_REDIS_URL`` and ``JWT_TOKEN_SIGNING_KEY``. The bus has no
channel setting, so the nodes use the machine's Redis on a database number of their own (Redis
pub/sub itself is not per database: another cluster on the same Redis would only cause spurious
wake-ups for device ids it does not know, never a lost or doubled command).

Every loop is bounded in count and in time; the bounds are liveness bounds, far above what the
mechanism needs, never a measured latency.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api_client import Api
from tests.live import LiveServer
from tests.nginx import Nginx
from tests.services import POSTGRES_URL, redis_url_with_db, require_postgres, require_redis

#: A Redis database of the cluster's own on the test Redis (tests.services uses 15).
REDIS_URL = redis_url_with_db(13)
BOUND_S = 20.0


def _asyncpg() -> Any:
    if os.environ.get("CI") == "true":
        import asyncpg  # a missing driver fails in CI, never skips

        return asyncpg
    return pytest.importorskip("asyncpg")


def _sql(sql: str) -> None:
    asyncpg = _asyncpg()

    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class Cluster:
    a: LiveServer
    b: LiveServer
    nginx: Nginx

    @property
    def nodes(self) -> tuple[LiveServer, LiveServer]:
        return self.a, self.b


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_postgres()
    require_redis()
    _asyncpg()
    root = tmp_path_factory.mktemp("cluster")
    schema = f"thingport_test_{uuid.uuid4().hex[:16]}"
    _sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    env = {
        "THINGPORT_DATABASE_URL": f"{POSTGRES_URL}{separator}search_path={schema}",
        "THINGPORT_REDIS_URL": REDIS_URL,
        "JWT_TOKEN_SIGNING_KEY": secrets.token_hex(32),
        "THINGPORT_DATABASE_POOL_SIZE": "4",
        # Two workers per node: four processes writing, all kept in step through Redis.
        "THINGPORT_WORKERS": "2",
    }
    a = LiveServer(root / "a", env=env)
    b = LiveServer(root / "b", env=env)
    nginx: Nginx | None = None
    try:
        # Both nodes at the same moment on the empty schema: the migration lock decides.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(a.start, 30), pool.submit(b.start, 30)]:
                started.result()
        # After the starts: a node whose free port was taken meanwhile moved to another.
        nginx = Nginx(root / "nginx", [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
        nginx.start()
        yield Cluster(a, b, nginx)
    finally:
        if nginx is not None:
            nginx.stop()
        a.stop()
        b.stop()
        _sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def now_ms() -> int:
    return int(time.time() * 1000)


def history(api: Api, device_id: str, key: str, start: int, end: int) -> dict[int, Any]:
    answer = api.http.get(
        f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
        params={"keys": key, "startTs": start, "endTs": end, "limit": 10**6,
                "useStrictDataTypes": "true"})
    answer.raise_for_status()
    return {point["ts"]: point["value"] for point in answer.json().get(key, [])}


def send_oneway(api: Api, device_id: str, method: str, persistent: bool) -> httpx.Response:
    return api.http.post(f"/api/rpc/oneway/{device_id}", json={
        "method": method, "params": {"method": method}, "persistent": persistent})


class Poller(threading.Thread):
    """A device long-polling ``GET /api/v1/{token}/rpc`` through ``base_url``, one poll after
    another, until it has ``want`` commands or BOUND_S has passed."""

    def __init__(self, base_url: str, token: str, want: int, bound_s: float = BOUND_S) -> None:
        super().__init__(daemon=True)
        self.url = f"{base_url}/api/v1/{token}/rpc"
        self.want = want
        self.deadline = time.monotonic() + bound_s
        self.commands: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.polls = 0

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while len(self.commands) < self.want and time.monotonic() < self.deadline:
                self.polls += 1
                try:
                    answer = client.get(self.url, params={"timeout": 3000})
                except httpx.HTTPError:
                    self.statuses.append(-1)
                    time.sleep(0.05)
                    continue
                self.statuses.append(answer.status_code)
                if answer.status_code == 200 and answer.content:
                    self.commands.append(answer.json())


def test_both_nodes_started_together_on_an_empty_schema_come_up(cluster: Cluster) -> None:
    ids = []
    for node in cluster.nodes:
        health = httpx.get(node.url + "/api/noauth/health", timeout=10)
        assert health.status_code == 200, health.text
        api = Api(node.url).login()
        ids.append(api.http.get("/api/auth/user").json()["id"]["id"])
    assert ids[0] == ids[1], "both nodes must see the one tenant administrator"
    for node in cluster.nodes:
        assert "Traceback" not in node.log(), node.log()


def test_telemetry_through_one_node_is_readable_from_the_other(cluster: Cluster) -> None:
    api_a = Api(cluster.a.url).login()
    api_b = Api(cluster.b.url).login()
    device, token = api_a.create_device()
    device_id = device["id"]["id"]
    ts = now_ms() - 60_000
    assert api_a.post_telemetry(token, {"ts": ts, "values": {"t": 21.5}}).status_code == 200
    latest = api_b.latest(device_id, keys="t", useStrictDataTypes="true")
    assert latest["t"][0] == {"ts": ts, "value": 21.5}

    # Through the balancer: requests alternate between the nodes; each node reads them all.
    balancer = Api(cluster.nginx.url)
    for n in range(1, 5):
        answer = balancer.post_telemetry(token, {"ts": ts + n, "values": {"t": n}})
        assert answer.status_code == 200, answer.text
    expected = {ts: 21.5, **{ts + n: n for n in range(1, 5)}}
    for api in (api_a, api_b, Api(cluster.nginx.url).login()):
        assert history(api, device_id, "t", ts, ts + 10) == expected


def test_rpcs_sent_through_both_nodes_reach_a_poll_through_the_balancer_once_in_order(
    cluster: Cluster,
) -> None:
    api_a = Api(cluster.a.url).login()
    api_b = Api(cluster.b.url).login()
    device, token = api_a.create_device()
    device_id = device["id"]["id"]
    blocking, queued = 8, 12
    poller = Poller(cluster.nginx.url, token, blocking + queued)
    poller.start()
    methods = []
    # One-way RPCs answered 200 once delivered: each one wakes a poll held by either node.
    for n in range(blocking):
        method = f"wait-{n}"
        methods.append(method)
        answer = send_oneway((api_a, api_b)[n % 2], device_id, method, persistent=False)
        assert answer.status_code == 200, f"{method}: {answer.status_code} {answer.text}"
    # Then persistent one-way RPCs in a burst, alternately through A and B: queued, taken one
    # per poll in the order they were created.
    rpc_ids = []
    for n in range(queued):
        method = f"queued-{n}"
        methods.append(method)
        answer = send_oneway((api_a, api_b)[n % 2], device_id, method, persistent=True)
        assert answer.status_code == 200, answer.text
        rpc_ids.append(answer.json()["rpcId"])
    poller.join(BOUND_S + 10)
    got = [command["method"] for command in poller.commands]
    assert got == methods, f"polls: {poller.polls}, statuses {set(poller.statuses)}"
    ids = [command["id"] for command in poller.commands]
    assert len(set(ids)) == len(ids) and ids == sorted(ids), ids
    # Nothing more is waiting, and none of them is left undelivered.
    rest = Api(cluster.nginx.url).device_get(token, "rpc", params={"timeout": 500})
    assert rest.status_code == 408, f"a command came twice: {rest.text}"
    for rpc_id in rpc_ids:
        status = api_b.http.get(f"/api/rpc/persistent/{rpc_id}").json()["status"]
        assert status in ("DELIVERED", "SUCCESSFUL"), (rpc_id, status)


def test_a_token_changed_on_one_node_is_refused_on_the_other_at_once(cluster: Cluster) -> None:
    api_a = Api(cluster.a.url).login()
    api_b = Api(cluster.b.url).login()
    device, old = api_a.create_device()
    device_id = device["id"]["id"]
    # Node B knows (and caches) the old token.
    assert api_b.post_telemetry(old, {"x": 1}).status_code == 200
    credentials = api_a.http.get(f"/api/device/{device_id}/credentials").json()
    new = f"new-{uuid.uuid4().hex[:12]}"
    changed = api_a.http.post("/api/device/credentials",
                              json={**credentials, "credentialsId": new})
    assert changed.status_code == 200, changed.text
    refused = api_b.post_telemetry(old, {"x": 2})
    assert refused.status_code == 401, refused.text
    assert api_b.post_telemetry(new, {"x": 3}).status_code == 200
    assert api_a.post_telemetry(old, {"x": 4}).status_code == 401
    assert api_b.latest(device_id, keys="x", useStrictDataTypes="true")["x"][0]["value"] == 3


def test_kill_9_of_one_node_mid_load_loses_no_acknowledged_sample(cluster: Cluster) -> None:
    """Telemetry through the balancer while devices poll through it; node A is killed with
    SIGKILL halfway. Every sample answered 200 is stored; polls that were on A go on at B and
    get the RPCs queued while A is dead; A, started again, serves the same data."""
    api_b = Api(cluster.b.url).login()
    device, token = api_b.create_device("kill-load")
    device_id = device["id"]["id"]
    polling = [api_b.create_device() for _ in range(4)]
    pollers = [Poller(cluster.nginx.url, t, want=1, bound_s=30) for _, t in polling]
    for p in pollers:
        p.start()

    base = now_ms() - 600_000
    url = f"{cluster.nginx.url}/api/v1/{token}/telemetry"
    outcomes: dict[int, int] = {}  # seq -> HTTP status (-1: transport error)
    lock = threading.Lock()
    seqs = iter(range(1, 3001))  # bounded: at most 3,000 requests
    stop = threading.Event()
    deadline = time.monotonic() + BOUND_S

    def writer() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set() and time.monotonic() < deadline:
                with lock:
                    seq = next(seqs, None)
                if seq is None:
                    return
                try:
                    status = client.post(url, json={"ts": base + seq,
                                                    "values": {"seq": seq}}).status_code
                except httpx.HTTPError:
                    status = -1
                with lock:
                    outcomes[seq] = status

    def acknowledged() -> int:
        with lock:
            return sum(1 for s in outcomes.values() if s == 200)

    def wait_acks(count: int) -> None:
        while acknowledged() < count and time.monotonic() < deadline:
            time.sleep(0.01)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        wait_acks(300)
        cluster.a.kill()
        at_kill = acknowledged()
        # While A is dead: a command for every polling device, queued through B.
        for created, _ in polling:
            answer = send_oneway(api_b, created["id"]["id"], "while-a-was-dead", persistent=True)
            assert answer.status_code == 200, answer.text
        wait_acks(at_kill + 300)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    after_kill = acknowledged() - at_kill
    assert at_kill >= 300 and after_kill >= 300, (at_kill, after_kill, "the load stalled")

    for p in pollers:
        p.join(40)
    for p in pollers:
        assert set(p.statuses) <= {200, 408}, f"a poll saw an error: {p.statuses}"
        assert [c["method"] for c in p.commands] == ["while-a-was-dead"], \
            f"polls {p.polls}, statuses {p.statuses}"

    ok = {seq for seq, status in outcomes.items() if status == 200}
    failed = {status for status in outcomes.values() if status != 200}
    assert failed <= {502}, f"only requests in flight on A may fail (502): {failed}"
    stored = history(api_b, device_id, "seq", base, base + 10_000)
    lost = sorted(seq for seq in ok if stored.get(base + seq) != seq)
    assert not lost, f"{len(lost)} of {len(ok)} acknowledged samples lost, e.g. {lost[:10]}"

    # A rejoins: started again, it serves what B stored.
    cluster.a.start(30)
    again = history(Api(cluster.a.url).login(), device_id, "seq", base, base + 10_000)
    assert set(again) >= {base + seq for seq in ok}
