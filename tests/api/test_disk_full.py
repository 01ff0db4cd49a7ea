"""A full disk (in-process, SQLite): writes are answered 503 with ThingsBoard's error JSON and
no traceback is logged, reads of what is stored keep working (history included, though the
sample log cannot be merged), and once space returns the next write is a 200, without a
restart and without losing anything acknowledged before.

The disk is real where the test may mount one: a 24 MiB tmpfs (root only). Elsewhere SQLite's
``PRAGMA max_page_count`` on the writer's connection makes SQLite itself fail with SQLITE_FULL,
the same error path a full disk takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import login
from tests.live import SYSADMIN, TENANT_ADMIN
from thingport import app as app_module
from thingport.app import create_app
from thingport.settings import Settings
from thingport.store.sqlite import SQLiteStore, writer

DISK_MB = 24


@contextlib.contextmanager
def small_disk(path: Path) -> Iterator[bool]:
    """``path`` as a small tmpfs of its own when this process may mount one (True), else a
    plain directory (False)."""
    path.mkdir()
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount"):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs",
                               str(path)], capture_output=True, check=False)
        mounted = done.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], capture_output=True, check=False)


class Disk:
    """Fills the disk and frees it again: with a filler file on a real one, with
    ``max_page_count`` otherwise."""

    def __init__(self, path: Path, mounted: bool, store: SQLiteStore) -> None:
        self.filler = path / "filler"
        self.mounted = mounted
        self.store = store

    async def fill(self) -> None:
        if not self.mounted:
            await self._page_limit(None)
            return
        with open(self.filler, "wb", buffering=0) as out:
            for block in (1 << 20, 1 << 16, 1 << 12):
                chunk = b"\0" * block
                with contextlib.suppress(OSError):
                    while out.write(chunk):
                        pass
        assert shutil.disk_usage(self.filler.parent).free < 1 << 16

    async def free(self) -> None:
        if not self.mounted:
            await self._page_limit(2**30)
            return
        self.filler.unlink()

    async def _page_limit(self, pages: int | None) -> None:
        def op(tx: Any) -> None:
            count = tx.conn.execute("PRAGMA page_count").fetchone()[0]
            tx.conn.execute(f"PRAGMA max_page_count = {pages or count + 2}").fetchone()

        await self.store._write(op)


class Sweeps:
    """Counts the expiry sweeps' runs (``app.sweep``), however each ends."""

    def __init__(self, services: Any) -> None:
        self.count = 0
        expire = services.rpc.expire

        async def counted() -> Any:
            self.count += 1
            return await expire()

        services.rpc.expire = counted

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.count < count:
            assert asyncio.get_running_loop().time() < deadline, "the sweep did not run"
            await asyncio.sleep(0.01)


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> AsyncIterator[tuple[httpx.AsyncClient, Disk, Sweeps]]:
    # No timed merge: the samples posted before the disk fills stay in the sample log, so the
    # read afterwards has to serve them without merging.
    monkeypatch.setattr(writer, "MERGE_INTERVAL_S", 3600.0)
    # The expiry sweep, often: it runs while the disk is full.
    monkeypatch.setattr(app_module, "SWEEP_INTERVAL_S", 0.01)
    with small_disk(tmp_path / "disk") as mounted:
        settings = Settings(
            data_dir=str(tmp_path / "disk"), jwt_signing_key="k" * 48,
            sysadmin_password=SYSADMIN[1], tenant_admin_password=TENANT_ADMIN[1],
        )
        app = create_app(settings)
        async with app.rest.router.lifespan_context(app.rest):
            client = await login(app, *TENANT_ADMIN)
            store = app.rest.state.services.store
            assert isinstance(store, SQLiteStore)
            try:
                yield client, Disk(tmp_path / "disk", mounted, store), Sweeps(
                    app.rest.state.services)
            finally:
                await client.aclose()


async def history(client: httpx.AsyncClient, device_id: str, key: str) -> httpx.Response:
    return await client.get(f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
                            params={"keys": key, "startTs": 0, "endTs": 10**13,
                                    "limit": 100_000})


async def test_a_full_disk_is_a_503_reads_go_on_and_writes_come_back(
    server: tuple[httpx.AsyncClient, Disk, Sweeps], caplog: pytest.LogCaptureFixture
) -> None:
    client, disk, sweeps = server
    created = await client.post("/api/device", json={"name": "d"})
    device_id = created.json()["id"]["id"]
    token = (await client.get(f"/api/device/{device_id}/credentials")).json()["credentialsId"]
    telemetry = f"/api/v1/{token}/telemetry"
    # 3,000 points with 200-character strings: merging them needs more pages than are free.
    before = [{"ts": ts, "values": {"t": f"{ts:0200d}"}} for ts in range(1, 3001)]
    assert (await client.post(telemetry, json=before)).status_code == 200
    assert (await client.post(f"/api/v1/{token}/attributes", json={"a": 1})).status_code == 200
    # A command that expires while the disk is full (filling it takes milliseconds): the
    # expiry sweep has to write then.
    expires = int(time.time() * 1000) + 1000
    command = await client.post(f"/api/rpc/oneway/{device_id}", json={
        "method": "m", "params": {}, "persistent": True, "expirationTime": expires})
    assert command.status_code == 200, command.text

    caplog.set_level(logging.INFO)
    await disk.fill()
    big = {f"k{i}": "x" * 500_000 for i in range(4)}
    refused = await client.post(telemetry, json=big)
    assert refused.status_code == 503
    body = refused.json()
    assert body["status"] == 503 and body["errorCode"] == 2 and "timestamp" in body
    assert "disk is full" in body["message"]

    # Reads of what is stored still work, the unmerged samples included (read from the log,
    # since merging it fails).
    merged: list[bool] = []
    merge = disk.store._merged

    async def spied() -> bool:
        merged.append(await merge())
        return merged[-1]

    disk.store._merged = spied  # type: ignore[method-assign]
    read = await history(client, device_id, "t")
    assert read.status_code == 200
    assert len(read.json()["t"]) == 3000
    assert merged == [False]
    del disk.store._merged
    latest = await client.get(f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries")
    assert latest.status_code == 200 and set(latest.json()) == {"t"}
    attributes = await client.get(f"/api/v1/{token}/attributes", params={"clientKeys": "a"})
    assert attributes.json() == {"client": {"a": 1}}
    # The expiry sweep (every 10 ms here) ran meanwhile, and its writes failed too.
    await asyncio.sleep(max(0.0, expires / 1000 - time.time()))
    await sweeps.wait_for(sweeps.count + 3)
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    said = [r for r in caplog.records if "sweep" in r.getMessage()]
    assert said and "disk is full" in said[0].getMessage()
    assert {r.levelname for r in said} == {"WARNING"}

    await disk.free()
    await sweeps.wait_for(sweeps.count + 3)
    assert "disk is full" in said[-1].getMessage()  # the command kept it failing
    assert [r.getMessage() for r in caplog.records if "sweep" in r.getMessage()][-1] == \
        "expiry sweep works again"
    expired = await client.get(f"/api/rpc/persistent/{command.json()['rpcId']}")
    assert expired.json()["status"] == "EXPIRED", expired.json()
    after = [{"ts": 5000, "values": {"t": "after", "u": 1}}]
    assert (await client.post(telemetry, json=after)).status_code == 200
    assert (await client.post(telemetry, json=big)).status_code == 200
    read = await history(client, device_id, "t")
    assert read.status_code == 200
    assert sorted(p["ts"] for p in read.json()["t"]) == [*range(1, 3001), 5000]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
