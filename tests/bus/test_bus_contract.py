"""One contract, every bus: what a waiter may rely on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from tests.services import REDIS_URL, require_redis
from thingport.bus import Bus, MemoryBus
from thingport.bus.ipc import HubBus, IpcBus
from thingport.bus.redis import RedisBus

#: ``ipc``: worker processes' buses through a hub of their own; ``ipc-hub``: the first node is
#: the primary's hub itself.
BACKENDS = ["memory", "redis", "ipc", "ipc-hub"]


def make(kind: str, channel: str) -> Bus:
    if kind == "memory":
        return MemoryBus()
    require_redis()
    return RedisBus(REDIS_URL, channel=channel)


@pytest.fixture(params=BACKENDS)
async def node_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Callable[[], Bus]]:
    """Makes nodes sharing one bus (for Redis: one Redis channel unique to the test; for the
    processes of one server: one hub)."""
    channel = f"thingport-test:{uuid.uuid4().hex}"
    started: list[Bus] = []
    shared: list[Bus] = []
    hub_path = str(tmp_path_factory.mktemp("bus") / "bus.sock")
    if request.param == "ipc":
        started.append(HubBus(hub_path))  # started first, never handed out

    async def start_all() -> None:
        for bus in started:
            await bus.start()

    def factory() -> Bus:
        if request.param == "memory":
            if not shared:
                shared.append(MemoryBus())  # one process: every "node" is the same bus
            bus = shared[0]
        elif request.param.startswith("ipc"):
            bus = HubBus(hub_path) if not started else IpcBus(hub_path)
        else:
            bus = make("redis", channel)
        if bus not in started:
            started.append(bus)
        return bus

    factory.start = start_all  # type: ignore[attr-defined]
    yield factory
    for bus in started:
        await bus.stop()


async def started(factory: Callable[[], Bus]) -> tuple[Bus, Bus]:
    a, b = factory(), factory()
    await factory.start()  # type: ignore[attr-defined]
    return a, b


async def test_a_subscriber_gets_what_is_published(node_factory: Callable[[], Bus]) -> None:
    a, b = await started(node_factory)
    async with b.subscribe("rpc:dev1") as sub:
        await a.publish("rpc:dev1", b"hello")
        assert await sub.get(timeout=5) == ("rpc:dev1", b"hello")


async def test_other_channels_are_not_delivered(node_factory: Callable[[], Bus]) -> None:
    a, b = await started(node_factory)
    async with b.subscribe("rpc:dev1") as sub:
        await a.publish("rpc:dev2", b"not for you")
        await a.publish("rpc:dev1", b"for you")
        assert await sub.get(timeout=5) == ("rpc:dev1", b"for you")
        assert await sub.get(timeout=0.2) is None


async def test_one_subscription_listens_to_several_channels(
    node_factory: Callable[[], Bus]
) -> None:
    a, b = await started(node_factory)
    async with b.subscribe("rpc:d", "device:d") as sub:
        await a.publish("device:d", b"deleted")
        await a.publish("rpc:d")
        assert await sub.get(timeout=5) == ("device:d", b"deleted")
        assert await sub.get(timeout=5) == ("rpc:d", b"")


async def test_every_subscriber_gets_each_message(node_factory: Callable[[], Bus]) -> None:
    a, b = await started(node_factory)
    async with a.subscribe("x") as first, b.subscribe("x") as second:
        await a.publish("x", b"1")
        assert await first.get(timeout=5) == ("x", b"1")
        assert await second.get(timeout=5) == ("x", b"1")


async def test_messages_before_subscribing_or_after_leaving_are_not_delivered(
    node_factory: Callable[[], Bus]
) -> None:
    a, b = await started(node_factory)
    async with b.subscribe("late") as probe:  # wait until the node has seen the message
        await a.publish("late", b"too early")
        assert await probe.get(timeout=5) == ("late", b"too early")
        async with b.subscribe("late") as sub:
            assert await sub.get(timeout=0.2) is None
    assert b.local.subscriber_count == 0


async def test_get_times_out_with_none(node_factory: Callable[[], Bus]) -> None:
    _, b = await started(node_factory)
    async with b.subscribe("quiet") as sub:
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await sub.get(timeout=0.1) is None
        assert loop.time() - began >= 0.09


async def test_order_is_kept(node_factory: Callable[[], Bus]) -> None:
    a, b = await started(node_factory)
    async with b.subscribe("seq") as sub:
        for i in range(50):
            await a.publish("seq", str(i).encode())
        got = [await sub.get(timeout=5) for _ in range(50)]
        assert [int(m[1]) for m in got if m] == list(range(50))
