"""uvicorn's per-connection objects, made small: ten thousand connections may each hold a
waiting long poll.

uvicorn gives every connection a deque of pipelined requests (760 bytes, almost always empty)
and an ``asyncio.Event`` in its flow control, and every request another ``asyncio.Event`` (each
with a deque of its own). These do the same with slots and a list made only when needed;
``http.limits`` puts them in place of uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any


class LeanEvent:
    """What uvicorn uses of ``asyncio.Event`` (``set``, ``clear``, ``is_set``, ``wait``), with
    its waiters in a list made by the first ``wait``: one of these per request and one per
    connection."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if not self._value:
            self._value = True
            for waiter in self._waiters or ():
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            self._waiters.remove(waiter)


class LeanFlowControl:
    """uvicorn's ``FlowControl`` (pausing reads and writes of one connection), in slots with
    a ``LeanEvent``."""

    __slots__ = ("_transport", "_writable", "read_paused", "write_paused")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.read_paused = False
        self.write_paused = False
        self._writable = LeanEvent(True)

    async def drain(self) -> None:
        await self._writable.wait()

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self._transport.resume_reading()

    def pause_writing(self) -> None:
        if not self.write_paused:
            self.write_paused = True
            self._writable.clear()

    def resume_writing(self) -> None:
        if self.write_paused:
            self.write_paused = False
            self._writable.set()


class Pipeline(list[Any]):
    """uvicorn's queue of pipelined requests (``appendleft``, ``pop``, truth), as a list:
    nearly always empty, and an empty deque is 760 bytes."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)
