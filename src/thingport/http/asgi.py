"""The few ASGI primitives the device API needs: read a body under a limit, send a response.

The device API is the hot path, so it is written against ASGI directly rather than through a
framework's request and response objects.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

import orjson

from thingport.errors import PayloadTooLarge
from thingport.http.drain import DRAIN_MAX_BYTES, discard_body
from thingport.http.errors import error_body

if TYPE_CHECKING:
    from thingport.lifecycle import Lifecycle

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

T = TypeVar("T")

JSON = b"application/json"
OCTET_STREAM = b"application/octet-stream"
_EMPTY_OK_HEADERS = [(b"content-length", b"0")]
_STOPPING_HEADERS = [(b"content-length", b"0"), (b"connection", b"close")]
# type "/" subtype, then parameters; what Spring's MediaType.parseMediaType accepts, roughly.
_MEDIA_TYPE = re.compile(
    r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    r"(\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=(\"[^\"\\\r\n]*\"|[!#$%&'*+.^_`|~0-9A-Za-z-]+))*"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ClientDisconnected(Exception):
    """The client went away before its request was read or answered."""


class ServerStopping(Exception):
    """The server is shutting down: a waiting poll ends now (answered as expired)."""


#: The scope extension (``scope["extensions"]``) of a server that calls back when the client
#: goes away: ``watch(callback)`` has ``callback()`` called once if the connection is lost
#: while the request runs (``watch(None)`` no longer), and returns False if it is lost
#: already. ``http.limits`` provides it; without it, a task watches ``receive``.
DISCONNECT_EXTENSION = "thingport.disconnect"


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _Wait:
    """Ends one waiting poll: its ``cancel`` (a disconnect, or ``Lifecycle.stop``) cancels
    the poll's task once, unless the wait is over."""

    __slots__ = ("ended", "finished", "poll")

    def __init__(self, poll: asyncio.Task[Any]) -> None:
        self.poll = poll
        self.ended = False  # this cancelled the poll's task
        self.finished = False  # the wait is over: nothing to end

    def cancel(self, _: object = None) -> None:
        if not self.finished and not self.ended:
            self.ended = True
            self.poll.cancel()


async def until_disconnected(
    receive: Receive, work: Awaitable[T], lifecycle: Lifecycle | None = None,
    kind: str = "poll", scope: Scope | None = None,
) -> T:
    """``work``'s result, or ClientDisconnected as soon as the client goes away, with ``work``
    cancelled: a waiting long poll must not keep its waiter once nobody will read the answer.
    With ``lifecycle``, the wait is counted as a ``kind`` and ServerStopping ends it when the
    server stops. Call it once the request body has been read (a GET has none).

    ``work`` runs in the caller's task, which a disconnect (or the server's stop) cancels at
    ``work``'s await, as a disconnect should end it (an RPC being taken is put back); the
    cancellation is then turned into ClientDisconnected. The server's ``DISCONNECT_EXTENSION``
    in ``scope`` tells of the disconnect; else a small task reads ``receive`` until it says
    so. (A task of its own for ``work`` and an ``asyncio.wait`` cost each of ten thousand
    waiting polls about 2 KB, the reading task another 1 KB.)"""
    if lifecycle is not None and lifecycle.stopping:
        if asyncio.iscoroutine(work):
            work.close()  # never started
        raise ServerStopping
    poll = asyncio.current_task()
    assert poll is not None
    wait = _Wait(poll)
    extensions = scope.get("extensions") if scope is not None else None
    watch = extensions.get(DISCONNECT_EXTENSION) if extensions else None
    watcher: asyncio.Future[None] | None = None
    if watch is None:
        watcher = asyncio.ensure_future(_disconnected(receive))
        watcher.add_done_callback(wait.cancel)
    elif not watch(wait.cancel):
        if asyncio.iscoroutine(work):
            work.close()
        raise ClientDisconnected
    if lifecycle is not None:
        lifecycle.wait_started(kind, wait)
    try:
        result = await work
    except asyncio.CancelledError:
        if not wait.ended:
            raise  # cancelled from elsewhere (uvicorn's last resort at shutdown)
        poll.uncancel()
        if lifecycle is not None and lifecycle.stopping:
            raise ServerStopping from None
        raise ClientDisconnected from None
    finally:
        wait.finished = True
        if watcher is not None:
            watcher.cancel()
        elif watch is not None:
            watch(None)
        if lifecycle is not None:
            lifecycle.wait_ended(kind, wait)
    if wait.ended:
        # It finished while being cancelled: its result is still the answer.
        poll.uncancel()
    return result


def content_length(scope: Scope) -> int | None:
    """The request's Content-Length, or None when absent or unreadable."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def payload_too_large(limit: int) -> PayloadTooLarge:
    """The 413 for a body past ``limit`` bytes, in the one wording both HTTP layers use."""
    return PayloadTooLarge(f"Payload size exceeds the limit of {limit} bytes")


def check_content_length(scope: Scope, limit: int) -> None:
    """PayloadTooLarge when the declared Content-Length is past ``limit``, before any of the
    body is read."""
    declared = content_length(scope)
    if declared is not None and declared > limit:
        raise payload_too_large(limit)


async def read_body(receive: Receive, limit: int, drain_bytes: int = DRAIN_MAX_BYTES) -> bytes:
    """The whole body, counting the bytes actually received (a chunked upload has no
    Content-Length to check), raising PayloadTooLarge past ``limit``. Past the limit, the rest
    (up to ``drain_bytes``; 0: none, the caller drains) is read and dropped first (see
    ``drain``), so the 413 reaches a client behind a proxy. How long the client may pause
    between its body's parts is the server's (``http.limits``)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise payload_too_large(limit)
        return body
    if len(body) > limit:
        if drain_bytes:
            await discard_body(receive, drain_bytes)
        raise payload_too_large(limit)
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            if drain_bytes and message.get("more_body"):
                await discard_body(receive, drain_bytes)
            raise payload_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def limited_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises PayloadTooLarge once more than ``limit`` body bytes have
    arrived: ``read_body``'s bound for a body streamed elsewhere than into memory (a
    multipart upload spooled to a file)."""
    received = 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise payload_too_large(limit)
        return message

    return counting


def query_params(scope: Scope) -> dict[str, str]:
    """Query parameters; a repeated one is joined with commas, as Spring does for a String."""
    raw = scope.get("query_string", b"")
    if not raw:
        return {}
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        params[key] = params[key] + "," + value if key in params else value
    return params


async def send_empty(send: Send, status: int = 200) -> None:
    """A response with no body (ThingsBoard's uploads answer 200 with nothing)."""
    await send({"type": "http.response.start", "status": status, "headers": _EMPTY_OK_HEADERS})
    await send({"type": "http.response.body", "body": b""})


async def send_stopping(send: Send) -> None:
    """What a waiting poll gets when the server stops: 408 with no body, as an expired poll
    (ThingsBoard's clients then poll again), and ``Connection: close``, so that they poll a
    server that is not stopping."""
    await send({"type": "http.response.start", "status": 408, "headers": _STOPPING_HEADERS})
    await send({"type": "http.response.body", "body": b""})


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A response with a body."""
    all_headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        all_headers.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, value: Any, status: int = 200) -> None:
    """A JSON response."""
    await send_bytes(send, status, orjson.dumps(value))


async def send_error(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """ThingsBoard's error JSON with ``status``."""
    await send_bytes(send, status, error_body(status, message), JSON, headers)


def attachment_headers(
    file_name: str, content_type: str | None, length: int
) -> list[tuple[bytes, bytes]]:
    """ThingsBoard's headers for a package download: ``Content-Disposition:
    attachment;filename=<name>``, ``x-filename``, its length, and its content type (or
    application/octet-stream when that is not a media type). The name is sent as UTF-8 with
    control characters dropped, so it can never split a header."""
    name = _CONTROL.sub("", file_name).encode("utf-8")
    kind = content_type.strip() if content_type else ""
    return [
        (b"content-type", kind.encode("ascii") if _MEDIA_TYPE.fullmatch(kind) else OCTET_STREAM),
        (b"content-length", str(length).encode()),
        (b"content-disposition", b"attachment;filename=" + name),
        (b"x-filename", name),
    ]
