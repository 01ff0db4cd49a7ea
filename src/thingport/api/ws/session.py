"""One WebSocket session: authentication, the command loop, and a bounded outbound queue.

Close codes are ThingsBoard's: 1007 for a parse or auth failure before authentication, 1008
for a missing ``authCmd``, the auth timeout, and more than ``MAX_QUEUED`` frames a slow client
has not taken, 1009 for an inbound frame over 32 KiB, 1011 for a bad ``?token=``, and 1001
("going away") when the server stops. Everything after authentication that is wrong with a
command is an error frame; the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

import orjson
from starlette.websockets import WebSocket

from thingport.api.ws import telemetry_cmds
from thingport.api.ws.commands import (
    AlarmCountCmd,
    AlarmDataCmd,
    AlarmStatusCmd,
    AttributesCmd,
    Command,
    EntityCountCmd,
    EntityDataCmd,
    HistoryCmd,
    MarkAllNotificationsReadCmd,
    MarkNotificationsReadCmd,
    NotificationsCmd,
    NotificationsCountCmd,
    TimeseriesCmd,
    Unsubscribe,
    parse,
)
from thingport.api.ws.entities import MAX_ENTITIES
from thingport.api.ws.entity_data import EntityDataQueries, entity_count
from thingport.api.ws.frames import (
    CommandFailed,
    ErrorCode,
    cmd_error,
    cmd_update,
    empty_page,
    telemetry_error,
)
from thingport.api.ws.telemetry_cmds import Context
from thingport.errors import BadRequest, ThingportError
from thingport.lifecycle import Lifecycle
from thingport.services import Services
from thingport.services.auth import Principal

log = logging.getLogger(__name__)

#: ThingsBoard's server.ws.auth_timeout_ms.
AUTH_TIMEOUT_S = 10.0
#: ThingsBoard's max_text_message_buffer_size.
MAX_FRAME_BYTES = 32768
#: ThingsBoard's max_queue_messages_per_session.
MAX_QUEUED = 1000
#: Open subscriptions one session may hold: bounds the work one client can make us do.
MAX_SUBSCRIPTIONS = 1000

CLOSE_BAD_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_SERVER_ERROR = 1011

_LEGACY_KINDS = (TimeseriesCmd, AttributesCmd, HistoryCmd)
_UPDATE_TYPES = {EntityDataCmd: "ENTITY_DATA", EntityCountCmd: "COUNT_DATA",
                 AlarmDataCmd: "ALARM_DATA", AlarmCountCmd: "ALARM_COUNT_DATA",
                 AlarmStatusCmd: "ALARM_STATUS", NotificationsCmd: "NOTIFICATIONS",
                 NotificationsCountCmd: "NOTIFICATIONS_COUNT"}


def error_frame(cmd: Command, code: ErrorCode, message: str) -> dict[str, object]:
    """An error in the shape the command's replies have."""
    if isinstance(cmd, _LEGACY_KINDS):
        return telemetry_error(cmd.cmd_id, code, message)
    return cmd_error(cmd.cmd_id, _UPDATE_TYPES.get(type(cmd), "ENTITY_DATA"), code, message)


def close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes a close frame's reason may hold."""
    encoded = text.encode()
    return text if len(encoded) <= 123 else encoded[:120].decode(errors="ignore") + "..."


class Session:
    """Runs one client's commands and sends their frames; ``send`` is what commands call."""

    def __init__(self, websocket: WebSocket, services: Services, legacy: bool,
                 lifecycle: Lifecycle | None = None) -> None:
        self.websocket = websocket
        self.services = services
        self.legacy = legacy
        self.lifecycle = lifecycle or Lifecycle()
        self.caller: Principal | None = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(MAX_QUEUED)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._entity_data = EntityDataQueries()
        self._close: tuple[int, str] | None = None
        self._closing = asyncio.Event()

    # -- what commands use -----------------------------------------------------------------
    def send(self, frame: dict[str, object]) -> None:
        """Queue a frame; a client that lets ``MAX_QUEUED`` pile up is disconnected, so a slow
        browser cannot grow our memory."""
        if self._close is not None:
            return
        try:
            self._queue.put_nowait(orjson.dumps(frame))
        except asyncio.QueueFull:
            self.close(CLOSE_POLICY_VIOLATION, "Max pending updates limit reached!")

    def close(self, code: int, reason: str) -> None:
        """End the session with ``code``; the first reason given wins."""
        if self._close is None:
            self._close = (code, close_reason(reason))
            self._closing.set()

    # -- the session's life ----------------------------------------------------------------
    async def run(self) -> None:
        """Accept, serve until either side closes (or the server stops), then stop every
        subscription."""
        await self.websocket.accept()
        self.lifecycle.session_opened(self)
        try:
            await self._serve()
        finally:
            self.lifecycle.session_closed(self)

    async def _serve(self) -> None:
        token = self.websocket.query_params.get("token")
        if token:
            try:
                self.caller = await self.services.auth.principal(token)
            except ThingportError as exc:
                await self.websocket.close(CLOSE_SERVER_ERROR, close_reason(exc.message))
                return
        workers = [asyncio.create_task(self._receive()), asyncio.create_task(self._transmit()),
                   asyncio.create_task(self._closing.wait())]
        try:
            await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            running = [*workers, *self._tasks.values()]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        if self._close is not None:
            with contextlib.suppress(Exception):  # the client may be gone already
                await self.websocket.close(*self._close)

    async def _transmit(self) -> None:
        while True:
            frame = await self._queue.get()
            await self.websocket.send_text(frame.decode())

    async def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        auth_deadline = loop.time() + AUTH_TIMEOUT_S
        while True:
            if self.caller is None:
                try:
                    message = await asyncio.wait_for(self.websocket.receive(),
                                                     auth_deadline - loop.time())
                except TimeoutError:
                    self.close(CLOSE_POLICY_VIOLATION, "Auth timeout")
                    return
            else:
                message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(text) * 4 > MAX_FRAME_BYTES and len(text.encode()) > MAX_FRAME_BYTES:
                self.close(CLOSE_TOO_BIG, f"Frame larger than {MAX_FRAME_BYTES} bytes")
                return
            await self._handle(text)
            if self._close is not None:
                return

    async def _handle(self, text: str) -> None:
        try:
            auth, commands = parse(text, self.legacy)
        except BadRequest as exc:
            if self.caller is None:
                self.close(CLOSE_BAD_DATA, exc.message)
            else:
                # ThingsBoard answers a frame it cannot parse as subscription 1.
                self.send(telemetry_error(1, ErrorCode.BAD_REQUEST, exc.message))
            return
        if self.caller is None:
            if auth is None:
                self.close(CLOSE_POLICY_VIOLATION, "Auth cmd is missing")
                return
            try:
                self.caller = await self.services.auth.principal(auth.token or "")
            except ThingportError as exc:
                self.close(CLOSE_BAD_DATA, exc.message)
                return
        for command in commands:
            self._dispatch(command)

    # -- commands --------------------------------------------------------------------------
    def _dispatch(self, cmd: Command) -> None:
        assert self.caller is not None
        context = Context(self.services, self.caller, self.send)
        if cmd.cmd_id < 0:
            self.send(error_frame(cmd, ErrorCode.BAD_REQUEST, "Cmd id is negative value!"))
            return
        if isinstance(cmd, TimeseriesCmd | AttributesCmd) and cmd.unsubscribe:
            if cmd.entity_id:
                self._stop(cmd.cmd_id)
            else:  # ThingsBoard: an unsubscribe without an entity ends every subscription
                for cmd_id in list(self._tasks):
                    self._stop(cmd_id)
        elif isinstance(cmd, Unsubscribe):
            self._stop(cmd.cmd_id)
            self._entity_data.forget(cmd.cmd_id)
        elif isinstance(cmd, TimeseriesCmd):
            self._start(cmd, telemetry_cmds.timeseries(context, cmd))
        elif isinstance(cmd, AttributesCmd):
            self._start(cmd, telemetry_cmds.attributes(context, cmd))
        elif isinstance(cmd, HistoryCmd):
            self._start(cmd, telemetry_cmds.history(context, cmd))
        elif isinstance(cmd, EntityDataCmd):
            self._start(cmd, self._entity_data.run(context, cmd))
        elif isinstance(cmd, EntityCountCmd):
            self._start(cmd, entity_count(context, cmd))
        else:
            self._answer_empty(cmd)

    def _answer_empty(self, cmd: Command) -> None:
        """Alarms and notifications: thingport has none, so each answer is empty."""
        if isinstance(cmd, AlarmDataCmd):
            self.send(cmd_update(cmd.cmd_id, "ALARM_DATA", data=empty_page(), update=None,
                                 allowedEntities=MAX_ENTITIES, totalEntities=0))
        elif isinstance(cmd, AlarmCountCmd):
            self.send(cmd_update(cmd.cmd_id, "ALARM_COUNT_DATA", count=0))
        elif isinstance(cmd, AlarmStatusCmd):
            self.send(cmd_update(cmd.cmd_id, "ALARM_STATUS", active=False))
        elif isinstance(cmd, NotificationsCmd):
            self.send(cmd_update(cmd.cmd_id, "NOTIFICATIONS", notifications=[],
                                 totalUnreadCount=0, update=None))
        elif isinstance(cmd, NotificationsCountCmd):
            self.send(cmd_update(cmd.cmd_id, "NOTIFICATIONS_COUNT", totalUnreadCount=0))
        else:
            assert isinstance(cmd, MarkNotificationsReadCmd | MarkAllNotificationsReadCmd)

    def _start(self, cmd: Command, work: Awaitable[None]) -> None:
        """Run ``work`` as the subscription ``cmd.cmdId``, replacing one of the same id."""
        self._stop(cmd.cmd_id)
        if len(self._tasks) >= MAX_SUBSCRIPTIONS:
            work.close()  # type: ignore[attr-defined]  # a coroutine never awaited
            self.close(CLOSE_POLICY_VIOLATION, "Max subscriptions limit reached!")
            return
        task = asyncio.create_task(self._guarded(cmd, work))
        self._tasks[cmd.cmd_id] = task
        task.add_done_callback(lambda done: self._finished(cmd.cmd_id, done))

    def _finished(self, cmd_id: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(cmd_id) is task:
            del self._tasks[cmd_id]

    def _stop(self, cmd_id: int) -> None:
        task = self._tasks.pop(cmd_id, None)
        if task is not None:
            task.cancel()

    async def _guarded(self, cmd: Command, work: Awaitable[None]) -> None:
        try:
            await work
        except CommandFailed as failed:
            self.send(error_frame(cmd, failed.code, failed.message))
        except ThingportError as exc:
            self.send(error_frame(cmd, ErrorCode.BAD_REQUEST, exc.message))
        except Exception:
            log.exception("WebSocket command %s failed", type(cmd).__name__)
            self.send(error_frame(cmd, ErrorCode.INTERNAL_ERROR, "Failed to fetch data!"))
