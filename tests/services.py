"""Access to the machine's real services (PostgreSQL, Redis) for tests.

``THINGPORT_TEST_REDIS_URL`` and ``THINGPORT_TEST_POSTGRES_URL`` say where they are; every test
that uses one takes its address from here. Under CI=true a missing service fails the test
instead of skipping it.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("THINGPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("THINGPORT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> None:
    """Skip (locally) or fail (in CI) when the service at ``url`` is not listening."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_redis() -> None:
    """Redis at ``REDIS_URL``."""
    require("Redis", REDIS_URL, 6379)


def require_postgres() -> None:
    """PostgreSQL at ``POSTGRES_URL``."""
    require("PostgreSQL", POSTGRES_URL, 5432)


def redis_url_with_db(db: int) -> str:
    """``REDIS_URL`` with another database number (for tests that want one of their own)."""
    parts = urlsplit(REDIS_URL)
    return parts._replace(path=f"/{db}").geturl()
