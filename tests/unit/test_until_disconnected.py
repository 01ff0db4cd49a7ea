"""``until_disconnected``: a waiting poll ends when its client goes away or the server stops,
in the caller's own task, told by the server's disconnect extension or by reading ``receive``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from thingport.http.asgi import (
    DISCONNECT_EXTENSION,
    ClientDisconnected,
    ServerStopping,
    until_disconnected,
)
from thingport.lifecycle import Lifecycle


class Client:
    """``receive`` of a GET whose client leaves when ``leave`` is called."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.reads = 0

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self.gone.set()


class Extension:
    """The server side of ``DISCONNECT_EXTENSION``."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.callback: Callable[[], object] | None = None
        self.calls: list[bool] = []

    def watch(self, callback: Callable[[], object] | None) -> bool:
        self.calls.append(callback is not None)
        if callback is not None and not self.connected:
            return False
        self.callback = callback
        return True

    def lose(self) -> None:
        self.connected = False
        callback, self.callback = self.callback, None
        if callback is not None:
            callback()


class Work:
    """A wait that records how it ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False
        self.result: asyncio.Future[str] | None = None

    async def run(self) -> str:
        self.result = asyncio.get_running_loop().create_future()
        self.started.set()
        try:
            return await self.result
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def scope_with(extension: Extension | None) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "http"}
    if extension is not None:
        scope["extensions"] = {DISCONNECT_EXTENSION: extension.watch}
    return scope


@pytest.mark.parametrize("told", ["by the extension", "by receive"])
async def test_the_client_leaving_ends_the_wait(told: str) -> None:
    client, work, lifecycle = Client(), Work(), Lifecycle()
    extension = Extension() if told == "by the extension" else None
    poll = asyncio.ensure_future(until_disconnected(
        client.receive, work.run(), lifecycle, "rpc", scope_with(extension)))
    await work.started.wait()
    assert lifecycle.waiting == {"rpc": 1}
    if extension is not None:
        extension.lose()
    else:
        client.leave()
    with pytest.raises(ClientDisconnected):
        await asyncio.wait_for(poll, 5)
    assert work.cancelled
    assert lifecycle.waiting == {"rpc": 0}
    assert not poll.cancelled()
    if extension is not None:
        assert extension.calls == [True, False]  # watched, then no longer


async def test_with_the_extension_no_task_watches_receive() -> None:
    client, work, extension = Client(), Work(), Extension()
    poll = asyncio.ensure_future(until_disconnected(
        client.receive, work.run(), None, "rpc", scope_with(extension)))
    await work.started.wait()
    assert asyncio.all_tasks() == {asyncio.current_task(), poll}
    assert client.reads == 0
    assert work.result is not None
    work.result.set_result("done")
    assert await poll == "done"
    assert extension.callback is None


async def test_without_it_one_task_watches_and_the_work_runs_in_the_callers() -> None:
    client, work = Client(), Work()
    poll = asyncio.ensure_future(until_disconnected(client.receive, work.run()))
    await work.started.wait()
    assert len(asyncio.all_tasks() - {asyncio.current_task(), poll}) == 1  # the watcher
    assert work.result is not None
    work.result.set_result("done")
    assert await poll == "done"
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_client_gone_before_the_wait_is_never_waited_for() -> None:
    client, work = Client(), Work()
    coroutine = work.run()
    with pytest.raises(ClientDisconnected):
        await until_disconnected(client.receive, coroutine, None, "rpc",
                                 scope_with(Extension(connected=False)))
    assert not work.started.is_set()
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED  # no "never awaited"


@pytest.mark.parametrize("with_extension", [True, False])
async def test_stopping_the_server_ends_the_wait_as_stopping(with_extension: bool) -> None:
    client, work, lifecycle = Client(), Work(), Lifecycle()
    poll = asyncio.ensure_future(until_disconnected(
        client.receive, work.run(), lifecycle, "attributes",
        scope_with(Extension() if with_extension else None)))
    await work.started.wait()
    await lifecycle.stop(session_wait_s=0)
    with pytest.raises(ServerStopping):
        await asyncio.wait_for(poll, 5)
    assert work.cancelled and lifecycle.waiting == {"attributes": 0}


async def test_a_poll_started_while_stopping_is_answered_at_once() -> None:
    lifecycle, work = Lifecycle(), Work()
    await lifecycle.stop(session_wait_s=0)
    with pytest.raises(ServerStopping):
        await until_disconnected(Client().receive, work.run(), lifecycle, "rpc")
    assert not work.started.is_set()


async def test_the_result_is_the_answer_and_the_task_is_left_uncancelled() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return "rpc"

    async def caller() -> tuple[str, int]:
        result = await until_disconnected(Client().receive, answer(), None, "rpc",
                                          scope_with(Extension()))
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()

    assert await caller() == ("rpc", 0)


async def test_work_that_finishes_while_being_cancelled_still_answers() -> None:
    extension = Extension()

    async def stubborn() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return "taken anyway"  # as an RPC the store had already handed over
        return "slept"

    async def caller() -> tuple[str, int]:
        result = await until_disconnected(Client().receive, stubborn(), None, "rpc",
                                          scope_with(extension))
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()

    poll = asyncio.ensure_future(caller())
    await asyncio.sleep(0.01)
    extension.lose()
    assert await asyncio.wait_for(poll, 5) == ("taken anyway", 0)


async def test_a_cancellation_from_elsewhere_is_not_a_disconnect() -> None:
    work = Work()
    poll = asyncio.ensure_future(until_disconnected(Client().receive, work.run(), None, "rpc",
                                                    scope_with(Extension())))
    await work.started.wait()
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    assert work.cancelled
