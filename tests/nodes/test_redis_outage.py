"""Losing Redis costs latency, never commands: against a redis-server of the test's own, stopped
and started again (the machine's Redis is never touched).

The bounds below are liveness bounds, ten times what the mechanism needs: a poll that waits 60 s
must answer within 10 s, which it can only do if something woke it or made it read the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import SYSADMIN, TENANT_ADMIN
from tests.redis_server import PrivateRedis
from tests.services import require_postgres
from tests.store.conftest import postgres_schema
from thingport.app import Thingport, create_app
from thingport.bus import BUS_DOWN, BUS_STATE, BUS_UP, BusUnavailable
from thingport.bus.redis import RedisBus
from thingport.domain.model import Device, DeviceCredentials, DeviceCredentialsType
from thingport.services import Services
from thingport.services.channels import DEVICE_CHANGED, rpc_channel
from thingport.services.devices import DeviceService
from thingport.settings import Settings

BOUND_S = 10.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most BOUND_S) for ``condition`` to hold."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND_S
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"not within {BOUND_S} s: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


async def test_the_bus_tells_subscribers_when_redis_goes_and_comes_back(
    redis_server: PrivateRedis,
) -> None:
    channel = f"thingport-test:{uuid.uuid4().hex}"
    bus = RedisBus(redis_server.url, channel=channel)
    await bus.start()
    try:
        async with bus.subscribe("rpc:d") as sub:
            assert bus.connected
            await bus.ping()
            redis_server.stop()
            assert await sub.get(BOUND_S) == (BUS_STATE, BUS_DOWN)
            assert not bus.connected
            with pytest.raises(BusUnavailable):
                await bus.ping()
            # A publish while Redis is down does not raise, and reaches this node's waiters.
            await bus.publish("rpc:d", b"local")
            assert await sub.get(BOUND_S) == ("rpc:d", b"local")

            redis_server.start()
            assert await sub.get(BOUND_S) == (BUS_STATE, BUS_UP)
            assert bus.connected
            await bus.ping()
            other = RedisBus(redis_server.url, channel=channel)
            await other.start()
            try:
                await other.publish("rpc:d", b"from another node")
                assert await sub.get(BOUND_S) == ("rpc:d", b"from another node")
            finally:
                await other.stop()
    finally:
        await bus.stop()


@contextlib.asynccontextmanager
async def node(settings: Settings) -> AsyncIterator[tuple[Thingport, Services]]:
    """One thingport node in this process, its lifespan entered."""
    app = create_app(settings)
    async with app.rest.router.lifespan_context(app.rest):
        yield app, app.rest.state.services


async def logged_in(app: Thingport) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                               base_url="http://testserver", timeout=BOUND_S * 2)
    response = await client.post("/api/auth/login", json={"username": TENANT_ADMIN[0],
                                                          "password": TENANT_ADMIN[1]})
    response.raise_for_status()
    client.headers["X-Authorization"] = f"Bearer {response.json()['token']}"
    return client


async def send_rpc(client: httpx.AsyncClient, device_id: str, method: str) -> None:
    sent = await client.post(f"/api/rpc/oneway/{device_id}", json={
        "method": method, "params": {}, "persistent": True, "timeout": 120000})
    # Committed, and answered, even when the wake-up cannot be published.
    assert sent.status_code == 200, sent.text


async def health(client: httpx.AsyncClient) -> tuple[int, Any]:
    response = await client.get("/api/noauth/health")
    return response.status_code, response.json()


async def test_a_poll_gets_its_command_while_redis_is_down_and_instantly_once_it_is_back(
    tmp_path: Path, redis_server: PrivateRedis,
) -> None:
    require_postgres()
    async with postgres_schema() as database_url:
        settings = Settings(
            data_dir=str(tmp_path / "data"), jwt_signing_key="k" * 48, database_url=database_url,
            sysadmin_password=SYSADMIN[1], tenant_admin_password=TENANT_ADMIN[1],
            redis_url=redis_server.url,
        )
        await two_nodes_while_redis_fails(settings, redis_server)


async def two_nodes_while_redis_fails(settings: Settings, redis_server: PrivateRedis) -> None:
    """Two nodes on one store (PostgreSQL: a SQLite store has one process) and one Redis: the
    device polls node A, the RPCs go to node B."""
    async with node(settings) as (app_a, a), node(settings) as (app_b, b):
        rest = await logged_in(app_b)
        device_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app_a),
                                          base_url="http://testserver", timeout=BOUND_S * 2)
        try:
            created = await rest.post("/api/device", json={"name": "outage"})
            device_id = created.json()["id"]["id"]
            credentials = await rest.get(f"/api/device/{device_id}/credentials")
            token = credentials.json()["credentialsId"]
            channel = rpc_channel(uuid.UUID(device_id))

            async def poll() -> httpx.Response:
                return await device_client.get(f"/api/v1/{token}/rpc",
                                               params={"timeout": 60000})

            # Redis goes away while the device waits; the command is sent meanwhile.
            waiting = asyncio.create_task(poll())
            await until(lambda: a.bus.local.has_subscribers(channel), "the poll waits")
            redis_server.stop()
            await until(lambda: not a.bus.connected and not b.bus.connected, "both see it")
            status, body = await health(device_client)
            assert status == 503
            assert body["status"] == "DOWN"
            assert body["components"]["store"] == {"status": "UP"}
            assert body["components"]["bus"]["status"] == "DOWN"
            await send_rpc(rest, device_id, "whileDown")
            got = await asyncio.wait_for(waiting, BOUND_S)
            assert got.status_code == 200
            assert got.json()["method"] == "whileDown"

            # Redis is back: a new poll is woken by the bus (connected, nothing polls).
            redis_server.start()
            await until(lambda: a.bus.connected and b.bus.connected, "both reconnect")
            waiting = asyncio.create_task(poll())
            await until(lambda: a.bus.local.has_subscribers(channel), "the poll waits")
            await send_rpc(rest, device_id, "afterwards")
            got = await asyncio.wait_for(waiting, BOUND_S)
            assert got.status_code == 200
            assert got.json()["method"] == "afterwards"
            for _ in range(int(BOUND_S / 0.1)):  # the last health result may be cached
                status, body = await health(device_client)
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert (status, body["status"]) == (200, "UP")
        finally:
            await rest.aclose()
            await device_client.aclose()


class TokenStore:
    """Answers token lookups, counting them."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.lookups = 0

    async def get_device_by_credentials_id(self, token: str) -> Any:
        self.lookups += 1
        return self.device, DeviceCredentials(uuid.uuid4(), self.device.id, 0,
                                              DeviceCredentialsType.ACCESS_TOKEN, token)


async def test_the_token_cache_is_not_trusted_while_changes_cannot_arrive(
    redis_server: PrivateRedis,
) -> None:
    bus = RedisBus(redis_server.url, channel=f"thingport-test:{uuid.uuid4().hex}")
    await bus.start()
    device = Device(uuid.uuid4(), uuid.uuid4(), "d", "default", uuid.uuid4(), 0)
    store = TokenStore(device)
    devices = DeviceService(store, bus)  # type: ignore[arg-type]
    forgetting = asyncio.create_task(devices.forget_changed_devices())
    try:
        await until(lambda: bus.local.has_subscribers(DEVICE_CHANGED), "the cache listens")
        await devices.authenticate("tok")
        await devices.authenticate("tok")
        assert store.lookups == 1  # cached
        redis_server.stop()
        await until(lambda: not bus.connected, "the bus sees Redis go")
        await devices.authenticate("tok")
        await devices.authenticate("tok")
        assert store.lookups == 3  # a token changed on another node now would not be heard of
        redis_server.start()
        await until(lambda: bus.connected, "the bus reconnects")
        await devices.authenticate("tok")
        await devices.authenticate("tok")
        assert store.lookups == 4  # cached again
        assert not forgetting.done()  # the bus's own news did not break the listener
    finally:
        forgetting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forgetting
        await bus.stop()
