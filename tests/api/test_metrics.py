"""``GET /metrics``: Prometheus' text format, read back with the client library's own parser."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Local, login
from tests.live import SYSADMIN, TENANT_ADMIN
from tests.seed import seeded
from thingport.app import create_app
from thingport.settings import Settings


@pytest.fixture
async def metered(tmp_path: Path) -> AsyncIterator[Local]:
    """An in-process server whose provisioning limit blocks after one wrong secret."""
    settings = Settings(
        data_dir=str(seeded(tmp_path)), jwt_signing_key="k" * 48, sysadmin_password=SYSADMIN[1],
        tenant_admin_password=TENANT_ADMIN[1], provision_max_failures=1, login_max_failures=1,
    )
    app = create_app(settings)
    async with app.rest.router.lifespan_context(app.rest):
        client = await login(app, *TENANT_ADMIN)
        try:
            yield Local(app, app.rest.state.services, client)
        finally:
            await client.aclose()


async def scrape(local: Local) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The page, and every sample by (name, sorted labels)."""
    response = await local.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


DEVICE_ROUTE = {"api": "device", "route": "/api/v1/{token}/telemetry", "method": "POST"}


async def test_device_api_requests_by_action_and_status(metered: Local) -> None:
    _, token = await metered.create_device()
    for _ in range(3):
        assert (await metered.client.post(f"/api/v1/{token}/telemetry",
                                          json={"t": 1})).status_code == 200
    assert (await metered.client.post("/api/v1/unknown-token/telemetry",
                                      json={"t": 1})).status_code == 401
    assert (await metered.client.post(f"/api/v1/{token}/nothing")).status_code == 404
    text, samples = await scrape(metered)
    assert value(samples, "thingport_http_requests_total", **DEVICE_ROUTE, status="200") == 3
    assert value(samples, "thingport_http_requests_total", **DEVICE_ROUTE, status="401") == 1
    assert value(samples, "thingport_http_requests_total", api="device", route="unmatched",
                 method="POST", status="404") == 1
    # The latency histogram counts the same requests; a commit takes more than no time.
    assert value(samples, "thingport_http_request_duration_seconds_count", **DEVICE_ROUTE) == 4
    assert value(samples, "thingport_http_request_duration_seconds_sum", **DEVICE_ROUTE) > 0
    assert value(samples, "thingport_http_request_duration_seconds_bucket", **DEVICE_ROUTE,
                 le="+Inf") == 4
    # Never a token in a label.
    assert token not in text and "unknown-token" not in text
    # The first lookup of a token goes to the store, the next ones hit the cache.
    assert value(samples, "thingport_token_cache_lookups_total", result="hit") >= 2
    assert value(samples, "thingport_token_cache_lookups_total", result="miss") >= 2
    assert value(samples, "thingport_store_commits_total") > 0
    assert value(samples, "thingport_store_committed_operations_total") >= \
        value(samples, "thingport_store_commits_total")
    assert value(samples, "thingport_store_largest_commit_batch") >= 1
    # The commits are in the batch-size and duration histograms (the writer may commit again
    # between reading the counters and the histograms, so no equality across them).
    for name in ("thingport_store_commit_batch_size", "thingport_store_commit_duration_seconds"):
        count = value(samples, f"{name}_count")
        assert count >= 1
        assert value(samples, f"{name}_bucket", le="+Inf") == count
        assert value(samples, f"{name}_sum") > 0
    assert value(samples, "thingport_store_commit_batch_size_sum") >= \
        value(samples, "thingport_store_commit_batch_size_count")


async def test_rest_requests_by_route_template(metered: Local) -> None:
    device, _ = await metered.create_device()
    device_id = device["id"]["id"]
    assert (await metered.client.get(f"/api/device/{device_id}")).status_code == 200
    assert (await metered.client.get(f"/api/device/{uuid.uuid4()}")).status_code == 404
    assert (await metered.client.get(f"/api/no/such/{device_id}")).status_code == 404
    text, samples = await scrape(metered)
    route = {"api": "rest", "route": "/api/device/{deviceId}", "method": "GET"}
    assert value(samples, "thingport_http_requests_total", **route, status="200") >= 1
    assert value(samples, "thingport_http_requests_total", **route, status="404") == 1
    assert value(samples, "thingport_http_requests_total", api="rest", route="unmatched",
                 method="GET", status="404") == 1
    assert device_id not in text


async def test_rate_limit_refusals_bus_messages_and_open_polls(metered: Local) -> None:
    profile = await metered.client.post("/api/deviceProfile", json={
        "name": f"p-{uuid.uuid4().hex[:6]}", "type": "DEFAULT", "transportType": "DEFAULT",
        "provisionType": "ALLOW_CREATE_NEW_DEVICES", "provisionDeviceKey": "key",
        "profileData": {"provisionConfiguration": {"type": "ALLOW_CREATE_NEW_DEVICES",
                                                   "provisionDeviceSecret": "secret"}}})
    assert profile.status_code == 200
    wrong = {"provisionDeviceKey": "key", "provisionDeviceSecret": "wrong"}
    assert (await metered.client.post("/api/v1/provision", json=wrong)).status_code == 200
    assert (await metered.client.post("/api/v1/provision", json=wrong)).status_code == 429
    device, token = await metered.create_device()
    await metered.client.post(
        f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/attributes/SHARED_SCOPE",
        json={"target": 21})
    wrong_login = {"username": TENANT_ADMIN[0], "password": "wrong"}
    assert (await metered.client.post("/api/auth/login", json=wrong_login)).status_code == 401
    assert (await metered.client.post("/api/auth/login", json=wrong_login)).status_code == 429
    _, samples = await scrape(metered)
    assert value(samples, "thingport_rate_limited_requests_total", limit="provisioning") == 1
    assert value(samples, "thingport_rate_limited_requests_total", limit="login") == 1
    assert value(samples, "thingport_bus_messages_published_total") >= 1
    assert value(samples, "thingport_bus_messages_received_total") >= 1
    assert value(samples, "thingport_open_websockets") == 0
    # A poll is counted while it waits (tests/e2e/test_shutdown.py sees that), not after.
    poll = metered.client.get(f"/api/v1/{token}/rpc", params={"timeout": 200})
    answer = await poll
    assert answer.status_code == 408
    _, samples = await scrape(metered)
    assert value(samples, "thingport_open_long_polls", kind="rpc") == 0
    assert value(samples, "thingport_http_requests_total", api="device",
                 route="/api/v1/{token}/rpc", method="GET", status="408") == 1


async def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=str(tmp_path), metrics_enabled=False))
    transport = httpx.ASGITransport(app=app)
    async with app.rest.router.lifespan_context(app.rest), \
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/api/noauth/health")).status_code == 200
