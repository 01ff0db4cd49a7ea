"""HTTP/1.1 limits of the connection itself, which uvicorn's httptools protocol does not have:
the time to receive a request's head and its body, the head's size and header count, and the
number of open connections.

Without them a client can hold a connection for ever with half a request (a Content-Length
longer than what it sends), grow the process by sending one endless header, or open sockets
until the process has no file descriptors left. uvicorn's own options do not cover this:
``timeout_keep_alive`` runs only between requests, ``h11_max_incomplete_event_size`` is for the
h11 parser only, and ``limit_concurrency`` answers 503 only once a request's head is complete
(the half-open connections it counts still hold their sockets) and refuses health checks and
long polls alike. So ``LimitedHttpToolsProtocol`` adds them to uvicorn's protocol, reading its
limits from ``config.http_limits`` (a ``ThingportConfig``):

* head: from the connection's start (or a keep-alive request's first byte) until the head is
  complete, at most ``header_timeout_s``; then the connection is closed (answered 408 when part
  of a head had arrived). At most ``max_header_bytes`` of request line and headers and
  ``max_headers`` header fields, else 431;
* body: at most ``body_timeout_s`` between two reads of the body (not counted while uvicorn
  has stopped reading because the application is not reading), else 408; the time to answer,
  such as a long poll's 300 s, is not limited;
* connections: past ``max_connections``, a new connection gets only a short time for its head,
  and then a health check answer (``/api/noauth/health``) or 503; past that plus
  ``reserve``, it is closed as soon as it is accepted.

An answer of this module is ThingsBoard's error JSON and closes the connection.

The protocol also keeps a connection small, since ten thousand of them may each hold a waiting
long poll: its own state is in slots (so that uvicorn's attributes stay in a compact, shared-key
dict), uvicorn's per-connection deque and ``asyncio.Event`` objects are replaced by those of
``http.lean``, and the scope shares what is the same for every request. It tells a request
that its client went away through the scope's ``asgi.DISCONNECT_EXTENSION``, so that a long poll
needs no task of its own reading ``receive``.

The open-files limit, which bounds the connections, is raised to the hard limit at start
(``raise_open_files_limit``), and ``open_files_line`` says how many connections that leaves
room for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from thingport.http.asgi import DISCONNECT_EXTENSION
from thingport.http.errors import error_body
from thingport.http.lean import LeanEvent, LeanFlowControl, Pipeline

log = logging.getLogger("uvicorn.error")

#: The one request a connection over the cap may make: a load balancer's health check.
HEALTH_PATH = "/api/noauth/health"
#: How long a connection over the cap may take for its head.
OVER_CAP_HEADER_TIMEOUT_S = 5.0
#: Most bytes of a request's body read and dropped after its answer (the application answered
#: without reading it all) before the connection is closed instead.
MAX_DISCARDED_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class HttpLimits:
    """The limits of one server; see the module's docstring. ``max_connections=0``: no cap."""

    header_timeout_s: float = 20.0
    body_timeout_s: float = 20.0
    max_header_bytes: int = 32768
    max_headers: int = 100
    max_connections: int = 0
    reserve: int = 0


def connection_cap(setting: int, open_files: int) -> tuple[int, int]:
    """The connection cap and the reserve above it for ``setting`` (0: automatic) under an
    open-files limit of ``open_files``. Automatic keeps a tenth of the descriptors (at least
    100) for the store, Redis, log files and the reserve, so that the process never runs out
    of them: 18,000 connections for 20,000 files."""
    cap = setting or max(open_files - max(100, open_files // 10), 16)
    return cap, max(8, min(cap // 50, 1000))


#: The soft open-files limit found at start and the one in force after
#: ``raise_open_files_limit``, until ``open_files_change`` takes it (once, for the log line).
_open_files_change: tuple[int, int] | None = None


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one (every waiting long poll holds a
    socket: allow as many as the system lets us); returns the limit before and after, and
    keeps them for ``open_files_change``."""
    global _open_files_change
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    after = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    _open_files_change = (soft, after)
    return soft, after


def open_files_change() -> tuple[int, int] | None:
    """What ``raise_open_files_limit`` did in this process, once: None afterwards, and in a
    process that did not raise it (a worker inherits the raised limit)."""
    global _open_files_change
    change, _open_files_change = _open_files_change, None
    return change


def open_files_line(before: int, after: int, cap: int, processes: int,
                    configured: bool) -> str:
    """The start's one line about the open-files limit and the connections it leaves room
    for (``cap`` in each of ``processes``)."""
    if after > before:
        how = f"raised from {before}"
    else:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        how = "the hard limit" if after >= hard else f"could not be raised to {hard}"
    room = cap * processes
    about = room // 1000 * 1000 if room >= 10_000 else room
    where = f" in {processes} processes" if processes > 1 else ""
    capped = ", as THINGPORT_HTTP_MAX_CONNECTIONS caps them" if configured else ""
    return (f"open files: {after} ({how}): room for about {about:,} connections "
            f"(long polls){where}{capped}")


#: The scope's "asgi" entry, one for all requests instead of a new dict each.
_ASGI_INFO: dict[str, Any] = {}
#: The server's own addresses (the scope's "server"), one tuple each for all connections.
_ADDRESSES: dict[tuple[str, int | None], tuple[str, int | None]] = {}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of ``config.http_limits``."""

    __slots__ = ("body_seen", "body_timer", "discarded", "extensions", "head_bytes",
                 "head_started", "head_timer", "header_timeout_s", "in_body", "in_head", "limits",
                 "on_disconnect", "refusal_due", "refused")

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.pipeline = Pipeline()  # type: ignore[assignment]
        self.limits: HttpLimits = getattr(config, "http_limits", None) or HttpLimits()
        self.header_timeout_s = self.limits.header_timeout_s
        # The head now being received: its bytes so far, and whether any arrived.
        self.in_head = True
        self.head_bytes = 0
        self.head_started = False
        # Headers complete, body not yet: when its last bytes came.
        self.in_body = False
        self.body_seen = 0.0
        # Bytes of a body dropped after its request was answered.
        self.discarded = 0
        self.refused: tuple[int, str] | None = None
        # A refusal waiting for the answer to the request pipelined before it.
        self.refusal_due: tuple[int, str] | None = None
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        # The scope's extensions (made with the first request), and what to call when the
        # client goes away during the request (see ``watch_disconnect``).
        self.extensions: dict[str, Any] | None = None
        self.on_disconnect: Callable[[], object] | None = None

    # -- connection ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = LeanFlowControl(transport)  # type: ignore[assignment]
        # One tuple per listening address, one string per client host, not one per connection.
        if self.server is not None:
            self.server = _ADDRESSES.setdefault(self.server, self.server)
        if self.client is not None:
            self.client = (sys.intern(self.client[0]), self.client[1])
        cap = self.limits.max_connections
        if cap and len(self.connections) > cap:
            if len(self.connections) > cap + self.limits.reserve:
                transport.close()
                return
            self.app = OverCapacity(self.app)
            self.header_timeout_s = min(self.header_timeout_s, OVER_CAP_HEADER_TIMEOUT_S)
        # As nginx's client_header_timeout: a new connection must send its head in time.
        self.head_timer = self.loop.call_later(self.header_timeout_s, self.head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_timers()
        super().connection_lost(exc)
        callback, self.on_disconnect = self.on_disconnect, None
        if callback is not None:
            callback()

    def watch_disconnect(self, callback: Callable[[], object] | None) -> bool:
        """The scope's ``DISCONNECT_EXTENSION``: ``callback()`` once the connection is lost
        while the request runs (a waiting long poll then ends without a task of its own to
        watch ``receive``); None: no more. False when it is lost already."""
        if callback is not None and (self.transport.is_closing() or self.cycle is None
                                     or self.cycle.disconnected):
            return False
        self.on_disconnect = callback
        return True

    def cancel_timers(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def data_received(self, data: bytes) -> None:
        if self.refusal_due:
            return  # what follows a refused head is not read
        while self.in_head:
            self.head_started = True
            room = self.limits.max_header_bytes - self.head_bytes
            if len(data) <= room:
                self.head_bytes += len(data)
                break
            # Feed only what the head may still take: if it is not complete within that,
            # it is too large, and httptools has buffered no more than the limit.
            self.head_bytes = self.limits.max_header_bytes
            if room > 0:
                super().data_received(data[:room])
            if self.transport.is_closing():
                return
            if self.in_head:
                self.refuse(431, self.too_large)
                return
            data = data[room:]
        super().data_received(data)
        # Timers only for requests that span reads: one that came whole arms none.
        if not self.in_body and (not self.in_head or not self.head_started or self.head_timer):
            return
        if (self.transport.is_closing() or self.refusal_due
                or self.transport.get_protocol() is not self):
            return  # answered (or to be), or upgraded to a WebSocket
        if self.in_head:
            self.head_timer = self.loop.call_later(self.header_timeout_s, self.head_timed_out)
        else:
            if self.cycle.response_complete:  # the rest of a body answered already
                self.discarded += len(data)
                if self.discarded > MAX_DISCARDED_BYTES:
                    self.transport.close()
                    return
            self.body_seen = self.loop.time()
            if self.body_timer is None:
                self.body_timer = self.loop.call_later(self.limits.body_timeout_s,
                                                       self.body_timed_out)

    @property
    def too_large(self) -> str:
        return f"Request header fields are larger than {self.limits.max_header_bytes} bytes"

    # -- parser callbacks ------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        # Checked once, here, not per header (the hot path): the size limit already bounds
        # the fields' memory.
        if len(self.headers) > self.limits.max_headers:
            self.refused = (431, f"More than {self.limits.max_headers} header fields")
            raise HeadRefused
        if not self.head_started and self.pipelined_head_size() > self.limits.max_header_bytes:
            self.refused = (431, self.too_large)
            raise HeadRefused
        self.in_head = False
        self.in_body = True
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before:  # a request (not an upgrade): lighten what it holds
            if self.expect_100_continue:
                # If it is answered without a 100 Continue, the client sends no body and the
                # connection cannot carry another request: say so in the answer (uvicorn adds
                # "connection: close" and closes after it).
                self.cycle.keep_alive = False
            self.cycle.message_event = LeanEvent()  # type: ignore[assignment]
            if self.extensions is None:
                self.extensions = {DISCONNECT_EXTENSION: self.watch_disconnect}
            self.scope["extensions"] = self.extensions
            version = self.scope["asgi"]["version"]
            self.scope["asgi"] = _ASGI_INFO.get(version) or _ASGI_INFO.setdefault(
                version, self.scope["asgi"])
            self.url = b""  # parsed into the scope; uvicorn starts it again per request

    def pipelined_head_size(self) -> int:
        """The size of a head that began in the read which ended the request before it:
        ``data_received`` counts only from a read that begins in a head."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def on_message_complete(self) -> None:
        self.in_body = False
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None
        # The next head starts counting; its timer starts with its first byte.
        self.in_head = True
        self.head_bytes = 0
        self.head_started = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self.refusal_due and self.cycle.response_complete:
            self.refuse(*self.refusal_due)
        super().on_response_complete()
        if self.in_body and self.cycle.response_complete and not self.transport.is_closing():
            # Answered before its body was all read. The client, told nothing, sends its next
            # request on this connection: closing now would leave that one unanswered. So the
            # rest is read and dropped (uvicorn drops a body after the response), at most
            # MAX_DISCARDED_BYTES, then the connection closes.
            self.discarded = 0

    def handle_websocket_upgrade(self) -> None:
        if isinstance(self.app, OverCapacity):
            self.refuse(503, OverCapacity.MESSAGE)
            return
        self.in_body = False
        self.cancel_timers()
        super().handle_websocket_upgrade()

    # -- refusing --------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request httptools cannot parse (or that a callback above
        refused), as JSON."""
        status, message = self.refused or (400, msg)
        self.refuse(status, message)

    def head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A request pipelined behind one still being answered: its turn has not come.
            self.head_timer = self.loop.call_later(self.header_timeout_s, self.head_timed_out)
            return
        if not self.head_started:
            self.transport.close()  # nothing was asked: nothing to answer
            return
        self.refuse(408, "Timeout while reading the request headers")

    def body_timed_out(self) -> None:
        self.body_timer = None
        if self.transport.is_closing() or not self.in_body:
            return
        now = self.loop.time()
        if self.flow.read_paused:
            # Not reading (the application has not asked for more): not the client's delay.
            self.body_seen = now
        idle = now - self.body_seen
        if idle < self.limits.body_timeout_s:
            self.body_timer = self.loop.call_later(self.limits.body_timeout_s - idle,
                                                   self.body_timed_out)
            return
        self.refuse(408, "Timeout while reading the request body")

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with ThingsBoard's error JSON, unless another response is on the
        wire, and close; the application, if it is running the request, sees the client gone."""
        self.cancel_timers()
        current = None if self.in_head else self.cycle
        if current is None and self.cycle is not None and not self.cycle.response_complete:
            # A head pipelined behind a request still being answered: after that answer.
            self.refusal_due = (status, message)
            self.flow.pause_reading()
            return
        if current is None or not current.response_started:
            log.debug("refused with %s: %s", status, message)
            body = error_body(status, message)
            head = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                head.extend([name, b": ", value, b"\r\n"])
            head.append(b"content-type: application/json\r\ncontent-length: %d\r\n"
                        b"connection: close\r\n\r\n" % len(body))
            self.transport.write(b"".join(head) + body)
        if current is not None:
            current.disconnected = True
            current.message_event.set()
        self.transport.close()


class HeadRefused(Exception):
    """Raised in a parser callback to stop parsing a head that is refused (431)."""


class OverCapacity:
    """The application of a connection over the cap: health checks pass, the rest is 503."""

    MESSAGE = "Too many open connections; retry later"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH:

            async def closing_send(message: Any) -> None:
                if message["type"] == "http.response.start":
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, closing_send)
            return
        body = error_body(503, self.MESSAGE)
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"retry-after", b"1")]})
        await send({"type": "http.response.body", "body": body})
