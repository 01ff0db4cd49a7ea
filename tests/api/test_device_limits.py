"""The device API's limits, in process: wrong access tokens per address, wrong claim secrets
per address, and the rate limits per device and per tenant (settings and tenant profiles)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Local, tenant_admin_client
from tests.live import SYSADMIN, TENANT_ADMIN
from tests.seed import seeded
from tests.services import REDIS_URL, require_redis
from thingport.app import create_app
from thingport.settings import Settings

NAT, OTHER = "203.0.113.7", "198.51.100.1"


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **settings: Any) -> AsyncIterator[Local]:
    """An in-process server with these settings and a tenant administrator logged in."""
    app = create_app(Settings(
        data_dir=str(seeded(tmp_path)), jwt_signing_key="k" * 48, sysadmin_password=SYSADMIN[1],
        tenant_admin_password=TENANT_ADMIN[1], **settings,
    ))
    async with app.rest.router.lifespan_context(app.rest):
        client = tenant_admin_client(app)
        local = Local(app, app.rest.state.services, client)
        try:
            yield local
        finally:
            for each in [client, *local.others]:
                await each.aclose()


def device_client(local: Local, address: str) -> httpx.AsyncClient:
    """A client of the app whose requests come from ``address``."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=local.app, client=(address, 40000)),
        base_url="http://testserver")
    local.others.append(client)
    return client


async def latest_keys(local: Local, device: dict[str, Any]) -> set[str]:
    response = await local.client.get(
        f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/values/timeseries")
    response.raise_for_status()
    return set(response.json())


def assert_too_many(response: httpx.Response, longest: int) -> None:
    """429 with Retry-After and ThingsBoard's error JSON."""
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= longest
    error = response.json()
    assert error["status"] == 429 and error["errorCode"] == 33
    assert error["message"] and isinstance(error["timestamp"], int)


async def test_wrong_tokens_block_the_address_not_its_known_devices(tmp_path: Path) -> None:
    async with running(tmp_path, max_wrong_credentials_per_ip=3,
                       ip_block_timeout_ms=60000) as local:
        nat, other = device_client(local, NAT), device_client(local, OTHER)
        neighbour, neighbour_token = await local.create_device("neighbour")
        far, far_token = await local.create_device("far")
        late, late_token = await local.create_device("late")
        assert (await nat.post(f"/api/v1/{neighbour_token}/telemetry",
                               json={"before": 1})).status_code == 200
        assert (await other.post(f"/api/v1/{far_token}/telemetry",
                                 json={"before": 1})).status_code == 200
        assert (await other.post(f"/api/v1/{late_token}/telemetry",
                                 json={"before": 1})).status_code == 200
        # The guesser behind the NAT: three wrong tokens are 401 (empty), then 429.
        for n in range(3):
            wrong = await nat.post(f"/api/v1/guess{n}/telemetry", json={"x": 1})
            assert wrong.status_code == 401 and wrong.content == b""
        misses = local.services.devices.cache_misses
        for n in range(3, 6):
            assert_too_many(await nat.post(f"/api/v1/guess{n}/telemetry", json={"x": 1}), 60)
        assert local.services.devices.cache_misses == misses  # no lookup once blocked
        # A valid token used from another address tells the guesser nothing either.
        assert_too_many(await nat.post(f"/api/v1/{far_token}/telemetry", json={"x": 1}), 60)
        # The neighbour, seen from the NAT before the block, is not locked out...
        response = await nat.post(f"/api/v1/{neighbour_token}/telemetry", json={"during": 2})
        assert response.status_code == 200
        assert "during" in await latest_keys(local, neighbour)
        # ... and every other address goes on as before.
        for token, device in ((far_token, far), (late_token, late)):
            response = await other.post(f"/api/v1/{token}/telemetry", json={"during": 2})
            assert response.status_code == 200
            assert "during" in await latest_keys(local, device)
        # Nothing a refused request carried was stored.
        assert "x" not in await latest_keys(local, far)
        metrics = local.app.device_api.metrics.rate_limited
        assert metrics["access-token"] == 4


async def test_the_wrong_token_limit_can_be_turned_off(tmp_path: Path) -> None:
    async with running(tmp_path, ip_limits_enabled=False,
                       max_wrong_credentials_per_ip=1) as local:
        nat = device_client(local, NAT)
        for n in range(5):
            assert (await nat.get(f"/api/v1/guess{n}/attributes")).status_code == 401


async def test_wrong_claim_secrets_are_limited_per_address(tmp_path: Path) -> None:
    async with running(tmp_path, claim_max_failures=2, claim_failure_window_s=60) as local:
        device, token = await local.create_device("claimable")
        assert (await local.client.post(f"/api/v1/{token}/claim", json={
            "secretKey": "right", "durationMs": 60000})).status_code == 200
        _, customer = await local.customer_user("Customer")
        url = "/api/customer/device/claimable/claim"
        for _ in range(2):
            failed = await customer.post(url, json={"secretKey": "wrong"})
            assert failed.status_code == 400 and failed.json() == "FAILURE"
        # Blocked: even the right secret waits, so that no guess is worth sending.
        assert_too_many(await customer.post(url, json={"secretKey": "right"}), 60)
        assert local.app.device_api.metrics.rate_limited.get("claim") == 1  # REST counts too
        unclaimed = await local.client.get(f"/api/device/{device['id']['id']}")
        assert unclaimed.json()["customerId"]["id"] == "13814000-1dd2-11b2-8080-808080808080"


async def test_a_device_over_its_telemetry_limit_gets_429_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, device_telemetry_msg_rate_limit="2:60") as local:
        device, token = await local.create_device()
        _, neighbour_token = await local.create_device()
        for key in ("first", "second"):
            assert (await local.client.post(f"/api/v1/{token}/telemetry",
                                            json={key: 1})).status_code == 200
        refused = await local.client.post(f"/api/v1/{token}/telemetry", json={"third": 1})
        assert_too_many(refused, 30)
        assert "transportDeviceTelemetryMsgRateLimit" in refused.json()["message"]
        assert await latest_keys(local, device) == {"first", "second"}
        # Per device: another one of the tenant has its own budget.
        assert (await local.client.post(f"/api/v1/{neighbour_token}/telemetry",
                                        json={"n": 1})).status_code == 200
        # Messages without data points are another budget (none configured here).
        assert (await local.client.get(f"/api/v1/{token}/attributes")).status_code == 200


async def test_data_points_are_counted_per_entry(tmp_path: Path) -> None:
    async with running(tmp_path, device_telemetry_data_points_rate_limit="5:60") as local:
        device, token = await local.create_device()
        url = f"/api/v1/{token}/telemetry"
        assert (await local.client.post(url, json={"a": 1, "b": 2, "c": 3})).status_code == 200
        assert_too_many(await local.client.post(url, json={"d": 1, "e": 2, "f": 3}), 60)
        assert (await local.client.post(url, json={"d": 1, "e": 2})).status_code == 200
        # Attribute uploads count as telemetry, as in ThingsBoard: the budget is spent.
        attributes = await local.client.post(f"/api/v1/{token}/attributes", json={"z": 1})
        assert attributes.status_code == 429
        too_big = await local.client.post(url, json={f"k{n}": n for n in range(6)})
        assert too_big.status_code == 429 and "fewer than" in too_big.json()["message"]
        assert await latest_keys(local, device) == {"a", "b", "c", "d", "e"}


async def test_messages_without_data_points_have_their_own_limit(tmp_path: Path) -> None:
    async with running(tmp_path, device_msg_rate_limit="1:60") as local:
        _, token = await local.create_device()
        assert (await local.client.get(f"/api/v1/{token}/attributes")).status_code == 200
        assert_too_many(await local.client.get(f"/api/v1/{token}/attributes"), 60)
        assert_too_many(await local.client.post(f"/api/v1/{token}/rpc/1", json={}), 60)
        assert (await local.client.post(f"/api/v1/{token}/telemetry",
                                        json={"t": 1})).status_code == 200


async def test_a_tenant_profile_limits_all_of_its_tenants_devices(tmp_path: Path) -> None:
    async with running(tmp_path) as local:
        admin = await local.login(*SYSADMIN)
        bad = await admin.post("/api/tenantProfile", json={
            "name": "Strict", "profileData": {"configuration": {
                "type": "DEFAULT", "transportTenantTelemetryMsgRateLimit": "two per minute"}}})
        assert bad.status_code == 400
        assert "transportTenantTelemetryMsgRateLimit" in bad.json()["message"]
        created = await admin.post("/api/tenantProfile", json={
            "name": "Strict", "profileData": {"configuration": {
                "type": "DEFAULT", "transportTenantTelemetryMsgRateLimit": "2:60"}}})
        assert created.status_code == 200, created.text
        profile_id = created.json()["id"]
        tenant = (await admin.get("/api/tenants", params={"pageSize": 10, "page": 0})
                  ).json()["data"][0]
        first, first_token = await local.create_device()
        _, second_token = await local.create_device()
        # Before the tenant has the profile, nothing is limited.
        for _ in range(3):
            assert (await local.client.post(f"/api/v1/{first_token}/telemetry",
                                            json={"before": 1})).status_code == 200
        moved = await admin.post("/api/tenant", json={**tenant, "tenantProfileId": profile_id})
        assert moved.status_code == 200
        assert moved.json()["tenantProfileId"] == profile_id
        for token in (first_token, second_token):
            assert (await local.client.post(f"/api/v1/{token}/telemetry",
                                            json={"after": 1})).status_code == 200
        refused = await local.client.post(f"/api/v1/{first_token}/telemetry",
                                          json={"refused": 1})
        assert_too_many(refused, 30)
        assert "transportTenantTelemetryMsgRateLimit" in refused.json()["message"]
        assert "refused" not in await latest_keys(local, first)


async def test_unlimited_is_the_default(tmp_path: Path) -> None:
    async with running(tmp_path) as local:
        assert not local.services.rate_limits.active
        _, token = await local.create_device()
        for n in range(50):
            assert (await local.client.post(f"/api/v1/{token}/telemetry",
                                            json={"n": n})).status_code == 200


@pytest.mark.parametrize("variable", [
    "THINGPORT_TRANSPORT_DEVICE_MSG_RATE_LIMIT",
    "THINGPORT_TRANSPORT_TENANT_TELEMETRY_DATA_POINTS_RATE_LIMIT",
])
def test_a_bad_setting_names_its_variable(variable: str) -> None:
    from thingport.errors import ConfigError

    with pytest.raises(ConfigError, match=f"^{variable}: expected capacity:seconds"):
        Settings.from_env({variable: "100/s"})
    assert Settings.from_env({variable: " 100:1, 3000:60 "}) is not None


async def test_nodes_share_the_wrong_token_count_through_redis(tmp_path: Path) -> None:
    require_redis()
    nat = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(256)}"
    other = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(256)}"
    async with contextlib.AsyncExitStack() as stack:
        first, second = [await stack.enter_async_context(running(
            tmp_path / name, redis_url=REDIS_URL, max_wrong_credentials_per_ip=3,
            ip_block_timeout_ms=30000)) for name in ("a", "b")]
        neighbour, neighbour_token = await second.create_device("neighbour")
        _, far_token = await second.create_device("far")
        on_second = device_client(second, nat)
        assert (await on_second.post(f"/api/v1/{neighbour_token}/telemetry",
                                     json={"before": 1})).status_code == 200
        assert (await device_client(second, other).post(
            f"/api/v1/{far_token}/telemetry", json={"before": 1})).status_code == 200
        # Three wrong tokens on the first node block the address on both.
        on_first = device_client(first, nat)
        for n in range(3):
            assert (await on_first.get(f"/api/v1/guess{n}/attributes")).status_code == 401
        assert_too_many(await on_first.get("/api/v1/guess3/attributes"), 30)
        misses = second.services.devices.cache_misses
        assert_too_many(await on_second.get("/api/v1/guess4/attributes"), 30)
        assert second.services.devices.cache_misses == misses
        # Once the second node knows, a valid token from elsewhere is refused there too...
        assert_too_many(await on_second.get(f"/api/v1/{far_token}/attributes"), 30)
        # ... while the neighbour seen from that address goes on.
        response = await on_second.post(f"/api/v1/{neighbour_token}/telemetry",
                                        json={"during": 2})
        assert response.status_code == 200
        assert "during" in await latest_keys(second, neighbour)
        # Other addresses are not counted with it.
        assert (await device_client(first, other).get(
            "/api/v1/guess5/attributes")).status_code == 401
