"""Several worker processes keep every promise one process keeps: a poll held by one worker is
woken by a command another accepted, a changed token or a deleted device is seen by every
worker at once, a worker killed mid-load loses nothing it acknowledged and is replaced, and
/metrics counts every worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api_client import Api
from tests.live import LiveServer
from tests.numbered_writes import NumberedWrites
from tests.processes import children, client_port, holder
from tests.services import POSTGRES_URL

WORKERS = 2


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "data", env={
        "THINGPORT_WORKERS": str(WORKERS), "THINGPORT_PROVISION_MAX_FAILURES": "3",
    }).start()
    yield live
    live.stop()


def serving(live: LiveServer) -> list[int]:
    """The primary and its workers (the primary serves requests too)."""
    assert live.process is not None
    return [live.process.pid, *children(live.process.pid)]


def one_client_per_worker(live: LiveServer) -> list[tuple[int, Api]]:
    """A logged-in client for each serving process, each on one keep-alive connection held by
    that process (the kernel picks the process of a new connection)."""
    found: dict[int, Api] = {}
    spare: list[Api] = []
    for _ in range(200):
        api = Api(live.url, limits=httpx.Limits(max_connections=1))
        pid = holder(live.port, client_port(api.http.get("/api/noauth/health")),
                     serving(live))
        if pid is None or pid in found:
            spare.append(api)
            continue
        found[pid] = api.login()
        if len(found) == WORKERS:
            for extra in spare:
                extra.http.close()
            return list(found.items())
    raise AssertionError(f"connections reached only {sorted(found)} of {serving(live)}")


def wait_until(check: Callable[[], bool], timeout: float = 2.0) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "timed out waiting"
        time.sleep(0.01)
    return time.monotonic() - started


def telemetry(api: Api, token: str, body: object) -> int:
    """Post telemetry on ``api``'s own connection (so, to its worker); the status."""
    return api.http.post(f"/api/v1/{token}/telemetry", json=body).status_code


def open_rpc_polls(api: Api) -> float:
    for line in api.http.get("/metrics").text.splitlines():
        if line.startswith('thingport_open_long_polls{kind="rpc"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_poll_held_by_one_worker_is_woken_by_a_command_another_accepted(
    server: LiveServer,
) -> None:
    (pid_a, a), (pid_b, b) = one_client_per_worker(server)
    assert pid_a != pid_b
    device, token = a.create_device()
    rpc_ids = set()
    for poller, commander in ((a, b), (b, a)):
        with ThreadPoolExecutor(1) as pool:
            poll = pool.submit(poller.http.get, f"/api/v1/{token}/rpc",
                               params={"timeout": 20000})
            # /metrics adds up every worker's polls: the one above is waiting.
            wait_until(lambda api=commander: open_rpc_polls(api) == 1)  # type: ignore[misc]
            started = time.monotonic()
            sent = commander.http.post(f"/api/rpc/oneway/{device['id']['id']}",
                                       json={"method": "setGpio", "params": {"pin": 7}})
            answer = poll.result(20)
        # Woken by the bus, not found by a timer (a missed wake-up waits the whole 20 s).
        assert time.monotonic() - started < 2
        assert sent.status_code == 200, sent.text
        assert answer.status_code == 200 and answer.json()["method"] == "setGpio"
        rpc_ids.add(answer.json()["id"])
    assert len(rpc_ids) == 2  # RPC ids per device never repeat, whoever accepted them


def test_a_changed_token_is_seen_by_every_worker_at_once(server: LiveServer) -> None:
    (_, a), (_, b) = one_client_per_worker(server)
    device, token = a.create_device()
    # Both workers have the device in their token caches.
    assert telemetry(a, token, {"t": 1}) == 200
    assert telemetry(b, token, {"t": 1}) == 200
    credentials = a.http.get(f"/api/device/{device['id']['id']}/credentials").json()
    new_token = f"new-{uuid.uuid4().hex}"
    credentials["credentialsId"] = new_token
    a.http.post("/api/device/credentials", json=credentials).raise_for_status()
    took = wait_until(lambda: telemetry(b, token, {"t": 2}) == 401, 1.0)
    assert took < 1.0
    assert telemetry(b, new_token, {"t": 3}) == 200


def test_a_deleted_device_is_seen_by_every_worker_at_once(server: LiveServer) -> None:
    (_, a), (_, b) = one_client_per_worker(server)
    device, token = a.create_device()
    assert telemetry(b, token, {"t": 1}) == 200
    a.http.delete(f"/api/device/{device['id']['id']}").raise_for_status()
    wait_until(lambda: telemetry(b, token, {"t": 2}) == 401, 1.0)


def test_wrong_secrets_are_counted_across_workers(server: LiveServer) -> None:
    (_, a), (_, b) = one_client_per_worker(server)
    wrong = {"provisionDeviceKey": "no-such-key", "provisionDeviceSecret": "guess"}

    def provision(api: Api) -> httpx.Response:
        return api.http.post("/api/v1/provision", json=wrong)

    # Three failures from one address, on two workers: the primary counts them all.
    for api in (a, b, a):
        answer = provision(api)
        assert answer.status_code == 200 and answer.json()["status"] == "NOT_FOUND"
    assert provision(b).status_code == 429
    assert provision(a).status_code == 429


def test_metrics_count_every_worker(server: LiveServer) -> None:
    (_, a), (_, b) = one_client_per_worker(server)
    _, token = a.create_device()
    for api, count in ((a, 3), (b, 4)):
        for _ in range(count):
            assert telemetry(api, token, {"t": 1}) == 200

    def telemetry_requests(page: str) -> float:
        total = 0.0
        for line in page.splitlines():
            if line.startswith("thingport_http_requests_total{") and "telemetry" in line \
                    and 'status="200"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    assert telemetry_requests(a.http.get("/metrics").text) == 7
    assert telemetry_requests(b.http.get("/metrics").text) == 7


def test_a_worker_killed_mid_load_loses_nothing_acknowledged_and_is_replaced(
    server: LiveServer,
) -> None:
    api = Api(server.url).login()
    device, token = api.create_device("durable")
    load = NumberedWrites(f"{server.url}/api/v1/{token}/telemetry", threads=8,
                          new_connection_each=True)
    with load:
        wait_until(lambda: len(load) >= 200, 10)
        assert server.process is not None
        # The primary answers before its worker has started listening (half a second later
        # on a busy machine): the victim is a worker that serves.
        wait_until(lambda: any(holds_listener(p) for p in children(server.process.pid)), 10)
        workers = children(server.process.pid)
        victim = next(pid for pid in workers if pid in serving(server)
                      and os.path.exists(f"/proc/{pid}") and holds_listener(pid))
        os.kill(victim, signal.SIGKILL)
        before = len(load)
        # A new worker takes its place, and the load goes on.
        wait_until(lambda: any(holds_listener(p) for p in children(server.process.pid)
                               if p != victim), 10)
        wait_until(lambda: len(load) >= before + 200, 10)
    lost = load.lost(api, device["id"]["id"])
    assert not lost, f"{len(lost)} acknowledged writes were lost, e.g. {lost[:10]}"
    assert "exited with -9; starting another" in server.log()


@pytest.mark.parametrize("replaced", [False, True], ids=["forked", "replacement"])
def test_the_workers_die_with_the_primary(server: LiveServer, replaced: bool) -> None:
    assert server.process is not None
    primary = server.process.pid
    wait_until(lambda: any(holds_listener(p) for p in children(primary)), 10)
    running = children(primary)
    if replaced:  # the worker forked at the start is replaced by a new interpreter
        os.kill(running[0], signal.SIGKILL)
        wait_until(lambda: any(p not in running and holds_listener(p)
                               for p in children(primary)), 10)
        running = children(primary)
    server.kill()
    wait_until(lambda: not any(alive(pid) for pid in running), 5)
    # Nothing holds the port's listeners any more: a device reaches the next server, or none.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/api/noauth/health", timeout=2)


def test_the_workers_share_the_postgresql_connections_of_one_node(
    postgres_server: LiveServer,
) -> None:
    """THINGPORT_DATABASE_POOL_SIZE is the node's, dealt out among its processes, as the
    sizing rule (nodes x pool size under max_connections) needs."""
    name = f"thingport_{uuid.uuid4().hex[:12]}"
    postgres_server.env["THINGPORT_DATABASE_URL"] += f"&application_name={name}"
    postgres_server.env["THINGPORT_DATABASE_POOL_SIZE"] = "6"
    postgres_server.start()
    api = Api(postgres_server.url).login()
    _, token = api.create_device()
    for n in range(20):  # a connection each: the kernel deals them to both processes
        assert httpx.post(f"{postgres_server.url}/api/v1/{token}/telemetry",
                          json={"n": n}).status_code == 200
    assert 0 < asyncio.run(connections_named(name)) <= 6


async def connections_named(name: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name))
    finally:
        await conn.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a killed process left for its new parent to reap does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def holds_listener(pid: int) -> bool:
    """Whether ``pid`` is a worker that serves: it listens on a TCP socket (its inherited
    listener counts once the worker has started listening on it)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    listening.add(f"socket:[{fields[9]}]")
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") in listening
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False
