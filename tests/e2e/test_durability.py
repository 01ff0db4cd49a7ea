"""A 200 is a promise: killing the server with SIGKILL loses nothing it acknowledged, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_client import Api
from tests.live import LiveServer
from tests.numbered_writes import NumberedWrites
from tests.services import POSTGRES_URL, require_postgres


def test_sigkill_mid_load_loses_no_acknowledged_write(fresh_server: LiveServer) -> None:
    kill_mid_load(fresh_server)


async def _schema(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test's own on a schema of its own in the test database."""
    require_postgres()
    pytest.importorskip("asyncpg")
    schema = f"thingport_test_{uuid.uuid4().hex[:16]}"
    asyncio.run(_schema(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    live = LiveServer(tmp_path / "data", env={
        "THINGPORT_DATABASE_URL": f"{POSTGRES_URL}{separator}search_path={schema}",
        "THINGPORT_WORKERS": "2",
    })
    try:
        yield live
    finally:
        live.stop()
        asyncio.run(_schema(f"DROP SCHEMA {schema} CASCADE"))


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
