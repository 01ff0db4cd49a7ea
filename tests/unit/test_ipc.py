"""Calls from a worker to the primary over a Unix socket: results, errors, quick calls,
frames that arrive in pieces, and a primary that goes away."""

from __future__ import annotations

import asyncio
import pickle
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from thingport import ipc
from thingport.errors import NotFound, StoreUnavailable


class Target:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def add(self, a: int, b: int = 0) -> int:
        self.calls.append((a, b))
        return a + b

    async def missing(self, name: str) -> None:
        raise NotFound(f"no {name}")

    async def slow(self) -> str:
        await asyncio.sleep(0.2)
        return "done"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[ipc.CallServer, ipc.CallClient, Target]]:
    server = ipc.CallServer(str(tmp_path / "calls.sock"))
    target = Target()
    server.serve("t", target, frozenset({"add", "missing", "slow"}))
    await server.start()
    client = ipc.CallClient(server.path, lambda: StoreUnavailable("primary gone"))
    yield server, client, target
    client.close()
    await server.close()


async def test_a_call_returns_the_result(pair: tuple[Any, ipc.CallClient, Target]) -> None:
    _, client, target = pair
    assert await client.call("t", "add", 2, b=3) == 5
    assert target.calls == [(2, 3)]


async def test_many_calls_at_once_each_get_their_own_answer(
    pair: tuple[Any, ipc.CallClient, Target],
) -> None:
    _, client, _ = pair
    answers = await asyncio.gather(*(client.call("t", "add", n, n) for n in range(500)))
    assert answers == [2 * n for n in range(500)]


async def test_the_exception_reaches_the_caller(pair: tuple[Any, ipc.CallClient, Target]) -> None:
    _, client, _ = pair
    with pytest.raises(NotFound, match="no thing"):
        await client.call("t", "missing", "thing")


async def test_only_served_methods_can_be_called(
    pair: tuple[Any, ipc.CallClient, Target],
) -> None:
    _, client, _ = pair
    with pytest.raises(LookupError):
        await client.call("t", "__init__")
    with pytest.raises(LookupError):
        await client.call("nobody", "add", 1)


async def test_a_quick_call_is_answered_by_its_future(
    pair: tuple[ipc.CallServer, ipc.CallClient, Target],
) -> None:
    server, client, _ = pair
    loop = asyncio.get_running_loop()

    def quick(x: int) -> asyncio.Future[int]:
        future: asyncio.Future[int] = loop.create_future()
        loop.call_later(0.01, future.set_result, x * 10)
        return future

    server.serve_quick("t", "quick", quick)
    assert await client.call("t", "quick", 4) == 40


async def test_a_cancelled_caller_leaves_the_call_running(
    pair: tuple[Any, ipc.CallClient, Target],
) -> None:
    _, client, _ = pair
    call = asyncio.ensure_future(client.call("t", "slow"))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await client.call("t", "add", 1, 1) == 2  # the connection is still fine


async def test_waiting_calls_fail_when_the_primary_goes(tmp_path: Path) -> None:
    server = ipc.CallServer(str(tmp_path / "calls.sock"))
    target = Target()
    server.serve("t", target, frozenset({"slow"}))
    await server.start()
    client = ipc.CallClient(server.path, lambda: StoreUnavailable("primary gone"))
    lost = asyncio.Event()
    client.on_lost = lost.set
    await client.connect()
    call = asyncio.ensure_future(client.call("t", "slow"))
    await asyncio.sleep(0.05)
    # The connection ends, as it does when the primary dies.
    client._channel._transport.close()  # type: ignore[union-attr]
    with pytest.raises(StoreUnavailable):
        await call
    await asyncio.wait_for(lost.wait(), 2)
    with pytest.raises(StoreUnavailable):
        await client.call("t", "slow")
    await server.close()


def test_frames_split_anywhere_are_put_back_together() -> None:
    got: list[Any] = []
    channel = ipc.Channel(got.append)
    data = b"".join(
        struct.pack("!I", len(body)) + body
        for body in (pickle.dumps([1, 2]), pickle.dumps(["three"]), pickle.dumps([{"four": 4}]))
    )
    for i in range(0, len(data), 3):
        channel.data_received(data[i:i + 3])
    assert got == [1, 2, "three", {"four": 4}]
