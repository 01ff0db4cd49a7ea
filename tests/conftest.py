"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_client import Api
from tests.live import LiveServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for the read-mostly black-box tests; each test makes its own devices."""
    live = LiveServer(tmp_path_factory.mktemp("server")).start()
    yield live
    live.stop()


@pytest.fixture
def api(server: LiveServer) -> Api:
    """A tenant administrator logged in to the shared server."""
    return Api(server.url).login()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test's own, for tests that restart or kill it."""
    live = LiveServer(tmp_path / "data")
    yield live
    live.stop()
