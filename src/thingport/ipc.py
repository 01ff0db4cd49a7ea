"""Messages between the processes of one server (the primary and its workers) over a Unix
socket: pickled Python objects in length-prefixed frames.

Both ends are our own processes, started by the primary from the same installation, on a socket
in a directory only this user can open; pickle is therefore safe here and is the cheapest way to
carry the store's dataclasses. Whatever one end sends during one turn of its event loop goes out
as one frame (a list of messages), so that the cost of a frame is shared by every request served
in that turn, as the store's group commit shares the cost of an fsync.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from collections.abc import Callable
from typing import Any, Final

_HEADER: Final = struct.Struct("!I")
#: A frame larger than this is a bug or a corrupted stream, not a message.
MAX_FRAME: Final = 1 << 31


class Channel(asyncio.Protocol):
    """One end of a connection: ``send`` queues a message, ``received`` gets each message that
    arrives, ``lost`` is called once when the connection ends."""

    def __init__(self, received: Callable[[Any], None],
                 lost: Callable[[Exception | None], None] | None = None) -> None:
        self._received = received
        self._lost = lost
        self._transport: asyncio.Transport | None = None
        self._outbox: list[Any] = []
        self._buffer = bytearray()
        self.closed = False

    # -- sending -----------------------------------------------------------------------------
    def send(self, message: Any) -> None:
        """Queue ``message``; it leaves at the end of this turn of the loop, with the others."""
        if self.closed:
            raise ConnectionError("the connection to the other process is closed")
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(message)

    def _flush(self) -> None:
        if self._transport is None or self.closed or not self._outbox:
            return  # not connected yet: connection_made sends them
        messages, self._outbox = self._outbox, []
        data = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
        self._transport.write(_HEADER.pack(len(data)) + data)

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._flush()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset, size = 0, len(buffer)
        while size - offset >= 4:
            (length,) = _HEADER.unpack_from(buffer, offset)
            if size - offset - 4 < length:
                break
            messages = pickle.loads(memoryview(buffer)[offset + 4:offset + 4 + length])
            offset += 4 + length
            for message in messages:
                self._received(message)
        if offset:
            del buffer[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        if self._lost is not None:
            self._lost(exc)

    def close(self) -> None:
        """Send what is queued, then close."""
        if self._transport is not None and not self.closed:
            self._flush()
            self._transport.close()
        self.closed = True


async def connect(path: str, received: Callable[[Any], None],
                  lost: Callable[[Exception | None], None] | None = None) -> Channel:
    """A channel to the process listening on the Unix socket ``path``."""
    loop = asyncio.get_running_loop()
    _, channel = await loop.create_unix_connection(lambda: Channel(received, lost), path)
    return channel


# -- calls: a worker calls async methods of objects the primary serves -----------------------
#: A call: (call id, target, method, positional arguments, keyword arguments).
Call = tuple[int, str, str, tuple[Any, ...], dict[str, Any]]
#: A method answered without a task of its own: called at once, its future answers the call.
Quick = Callable[..., "asyncio.Future[Any]"]


class CallServer:
    """Serves the async methods of named objects to the workers, on the Unix socket ``path``;
    a call's result (or its exception) goes back to the caller."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._targets: dict[str, tuple[object, frozenset[str]]] = {}
        self._quick: dict[tuple[str, str], Quick] = {}
        self._server: asyncio.AbstractServer | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def serve(self, name: str, target: object, methods: frozenset[str]) -> None:
        """Answer calls of ``methods`` of ``target``, named ``name``."""
        self._targets[name] = (target, methods)

    def serve_quick(self, name: str, method: str, quick: Quick) -> None:
        """Answer ``name.method`` by calling ``quick`` at once (the hot path: no task)."""
        self._quick[(name, method)] = quick

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._channel, self.path)

    def _channel(self) -> Channel:
        channel: Channel

        def received(message: Call) -> None:
            call_id, name, method, args, kwargs = message
            quick = self._quick.get((name, method))
            if quick is not None:
                try:
                    future = quick(*args, **kwargs)
                except Exception as exc:
                    channel.send((call_id, False, exc))
                    return
                future.add_done_callback(lambda done: _answer_done(channel, call_id, done))
                return
            target, methods = self._targets.get(name, (None, frozenset()))
            if method not in methods:
                channel.send((call_id, False, LookupError(f"no such call: {name}.{method}")))
                return
            task = asyncio.get_running_loop().create_task(
                self._answer(channel, call_id, getattr(target, method)(*args, **kwargs)))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

        channel = Channel(received)
        return channel

    async def _answer(self, channel: Channel, call_id: int, call: Any) -> None:
        try:
            result = await call
        except Exception as exc:  # the caller's to handle, as if it had called it itself
            reply: tuple[int, bool, Any] = (call_id, False, exc)
        else:
            reply = (call_id, True, result)
        if not channel.closed:
            channel.send(reply)

    async def close(self) -> None:
        """Stop taking calls and wait for the ones running (their writes commit)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)


def _answer_done(channel: Channel, call_id: int, done: asyncio.Future[Any]) -> None:
    if channel.closed:
        return
    error = done.exception()
    channel.send((call_id, True, done.result()) if error is None else (call_id, False, error))


class CallClient:
    """A worker's connection to the primary's ``CallServer``; connected on first use."""

    def __init__(self, path: str, lost_error: Callable[[], Exception]) -> None:
        self.path = path
        self._lost_error = lost_error
        self._channel: Channel | None = None
        self._connecting: asyncio.Lock | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        #: Called once when the primary is gone (the worker then stops: it cannot serve).
        self.on_lost: Callable[[], None] | None = None

    async def connect(self) -> None:
        if self._channel is not None:
            return
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._channel is None:
                self._channel = await connect(self.path, self._received, self._lost)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()

    async def call(self, name: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``name.method(*args, **kwargs)`` in the primary: its result, or its exception."""
        if self._channel is None:
            await self.connect()
        channel = self._channel
        if channel is None or channel.closed:
            raise self._lost_error()
        call_id = self._next_id = self._next_id + 1
        future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        channel.send((call_id, name, method, args, kwargs))
        # Shielded: the call goes on in the primary when this caller is cancelled (a store
        # write then still commits), and its answer must not find a cancelled future.
        return await asyncio.shield(future)

    def _received(self, message: tuple[int, bool, Any]) -> None:
        call_id, ok, value = message
        future = self._pending.pop(call_id, None)
        if future is None or future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _lost(self, exc: Exception | None) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(self._lost_error())
        if self.on_lost is not None:
            self.on_lost()
