"""The bus between the processes of one server: the primary's ``HubBus`` relays every message to
every worker's ``IpcBus`` over Unix sockets, and each worker's to the primary and the others.

Used when a server runs several workers and no Redis is configured (with Redis, every process is
a node of the Redis bus instead). A long poll held by one process is then woken by a command
another accepted, and a changed token or a deleted device is forgotten by every process's cache,
as across nodes. Channels announced by WebSocket sessions (every committed sample) are sent only
when another process listens, with the Redis bus's bookkeeping (``interest.py``).

The primary and its workers live and die together: a worker that loses the hub has lost the
primary and stops; the primary starts a new worker when one dies.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from thingport import ipc
from thingport.bus import interest
from thingport.bus.base import Bus, BusUnavailable, Subscription

log = logging.getLogger(__name__)

#: Messages about announced channels travel as this channel name (no real one starts with NUL).
_INTEREST = "\x00interest"
#: A question to every other process (``gather``), their answers, and how many to wait for.
_ASK, _ANSWER, _COUNT = "\x00ask", "\x00answer", "\x00count"
#: The hub's first message to a worker: from then on, the worker is sent every message.
_HELLO = "\x00hello"
#: How long ``gather`` waits for the other processes' answers.
GATHER_TIMEOUT_S = 2.0
Message = tuple[str, Any]


class _Peer(Bus):
    """What the hub and a worker's end have in common: local delivery at once, a message to
    the other processes, and the announced channels' bookkeeping."""

    def __init__(self) -> None:
        super().__init__()
        self.announcer = interest.Announcer(self._send_interest, "ipc-interest")
        #: What this process answers to ``gather`` (topic -> the answer, made now).
        self._answers: dict[str, Callable[[], bytes]] = {}
        #: ``gather`` calls waiting: their answers so far and how many are expected.
        self._gathering: dict[str, _Gathering] = {}

    def answer(self, topic: str, make: Callable[[], bytes]) -> None:
        """Answer the other processes' ``gather(topic)`` with ``make()``."""
        self._answers[topic] = make

    async def gather(self, topic: str) -> list[bytes]:
        """Every other process's answer to ``topic`` (those that answer within
        ``GATHER_TIMEOUT_S``): e.g. their metrics, for a /metrics page of the whole server."""
        ask = uuid.uuid4().hex
        gathering = self._gathering[ask] = _Gathering()
        try:
            self._ask(ask, topic)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gathering.complete.wait(), GATHER_TIMEOUT_S)
        finally:
            del self._gathering[ask]
        return gathering.answers

    @abc.abstractmethod
    def _ask(self, ask: str, topic: str) -> None:
        """Send the question ``ask`` about ``topic`` to every other process."""

    def _my_answer(self, topic: str) -> bytes:
        make = self._answers.get(topic)
        if make is None:
            return b""
        try:
            return make()
        except Exception:  # one process's failure must not fail the others' page
            log.exception("answering %r failed", topic)
            return b""

    def _answered(self, ask: str, data: bytes | None = None, count: int | None = None) -> None:
        gathering = self._gathering.get(ask)
        if gathering is None:
            return  # too late: that gather has given up
        if data is not None:
            gathering.answers.append(data)
        if count is not None:
            gathering.expected = count
        if gathering.expected is not None and len(gathering.answers) >= gathering.expected:
            gathering.complete.set()

    @abc.abstractmethod
    def _send(self, message: Message, source: ipc.Channel | None = None) -> None:
        """Hand ``message`` to the other processes (all but ``source``, where it came from)."""

    async def publish(self, channel: str, message: bytes = b"") -> None:
        """Deliver here at once, and to the other processes."""
        self.local.fan_out(channel, message)
        self._send((channel, message))

    def may_have_subscribers(self, channel: str) -> bool:
        return self.local.has_subscribers(channel) or self.announcer.anyone_else(channel)

    def subscribe(self, *channels: str, announce: bool = False) -> Subscription:
        if not announce:
            return Subscription(self.local, channels)
        return self.announcer.subscribe(self.local, channels)

    def _received(self, message: Message) -> None:
        channel, payload = message
        if channel != _INTEREST:
            self.local.fan_out(channel, payload)
            return
        self.announcer.heard(payload)

    async def _send_interest(self, message: bytes) -> None:
        self._send((_INTEREST, message))


class _Gathering:
    __slots__ = ("answers", "complete", "expected")

    def __init__(self) -> None:
        self.answers: list[bytes] = []
        self.expected: int | None = None
        self.complete = asyncio.Event()


class HubBus(_Peer):
    """The primary's bus: its own subscribers, and the hub every worker connects to."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._channels: set[ipc.Channel] = set()
        #: Questions relayed for a worker: where their answers go.
        self._askers: dict[str, ipc.Channel] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(self._connect, self.path)
        self.announcer.start()

    def _connect(self) -> ipc.Channel:
        channel: ipc.Channel

        def received(message: Message) -> None:
            kind = message[0]
            if kind == _ASK:
                self._relay_ask(channel, *message[1])
            elif kind == _ANSWER:
                ask, data = message[1]
                asker = self._askers.get(ask)
                if asker is None:
                    self._answered(ask, data)
                elif not asker.closed:
                    asker.send(message)
            else:
                self._send(message, channel)
                self._received(message)

        def lost(exc: Exception | None) -> None:
            self._channels.discard(channel)

        channel = ipc.Channel(received, lost)
        self._channels.add(channel)
        channel.send((_HELLO, b""))
        return channel

    def _send(self, message: Message, source: ipc.Channel | None = None) -> None:
        for channel in self._channels:
            if channel is not source and not channel.closed:
                channel.send(message)

    def _ask(self, ask: str, topic: str) -> None:
        others = [c for c in self._channels if not c.closed]
        for channel in others:
            channel.send((_ASK, (ask, topic)))
        self._answered(ask, count=len(others))

    def _relay_ask(self, asker: ipc.Channel, ask: str, topic: str) -> None:
        """A worker's question: this process answers it, and the others through the hub."""
        others = [c for c in self._channels if c is not asker and not c.closed]
        self._askers[ask] = asker
        for channel in others:
            channel.send((_ASK, (ask, topic)))
        asker.send((_COUNT, (ask, len(others) + 1)))
        asker.send((_ANSWER, (ask, self._my_answer(topic))))
        # Answers later than the asker waits are dropped with the entry.
        asyncio.get_running_loop().call_later(GATHER_TIMEOUT_S + 1, self._askers.pop, ask, None)

    async def stop(self) -> None:
        await self.announcer.stop()
        if self._server is not None:
            self._server.close()
            for channel in list(self._channels):
                channel.close()
            await self._server.wait_closed()
            self._server = None

    async def ping(self, timeout_s: float = 1.0) -> None:
        if self._server is None:
            raise BusUnavailable("the hub is not started")


class IpcBus(_Peer):
    """A worker's bus: its own subscribers, and the primary's hub."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._channel: ipc.Channel | None = None
        self._welcomed = asyncio.Event()
        #: Called once when the hub is gone (the worker then stops).
        self.on_lost: Callable[[], None] | None = None

    @property
    def connected(self) -> bool:
        return self._channel is not None and not self._channel.closed

    async def start(self) -> None:
        """Connect to the hub, wait until it counts this worker in (a message sent before
        would miss it), and ask the other processes what they listen to."""
        self._channel = await ipc.connect(self.path, self._received, self._lost)
        await asyncio.wait_for(self._welcomed.wait(), GATHER_TIMEOUT_S)
        self.announcer.start()
        await self.announcer.tell("?", [])

    def _send(self, message: Message, source: ipc.Channel | None = None) -> None:
        if self._channel is not None and not self._channel.closed:
            self._channel.send(message)

    def _ask(self, ask: str, topic: str) -> None:
        if not self.connected:
            self._answered(ask, count=0)
            return
        self._send((_ASK, (ask, topic)))

    def _received(self, message: Message) -> None:
        kind = message[0]
        if kind == _HELLO:
            self._welcomed.set()
        elif kind == _ASK:
            ask, topic = message[1]
            self._send((_ANSWER, (ask, self._my_answer(topic))))
        elif kind == _ANSWER:
            self._answered(*message[1])
        elif kind == _COUNT:
            ask, count = message[1]
            self._answered(ask, count=count)
        else:
            super()._received(message)

    def _lost(self, exc: Exception | None) -> None:
        if self.on_lost is not None:
            self.on_lost()

    async def stop(self) -> None:
        await self.announcer.stop()
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    async def ping(self, timeout_s: float = 1.0) -> None:
        if not self.connected:
            raise BusUnavailable("the primary process's hub is gone")
