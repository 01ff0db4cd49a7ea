"""``GET /api/noauth/health`` on a node with its store and the in-process bus (the 503 of a
node that lost Redis is in tests/nodes/test_redis_outage.py)."""

from __future__ import annotations

from tests.api.conftest import Local


async def test_up_without_credentials_and_never_cached_by_a_proxy(local: Local) -> None:
    local.client.headers.pop("X-Authorization")
    response = await local.client.get("/api/noauth/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "UP", "components": {"store": {"status": "UP"}, "bus": {"status": "UP"}}}
    assert response.headers["cache-control"] == "no-store"
