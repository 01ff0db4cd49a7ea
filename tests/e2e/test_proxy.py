"""X-Forwarded-For is believed only from THINGPORT_TRUSTED_PROXIES.

The per-address limit on wrong provision secrets makes the client address observable.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.test_provisioning import make_profile
from tests.api_client import Api
from tests.live import LiveServer

LIMITS = {"THINGPORT_PROVISION_MAX_FAILURES": "2", "THINGPORT_PROVISION_FAILURE_WINDOW": "60"}


def guess(url: str, key: str, forwarded_for: str) -> int:
    response = httpx.post(f"{url}/api/v1/provision", timeout=30,
                          headers={"X-Forwarded-For": forwarded_for},
                          json={"provisionDeviceKey": key, "provisionDeviceSecret": "guess"})
    return response.status_code


def test_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "trusted",
                      env={**LIMITS, "THINGPORT_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        _, key, _ = make_profile(Api(live.url).login())
        assert [guess(live.url, key, "203.0.113.7") for _ in range(3)] == [200, 200, 429]
        # Another client behind the same proxy is counted on its own.
        assert guess(live.url, key, "198.51.100.9") == 200
    finally:
        live.stop()


def test_forwarded_headers_from_anyone_else_are_ignored(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "untrusted", env=LIMITS).start()
    try:
        _, key, _ = make_profile(Api(live.url).login())
        # Claiming a new address on each request does not escape the limit.
        codes = [guess(live.url, key, f"203.0.113.{n}") for n in range(3)]
        assert codes == [200, 200, 429]
    finally:
        live.stop()
