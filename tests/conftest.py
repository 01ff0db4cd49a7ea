"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_client import Api
from tests.live import LiveServer
from tests.seed import Seed, the_seed

#: Folders whose modules take longest (live servers, fuzzing, browsers) run first: pytest-xdist
#: hands whole modules to its workers in this order, and the workers finish together when the
#: long ones do not come last.
SLOW_FIRST = ("tests/fuzz/", "tests/e2e/", "tests/cluster/", "tests/ui/", "tests/migrate/",
              "tests/store/")


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
