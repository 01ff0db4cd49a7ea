"""Reading the rest of a request body that will not be used, so that proxies see the answer.

A server that answers before it has read a request's body (413 on the Content-Length, 401 for
an unknown token, 404) and then closes the connection makes the kernel reset it (RST), because
unread data is still arriving. A proxy such as nginx sends the whole body before it reads the
answer, so it sees the reset, not the answer, and reports 502. uvicorn closes after every
response of an HTTP/1.0 connection (nginx's default towards upstreams) or one that said
``Connection: close``.

So before answering, the rest is read and dropped, bounded: at most ``DRAIN_MAX_BYTES``, within
``DRAIN_MAX_S``, giving up after ``DRAIN_IDLE_S`` without data. Closing afterwards is clean (FIN,
not RST). This is done in the application rather than as a lingering close (shut down the
sending side, then read until the peer closes) because uvicorn owns the socket; reading first
and answering second also means a proxy never sees an early answer it might mishandle. A client
that sent ``Expect: 100-continue`` and was not told to continue has sent nothing: nothing is read
(uvicorn would send the 100 and invite the upload).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from thingport.http.asgi import Message, Receive, Scope, Send

#: Most bytes read and dropped for one request; past this the connection is closed anyway.
DRAIN_MAX_BYTES = 256 * 1024 * 1024
#: The same for a device API request without a valid access token (unknown token, no route,
#: provisioning): a few MiB cover what such requests carry, and nobody unknown gets the
#: server to read hundreds of MiB for nothing.
UNAUTHENTICATED_DRAIN_BYTES = 4 * 1024 * 1024
#: Longest time spent reading and dropping one body.
DRAIN_MAX_S = 15.0
#: A body that stops arriving for this long is given up on.
DRAIN_IDLE_S = 2.0


def body_expected(scope: Scope, receive_called: bool = False) -> bool:
    """Whether the request has a body that may be arriving now: a Content-Length above zero or
    a Transfer-Encoding, and no ``Expect: 100-continue`` still unanswered (``receive_called``:
    the application has asked for the body, so uvicorn has sent the 100)."""
    has_body = waits_for_continue = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            has_body = value.strip() not in (b"", b"0")
        elif name == b"transfer-encoding":
            has_body = True
        elif name == b"expect":
            waits_for_continue = value.strip().lower() == b"100-continue"
    return has_body and (receive_called or not waits_for_continue)


async def discard_body(receive: Receive, max_bytes: int = DRAIN_MAX_BYTES) -> None:
    """Read and drop the rest of the request body, at most ``max_bytes``, within the bounds
    above. Call it only while more of the body is to come (after a message with
    ``more_body``, or before the first). Past the bound, the connection closes after the
    answer, once a few MiB more have been dropped (``http.limits``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_MAX_S
    dropped = 0
    try:
        async with asyncio.timeout(None) as timer:
            while dropped <= max_bytes:
                timer.reschedule(min(loop.time() + DRAIN_IDLE_S, deadline))
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body"):
                    return
                dropped += len(message.get("body", b""))
    except TimeoutError:
        return


class DrainUnreadBody:
    """ASGI middleware: before a response starts, read and drop what the application left of
    the request body (the REST API answers 413, 401 or 404 without reading it), at most
    ``max_bytes`` of it."""

    def __init__(self, app: Asgi, max_bytes: int = DRAIN_MAX_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = finished = False

        async def tracking_receive() -> Message:
            nonlocal received, finished
            message = await receive()
            received = True
            if message["type"] != "http.request" or not message.get("more_body"):
                finished = True
            return message

        async def draining_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start" and not finished:
                finished = True
                if body_expected(scope, received):
                    await discard_body(receive, self.max_bytes)
            await send(message)

        await self.app(scope, tracking_receive, draining_send)


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]
