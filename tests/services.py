"""Access to the machine's real services (PostgreSQL, Redis) for tests.

Under CI=true a missing service fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import socket

import pytest

REDIS_URL = os.environ.get("THINGPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("THINGPORT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (in CI) when a service is not listening."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_redis() -> None:
    require("Redis", "127.0.0.1", 6379)


def require_postgres() -> None:
    require("PostgreSQL", "127.0.0.1", 5432)
