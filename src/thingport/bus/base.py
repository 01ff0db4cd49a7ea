"""The bus: wakes waiters (long polls, RPC callers) wherever they are.

A message says "something happened on channel X"; the state itself is in the store. So a
subscriber that was not listening when a message went out loses nothing: it reads the store when
it starts waiting. Subscribe first, then read the store, then wait: that order leaves no gap.

A network bus can lose its connection, and with it the messages sent meanwhile. It then tells
every local subscription, whatever its channels, with a message on ``BUS_STATE``: ``BUS_DOWN``
when the connection is lost (wake-ups may be missed from now on: poll the store) and ``BUS_UP``
once it is back (read the store once more, then trust the wake-ups again).
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from types import TracebackType

#: The channel of the bus's own news, delivered to every subscription. No real channel starts
#: with a NUL, so it cannot collide with one.
BUS_STATE = "\x00bus-state"
#: ``BUS_STATE`` payload: the connection to the other nodes is lost; messages may be lost.
BUS_DOWN = b"down"
#: ``BUS_STATE`` payload: connected again; whatever was missed meanwhile is in the store.
BUS_UP = b"up"


class BusUnavailable(ConnectionError):
    """The bus cannot reach the other nodes right now (raised by ``Bus.ping``)."""


class Subscription:
    """Messages for some channels, queued from the moment the subscription is entered."""

    def __init__(self, bus: LocalFanout, channels: tuple[str, ...]) -> None:
        self.channels = channels
        self._bus = bus
        self._messages: deque[tuple[str, bytes]] = deque()
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Subscription:
        self._bus.attach(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bus.detach(self)

    def deliver(self, channel: str, message: bytes) -> None:
        self._messages.append((channel, message))
        self._ready.set()

    async def get(self, timeout: float | None = None) -> tuple[str, bytes] | None:
        """The next message as ``(channel, payload)``, or None when ``timeout`` seconds pass."""
        if not self._messages:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self._messages.popleft()


class LocalFanout:
    """Hands a message to this process's subscribers of its channel."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}

    def attach(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            self._subscribers.setdefault(channel, set()).add(subscription)

    def detach(self, subscription: Subscription) -> None:
        for channel in subscription.channels:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[channel]

    def fan_out(self, channel: str, message: bytes) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.deliver(channel, message)

    def broadcast(self, channel: str, message: bytes) -> None:
        """Hand a message to every subscription of this process, whatever its channels."""
        everyone = {s for subscribers in self._subscribers.values() for s in subscribers}
        for subscription in everyone:
            subscription.deliver(channel, message)

    def has_subscribers(self, channel: str) -> bool:
        """Whether anyone in this process listens to ``channel``."""
        return channel in self._subscribers

    @property
    def subscriber_count(self) -> int:
        """How many (channel, subscription) pairs are attached; for tests and metrics."""
        return sum(len(s) for s in self._subscribers.values())


class Bus(abc.ABC):
    """Publish to channels; subscribe to them from any node."""

    def __init__(self) -> None:
        self.local = LocalFanout()

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect (a network bus) and start delivering."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop delivering and release connections."""

    @abc.abstractmethod
    async def publish(self, channel: str, message: bytes = b"") -> None:
        """Deliver ``message`` to every subscriber of ``channel`` on every node. Subscribers that
        are not subscribed at that moment do not get it."""

    @property
    def connected(self) -> bool:
        """Whether messages reach this node now. While False, waiters must read the store on a
        timer, because wake-ups may be lost (a network bus that lost its connection)."""
        return True

    @abc.abstractmethod
    async def ping(self, timeout_s: float = 1.0) -> None:
        """Return when the bus works (within ``timeout_s``); raise BusUnavailable otherwise.
        For health checks: cheap, and bounded by ``timeout_s``."""

    def may_have_subscribers(self, channel: str) -> bool:
        """Whether a message on ``channel`` could reach anyone: a network bus cannot know what
        other nodes listen to, so it always says yes."""
        return True

    def subscribe(self, *channels: str, announce: bool = False) -> Subscription:
        """An async context manager receiving messages of ``channels`` while it is entered.
        With ``announce``, publishers on other nodes learn that someone listens (see
        ``interest.py``): for channels whose messages are sent only to listeners."""
        return Subscription(self.local, channels)
