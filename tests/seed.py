"""A data directory made once per test session, copied for each test that wants a fresh store.

A first start hashes the two administrators' passwords and a login checks one: argon2id, tens of
milliseconds of CPU each on purpose (a second on a busy machine). A copy of a store made once
holds the same administrators, so an app started on it skips its first-start hashing (there
are users already), and the tokens of a login made once are valid on every copy (same users,
same signing key). Tests of the first start itself use an empty directory instead.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.live import SYSADMIN, TENANT_ADMIN
from thingport.app import create_app
from thingport.settings import Settings

#: The in-process apps' signing key (a LiveServer makes its own).
JWT_KEY = "k" * 48


def app_settings(data_dir: Path, **changes: Any) -> Settings:
    """Settings of an in-process app on ``data_dir`` with the tests' administrators."""
    return Settings(
        data_dir=str(data_dir), jwt_signing_key=JWT_KEY,
        sysadmin_password=SYSADMIN[1], tenant_admin_password=TENANT_ADMIN[1],
    ).replace(**changes)


@dataclass(frozen=True)
class Seed:
    """A stopped app's data directory and access tokens of its administrators."""

    directory: Path
    #: e-mail -> an access token signed with ``JWT_KEY``.
    tokens: dict[str, str]

    def copy_to(self, data_dir: Path) -> Path:
        """A store like the seed's in ``data_dir`` (which may exist); returns ``data_dir``."""
        shutil.copytree(self.directory, data_dir, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.lock"))
        return data_dir


async def _start_once(directory: Path) -> dict[str, str]:
    app = create_app(app_settings(directory))
    tokens = {}
    async with app.rest.router.lifespan_context(app.rest), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        for username, password in (SYSADMIN, TENANT_ADMIN):
            response = await client.post("/api/auth/login",
                                         json={"username": username, "password": password})
            response.raise_for_status()
            tokens[username] = response.json()["token"]
    return tokens


def make_seed(directory: Path) -> Seed:
    """Start an app on the empty ``directory``, log its administrators in, stop it."""
    # On a thread of its own: the caller may be inside a running event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        tokens = pool.submit(asyncio.run, _start_once(directory)).result()
    return Seed(directory, tokens)


_made: list[Seed] = []


def the_seed() -> Seed:
    """This process' seed, made on first use (in a temporary directory removed at exit)."""
    if not _made:
        directory = Path(tempfile.mkdtemp(prefix="thingport-seed-"))
        atexit.register(shutil.rmtree, directory, True)
        _made.append(make_seed(directory))
    return _made[0]


def seeded(data_dir: Path) -> Path:
    """``data_dir`` holding a copy of the seed's store, unless it has a store already (a test
    that restarts an app on the same directory); returns ``data_dir``."""
    if not (data_dir / "thingport.db").exists():
        the_seed().copy_to(data_dir)
    return data_dir
