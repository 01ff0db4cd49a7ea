"""The connection's protocol keeps a waiting request small, and tells the app when its client
goes away (``DISCONNECT_EXTENSION``), on uvicorn's own protocol class, fed bytes directly."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import pytest
from uvicorn.server import ServerState

from thingport.http.asgi import DISCONNECT_EXTENSION
from thingport.http.lean import LeanEvent, LeanFlowControl, Pipeline
from thingport.http.limits import LimitedHttpToolsProtocol
from thingport.server import ThingportConfig
from thingport.settings import TlsConfig

GET = b"GET /api/v1/token/rpc?timeout=60000 HTTP/1.1\r\nHost: x\r\n\r\n"


class Transport(asyncio.Transport):
    """What the protocol asks of a socket, recording what it writes."""

    def __init__(self, port: int = 40000) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False
        self.port = port
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", self.port)}.get(
            name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


class Polls:
    """An app whose requests wait until ``answer``; it keeps each request's scope."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.answer = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.scopes.append(scope)
        await receive()
        await self.answer.wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def config_of(app: Polls) -> ThingportConfig:
    config = ThingportConfig(app, tls=TlsConfig(), lifespan="off", proxy_headers=False,
                             access_log=False)
    config.load()
    return config


def connect(app: Polls | ThingportConfig, state: ServerState, port: int = 40000
            ) -> tuple[LimitedHttpToolsProtocol, Transport]:
    config = app if isinstance(app, ThingportConfig) else config_of(app)
    protocol = LimitedHttpToolsProtocol(config, state, {}, asyncio.get_running_loop())
    transport = Transport(port)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return protocol, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_extension_tells_of_a_lost_connection_once() -> None:
    app = Polls()
    protocol, _ = connect(app, ServerState())
    protocol.data_received(GET)
    await settle()
    watch = app.scopes[0]["extensions"][DISCONNECT_EXTENSION]
    told: list[str] = []
    assert watch(lambda: told.append("gone")) is True
    protocol.connection_lost(None)
    assert told == ["gone"]
    protocol.connection_lost(None)  # a second loss (or a late one) tells nobody twice
    assert told == ["gone"]
    assert watch(lambda: told.append("again")) is False  # already gone
    assert told == ["gone"]


async def test_no_longer_watching_is_not_told() -> None:
    app = Polls()
    protocol, _ = connect(app, ServerState())
    protocol.data_received(GET)
    await settle()
    watch = app.scopes[0]["extensions"][DISCONNECT_EXTENSION]
    told: list[str] = []
    watch(lambda: told.append("gone"))
    watch(None)
    protocol.connection_lost(None)
    assert told == []


async def test_pipelined_requests_are_answered_in_order() -> None:
    app = Polls()
    protocol, transport = connect(app, ServerState())
    assert isinstance(protocol.pipeline, Pipeline)
    assert isinstance(protocol.flow, LeanFlowControl)
    protocol.data_received(GET + GET.replace(b"rpc", b"attributes/updates"))
    await settle()
    assert [s["path"] for s in app.scopes] == ["/api/v1/token/rpc"]  # the second waits
    assert isinstance(protocol.cycle.message_event, LeanEvent)
    app.answer.set()
    await settle()
    assert [s["path"] for s in app.scopes] == ["/api/v1/token/rpc",
                                               "/api/v1/token/attributes/updates"]
    await settle()
    assert transport.written.count(b"HTTP/1.1 200 OK") == 2
    assert app.scopes[0]["asgi"] is app.scopes[1]["asgi"]  # one dict for every request


async def test_lean_event_waits_and_wakes_like_asyncio_event() -> None:
    event = LeanEvent()
    assert not event.is_set()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await settle()
    assert not any(w.done() for w in waiters)
    event.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert await event.wait() is True  # already set: at once
    event.clear()
    late = asyncio.ensure_future(event.wait())
    await settle()
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    event.set()  # a cancelled waiter is not woken (nor does it break set)
    assert event.is_set()


async def test_a_waiting_request_costs_little_python_memory() -> None:
    """About 5.4 KB here with uvicorn 0.54 (this test's transport and app included): the
    protocol (its attributes in a shared-key dict), the parser, the cycle, the scope and
    uvicorn's task. Before the lean pieces it was 9 KB: a per-connection deque of pipelined
    requests, two ``asyncio.Event`` with a deque each, and a dict that outgrew key sharing."""
    app, state = Polls(), ServerState()
    config = config_of(app)
    count = 200
    connections = [connect(config, state, 40000 + n) for n in range(5)]  # warm: shared keys
    for protocol, _ in connections:
        protocol.data_received(GET)
    await settle()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            protocol, transport = connect(config, state, 41000 + n)
            protocol.data_received(GET)
            connections.append((protocol, transport))
        await settle()
        per_request = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(app.scopes) == count + 5
    app.answer.set()
    await settle()
    assert all(t.written.startswith(b"HTTP/1.1 200 OK") for _, t in connections)
    assert per_request < 7000, per_request
