"""One device API request as its handlers see it: the device, and lazy access to its query
and body (read under the request's limit, parsed off the event loop when big)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from thingport.domain.model import Device
from thingport.errors import BadRequest
from thingport.http.asgi import Receive, Scope, query_params, read_body, until_disconnected
from thingport.http.json_body import NOT_INLINE, parse_inline, parse_json, parse_off_loop_into
from thingport.lifecycle import Lifecycle

T = TypeVar("T")


class DeviceCall:
    """One device API request: its device, and lazy access to its query and body."""

    __slots__ = ("body_read", "device", "lifecycle", "limit", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive, device: Device, limit: int,
                 lifecycle: Lifecycle | None = None) -> None:
        self.scope = scope
        self.receive = receive
        self.device = device
        self.limit = limit
        self.lifecycle = lifecycle
        #: Whether the body has been read to its end (read_body drops the rest of one too
        #: large), so that an error answer knows whether it must drain it first.
        self.body_read = False

    def params(self) -> dict[str, str]:
        return query_params(self.scope)

    async def raw_body(self) -> bytes:
        """The body as sent, possibly empty."""
        try:
            return await read_body(self.receive, self.limit)
        finally:
            self.body_read = True

    async def body(self) -> bytes:
        """The body; a missing or empty one is a 400, as Spring answers for a required body."""
        try:  # raw_body's work, without a coroutine of its own (the hot path)
            body = await read_body(self.receive, self.limit)
        finally:
            self.body_read = True
        if not body:
            raise BadRequest("Required request body is missing")
        return body

    async def json(self) -> Any:
        return await parse_json(await self.body())

    async def json_into(self, convert: Callable[[Any], T]) -> T:
        """``convert(self.json())``; for a big body both off the event loop."""
        body = await self.body()
        value = parse_inline(body)
        if value is NOT_INLINE:
            return await parse_off_loop_into(body, convert)
        return convert(value)

    def until_disconnected(self, work: Awaitable[T], kind: str) -> Awaitable[T]:
        """``work``'s result, or ClientDisconnected as soon as the device goes away, or
        ServerStopping when the server stops; counted as a wait of ``kind``. (Not a
        coroutine of its own: each waiting poll would keep one.)"""
        return until_disconnected(self.receive, work, self.lifecycle, kind, self.scope)
