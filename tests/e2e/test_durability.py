"""A 200 is a promise: killing the server with SIGKILL loses nothing it acknowledged, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import time

from tests.api_client import Api
from tests.live import LiveServer
from tests.numbered_writes import NumberedWrites


def test_sigkill_mid_load_loses_no_acknowledged_write(fresh_server: LiveServer) -> None:
    kill_mid_load(fresh_server)


def test_sigkill_mid_load_loses_no_acknowledged_write_on_postgresql(
    postgres_server: LiveServer,
) -> None:
    kill_mid_load(postgres_server)


def kill_mid_load(fresh_server: LiveServer) -> None:
    """Writers post numbered samples, the server is killed with SIGKILL mid-load and started
    again: every sample answered 200 must be there. Two workers: the primary dies, and the
    kernel kills the worker with it."""
    fresh_server.env["THINGPORT_WORKERS"] = "2"
    fresh_server.start()
    api = Api(fresh_server.url).login()
    device, token = api.create_device("durable")
    load = NumberedWrites(f"{fresh_server.url}/api/v1/{token}/telemetry", threads=16)
    with load:
        deadline = time.monotonic() + 10
        while len(load) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        fresh_server.kill()
    assert len(load) >= 300, "the load did not get going"

    fresh_server.start()
    lost = load.lost(Api(fresh_server.url).login(), device["id"]["id"])
    assert not lost, f"{len(lost)} acknowledged writes were lost, e.g. {lost[:10]}"
