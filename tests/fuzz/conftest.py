"""A live server of each fuzz test's own, set up so that fuzzing reaches deep: the failure
limits that would block the test's address are raised, waits are short, and the device API's
body limits small enough that oversized bodies are cheap to send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer

#: Body limits of the device API (the defaults are 50 MB and 64 KiB).
DEVICE_LIMIT = 65536
RPC_LIMIT = 4096
FUZZ_ENV = {
    # Wrong tokens, keys and passwords are most of what a fuzzer sends: no blocking.
    "TB_TRANSPORT_IP_RATE_LIMITS_ENABLED": "false",
    "THINGPORT_PROVISION_MAX_FAILURES": "1000000",
    "THINGPORT_CLAIM_MAX_FAILURES": "1000000",
    "THINGPORT_LOGIN_MAX_FAILURES": "1000000",
    # Long polls and RPCs that nobody answers end quickly.
    "HTTP_REQUEST_TIMEOUT": "20",
    "HTTP_MAX_REQUEST_TIMEOUT": "60",
    "DEFAULT_SERVER_SIDE_RPC_TIMEOUT": "100",
    "MIN_SERVER_SIDE_RPC_TIMEOUT": "50",
    "CLIENT_SIDE_RPC_TIMEOUT": "20",
    "HTTP_TRANSPORT_MAX_PAYLOAD_SIZE_LIMIT_CONFIGURATION":
        f"/api/v1/*/rpc/**={RPC_LIMIT};/api/v1/**={DEVICE_LIMIT}",
}


@pytest.fixture
def fuzz_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh live server for one fuzz test (whatever the fuzzer creates dies with it)."""
    live = LiveServer(tmp_path / "data", env=FUZZ_ENV).start()
    yield live
    live.stop()
