"""Fixtures of the live-server tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer
from tests.services import POSTGRES_URL, require_postgres


async def _schema(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test's own (not started yet), with two workers, on a schema of its own
    in the test database."""
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
