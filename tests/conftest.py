"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argon2
import argon2.profiles
import pytest

from tests.api_client import Api
from tests.live import LiveServer
from tests.seed import Seed, the_seed

#: Folders whose modules take longest (live servers, fuzzing, browsers) run first: pytest-xdist
#: hands whole modules to its workers in this order, and the workers finish together when the
#: long ones do not come last.
SLOW_FIRST = ("tests/fuzz/", "tests/e2e/", "tests/cluster/", "tests/ui/", "tests/migrate/",
              "tests/store/")


class CheapHasher(argon2.PasswordHasher):
    """argon2id with argon2-cffi's testing profile (``profiles.CHEAPEST``) unless told other
    parameters: microseconds a hash instead of tens of milliseconds and 64 MiB."""

    def __init__(self, **parameters: Any) -> None:
        cheapest = argon2.profiles.CHEAPEST
        super().__init__(**{
            "time_cost": cheapest.time_cost, "memory_cost": cheapest.memory_cost,
            "parallelism": cheapest.parallelism, "hash_len": cheapest.hash_len,
            "salt_len": cheapest.salt_len, **parameters})


_patches = pytest.MonkeyPatch()


def pytest_configure(config: pytest.Config) -> None:
    """Apps in this process (in-process tests, the seed store) hash with ``CheapHasher``, as
    Django's test settings use a fast hasher: the lockout and password tests check hundreds of
    passwords. Live servers run in processes of their own and keep the real cost; a hash
    records its parameters, so they check the seed's cheap ones cheaply too."""
    _patches.setattr(argon2, "PasswordHasher", CheapHasher)


def pytest_unconfigure(config: pytest.Config) -> None:
    _patches.undo()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests by ``SLOW_FIRST`` (a stable sort: within a folder, as collected)."""
    def rank(item: pytest.Item) -> int:
        return next((n for n, folder in enumerate(SLOW_FIRST)
                     if item.nodeid.startswith(folder)), len(SLOW_FIRST))

    items.sort(key=rank)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for the read-mostly black-box tests; each test makes its own devices."""
    live = LiveServer(tmp_path_factory.mktemp("server")).start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def tenant_token(server: LiveServer) -> str:
    """An access token of the shared server's tenant administrator: one login (an argon2 check)
    for the session, not one per test."""
    token = Api(server.url).login().token
    assert token is not None
    return token


@pytest.fixture
def live_api(server: LiveServer, tenant_token: str) -> Api:
    """A tenant administrator logged in to the shared server."""
    logged_in = Api(server.url)
    logged_in.token = tenant_token
    logged_in.http.headers["X-Authorization"] = f"Bearer {tenant_token}"
    return logged_in


@pytest.fixture
def api(live_api: Api) -> Api:
    """``live_api`` (tests/api overrides it with an in-process app's)."""
    return live_api


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test's own, for tests that restart or kill it."""
    live = LiveServer(tmp_path / "data")
    yield live
    live.stop()


@pytest.fixture(scope="session")
def seed() -> Seed:
    """A store with the tests' administrators, made once; see ``tests.seed``."""
    return the_seed()
