"""``thingport migrate``: a whole install copied between stores through the Store contract,
safe to rerun, verified by counts."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.migrate.install import POINTS, Install, assert_same, populate
from tests.services import POSTGRES_URL, require_postgres
from thingport.domain.model import PageLink
from thingport.services.migration import Migration, MigrationError
from thingport.store import store_from_url
from thingport.store.base import Store


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[tuple[Store, Install, str]]:
    url = f"sqlite:///{tmp_path / 'source' / 'thingport.db'}"
    (tmp_path / "source").mkdir()
    store = store_from_url(url)
    await store.open()
    install = await populate(store)
    yield store, install, url
    await store.close()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a PostgreSQL database of this test's own, dropped afterwards."""
    require_postgres()
    import asyncpg

    name = f"thingport_migrate_{uuid.uuid4().hex[:12]}"
    admin_url = POSTGRES_URL.rsplit("/", 1)[0] + "/postgres"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty store's URL: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'copy' / 'thingport.db'}"
        return
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def target(target_url: str, tmp_path: Path) -> AsyncIterator[tuple[Store, str]]:
    if target_url.startswith("sqlite:"):
        (tmp_path / "copy").mkdir(exist_ok=True)
    store = store_from_url(target_url)
    await store.open()
    yield store, target_url
    await store.close()


async def test_everything_is_copied_and_the_counts_agree(
    source: tuple[Store, Install, str], target: tuple[Store, str],
) -> None:
    src, install, _ = source
    dst, _ = target
    migration = Migration(src, dst, batch_size=1000)
    report = await migration.run()
    assert report.renumbered_rpcs == 0
    await assert_same(src, dst, install)
    verification = await migration.verify()
    assert verification.mismatches == []
    counts = verification.target.of
    assert counts["tenants"] == 2 and counts["devices"] == 6 and counts["users"] == 5
    assert counts["time-series points"] == POINTS + 5 * 5 + 6 * 5
    assert counts["RPCs"] == 6 * 4 and counts["attributes"] == 6 * 12
    # The request ids go on where the source's do: the next RPC of a device gets the same id.
    device = install.devices[0]
    model = (await src.find_rpcs(device.id, newest())).data[0]
    fresh = [await store.create_rpc(dataclasses.replace(model, id=uuid.uuid4()))
             for store in (src, dst)]
    assert fresh[0].request_id == fresh[1].request_id == 7


def newest() -> PageLink:
    """The first page of one: a device's newest RPC."""
    return PageLink(1)


async def test_a_rerun_changes_nothing_and_skips_what_is_complete(
    source: tuple[Store, Install, str], target: tuple[Store, str],
) -> None:
    src, install, _ = source
    dst, _ = target
    await Migration(src, dst, batch_size=1000).run()
    again = Migration(src, dst, batch_size=1000)
    report = await again.run()
    assert report.keys_already_complete == 6 * 5  # every key of every device
    assert report.renumbered_rpcs == 0
    await assert_same(src, dst, install)
    assert (await again.verify()).mismatches == []


class Interrupted(Exception):
    pass


class DiesAfter:
    """Progress that kills the copy after ``devices`` devices."""

    def __init__(self, devices: int) -> None:
        self.left = devices
        self.stage = ""

    def begin(self, label: str, total: int) -> None:
        self.stage = label

    def advance(self, steps: int = 1) -> None:
        if self.stage == "devices":
            self.left -= steps
            if self.left <= 0:
                raise Interrupted

    def end(self) -> None:
        pass


async def test_an_interrupted_copy_is_completed_by_a_rerun(
    source: tuple[Store, Install, str], target: tuple[Store, str],
) -> None:
    src, install, _ = source
    dst, _ = target
    with pytest.raises(Interrupted):
        await Migration(src, dst, concurrency=1, progress=DiesAfter(2)).run()
    copied = [d for d in install.devices if await dst.get_device(d.id) is not None]
    assert 2 <= len(copied) < len(install.devices)
    # As if it had died in the middle of a device's points (they are copied oldest first).
    await dst.delete_telemetry(copied[0].id, ["t"], 1_600_000_000_002, None)
    report = await Migration(src, dst, batch_size=1000).run()
    assert report.keys_already_complete > 0 and report.renumbered_rpcs == 0
    await assert_same(src, dst, install)


async def test_a_target_with_another_install_is_refused(
    source: tuple[Store, Install, str], tmp_path: Path,
) -> None:
    src, _, _ = source
    other = store_from_url(f"sqlite:///{tmp_path / 'other.db'}")
    await other.open()
    try:
        await populate(other)
        with pytest.raises(MigrationError, match="holds tenants the source does not"):
            await Migration(src, other).run()
    finally:
        await other.close()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "thingport", "migrate", *args],
                          capture_output=True, text=True, timeout=300, check=False)


async def test_the_command_copies_verifies_and_fails_on_a_mismatch(
    source: tuple[Store, Install, str], target_url: str, tmp_path: Path,
) -> None:
    src, _, source_url = source
    await src.close()  # the command opens it itself, as it would with the server stopped
    done = run_cli("--from", source_url, "--to", target_url)
    assert done.returncode == 0, done.stderr
    assert "the target holds everything the source does" in done.stdout
    assert "time-series points" in done.stdout and "MISMATCH" not in done.stdout
    rerun = run_cli("--from", source_url, "--to", target_url)
    assert rerun.returncode == 0, rerun.stderr
    assert "were complete in the target already" in rerun.stderr

    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    compared = run_cli("--from", source_url, "--to", empty, "--verify-only")
    assert compared.returncode == 1
    assert "MISMATCH" in compared.stdout
    assert "differs from the source in: tenants" in compared.stderr
    missing = run_cli("--from", f"sqlite:///{tmp_path / 'nothing.db'}", "--to", empty)
    assert missing.returncode == 2 and "no such SQLite file" in missing.stderr
