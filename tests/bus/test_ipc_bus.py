"""The bus between the processes of one server: questions to every process, announced
channels, and a worker that loses the primary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from thingport.bus.ipc import HubBus, IpcBus


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[tuple[HubBus, IpcBus, IpcBus]]:
    path = str(tmp_path / "bus.sock")
    hub, first, second = HubBus(path), IpcBus(path), IpcBus(path)
    await hub.start()
    await first.start()
    await second.start()
    yield hub, first, second
    for bus in (second, first, hub):
        await bus.stop()


async def eventually(check: object, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def test_gather_asks_every_other_process(
    processes: tuple[HubBus, IpcBus, IpcBus],
) -> None:
    hub, first, second = processes
    for name, bus in (("hub", hub), ("first", first), ("second", second)):
        bus.answer("who", lambda name=name: name.encode())  # type: ignore[misc]
    assert sorted(await first.gather("who")) == [b"hub", b"second"]
    assert sorted(await second.gather("who")) == [b"first", b"hub"]
    assert sorted(await hub.gather("who")) == [b"first", b"second"]


async def test_gather_returns_at_once_when_all_have_answered(
    processes: tuple[HubBus, IpcBus, IpcBus],
) -> None:
    first = processes[1]
    for bus in processes:
        bus.answer("x", lambda: b"ok")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await first.gather("x")
    assert loop.time() - began < 0.5  # not the 2 s timeout


async def test_a_process_whose_answer_fails_answers_empty(
    processes: tuple[HubBus, IpcBus, IpcBus],
) -> None:
    hub, first, second = processes

    def broken() -> bytes:
        raise RuntimeError("boom")

    hub.answer("x", lambda: b"hub")
    second.answer("x", broken)
    assert sorted(await first.gather("x")) == [b"", b"hub"]


async def test_announced_channels_are_known_to_the_other_processes(
    processes: tuple[HubBus, IpcBus, IpcBus],
) -> None:
    hub, first, second = processes
    assert not first.may_have_subscribers("live:d1")
    async with second.subscribe("live:d1", announce=True):
        await eventually(lambda: first.may_have_subscribers("live:d1"))
        await eventually(lambda: hub.may_have_subscribers("live:d1"))
    await eventually(lambda: not first.may_have_subscribers("live:d1"))
    assert not hub.may_have_subscribers("live:d1")


async def test_a_worker_is_told_when_the_hub_is_gone(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.sock")
    hub, worker = HubBus(path), IpcBus(path)
    await hub.start()
    await worker.start()
    lost = asyncio.Event()
    worker.on_lost = lost.set
    await worker.ping()
    await hub.stop()
    await asyncio.wait_for(lost.wait(), 2)
    assert not worker.connected
    with pytest.raises(ConnectionError):
        await worker.ping()
    await worker.stop()
