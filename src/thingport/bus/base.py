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
import math
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


#: A wait of at least SLOTTED_FROM_S ends at the next multiple of DEADLINE_SLOT_S after its
#: deadline, with every other wait ending in that slot, on one timer: a uvloop timer is about
#: 660 bytes, and ten thousand long polls each with one of their own held 6.6 MB for them.
#: Shorter waits keep a timer each (a poll's 408 is then at most 0.1 s late, not 10 %).
DEADLINE_SLOT_S = 0.1
SLOTTED_FROM_S = 1.0


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _Deadlines:
    """The slots of one event loop: per slot, its waiters and the timer that ends them."""

    __slots__ = ("_slots", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._slots: dict[int, tuple[set[asyncio.Future[None]], asyncio.TimerHandle]] = {}

    def add(self, waiter: asyncio.Future[None], timeout: float) -> int:
        """Have ``waiter`` done once ``timeout`` seconds have passed; returns its slot."""
        slot = math.ceil((self.loop.time() + timeout) / DEADLINE_SLOT_S)
        entry = self._slots.get(slot)
        if entry is None:
            timer = self.loop.call_at(slot * DEADLINE_SLOT_S, self._expire, slot)
            self._slots[slot] = ({waiter}, timer)
        else:
            entry[0].add(waiter)
        return slot

    def discard(self, slot: int, waiter: asyncio.Future[None]) -> None:
        """``waiter`` no longer waits (a slot nobody waits in any more has no timer)."""
        entry = self._slots.get(slot)
        if entry is not None:
            entry[0].discard(waiter)
            if not entry[0]:
                entry[1].cancel()
                del self._slots[slot]

    def _expire(self, slot: int) -> None:
        entry = self._slots.pop(slot, None)
        for waiter in entry[0] if entry else ():
            if not waiter.done():
                waiter.set_result(None)


class Subscription:
    """Messages for some channels, queued from the moment the subscription is entered.

    Ten thousand long polls each hold one while they wait, so it is small: slots, no queue
    until a message comes, and ``get`` waits on a plain future with a timer instead of an
    ``asyncio.Event`` under ``asyncio.wait_for`` (which made a task of its own per wait)."""

    __slots__ = ("_bus", "_messages", "_waiter", "channels")

    def __init__(self, bus: LocalFanout, channels: tuple[str, ...]) -> None:
        self.channels = channels
        self._bus = bus
        self._messages: deque[tuple[str, bytes]] | None = None
        self._waiter: asyncio.Future[None] | None = None

    async def __aenter__(self) -> Subscription:
        self._bus.attach(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bus.detach(self)

    def deliver(self, channel: str, message: bytes) -> None:
        if self._messages is None:
            self._messages = deque()
        self._messages.append((channel, message))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> tuple[str, bytes] | None:
        """The next message as ``(channel, payload)``, or None when ``timeout`` seconds pass
        (a wait of a second or more up to ``DEADLINE_SLOT_S`` later)."""
        if not self._messages:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = slot = None
            if timeout is not None and timeout >= SLOTTED_FROM_S:
                deadlines = self._bus.deadlines(loop)
                slot = deadlines.add(waiter, timeout)
            elif timeout is not None:
                timer = loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
                elif slot is not None:
                    deadlines.discard(slot, waiter)
            if not self._messages:
                return None
        return self._messages.popleft()


class LocalFanout:
    """Hands a message to this process's subscribers of its channel.

    Most channels have one subscriber (a device's own poll): such a channel maps to the
    subscription itself, and only a channel with several to a set of them."""

    def __init__(self) -> None:
        self._subscribers: dict[str, Subscription | set[Subscription]] = {}
        self._deadlines: _Deadlines | None = None

    def deadlines(self, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        """The shared timers of waits on ``loop`` (the running one)."""
        if self._deadlines is None or self._deadlines.loop is not loop:
            self._deadlines = _Deadlines(loop)
        return self._deadlines

    def attach(self, subscription: Subscription) -> None:
        subscribers = self._subscribers
        for channel in subscription.channels:
            present = subscribers.get(channel)
            if present is None:
                subscribers[channel] = subscription
            elif isinstance(present, set):
                present.add(subscription)
            elif present is not subscription:
                subscribers[channel] = {present, subscription}

    def detach(self, subscription: Subscription) -> None:
        subscribers = self._subscribers
        for channel in subscription.channels:
            present = subscribers.get(channel)
            if present is subscription:
                del subscribers[channel]
            elif isinstance(present, set):
                present.discard(subscription)
                if len(present) == 1:
                    subscribers[channel] = next(iter(present))
                elif not present:
                    del subscribers[channel]

    def fan_out(self, channel: str, message: bytes) -> None:
        present = self._subscribers.get(channel)
        if present is None:
            return
        if isinstance(present, set):
            for subscription in tuple(present):
                subscription.deliver(channel, message)
        else:
            present.deliver(channel, message)

    def broadcast(self, channel: str, message: bytes) -> None:
        """Hand a message to every subscription of this process, whatever its channels."""
        everyone: set[Subscription] = set()
        for present in self._subscribers.values():
            if isinstance(present, set):
                everyone.update(present)
            else:
                everyone.add(present)
        for subscription in everyone:
            subscription.deliver(channel, message)

    def has_subscribers(self, channel: str) -> bool:
        """Whether anyone in this process listens to ``channel``."""
        return channel in self._subscribers

    @property
    def subscriber_count(self) -> int:
        """How many (channel, subscription) pairs are attached; for tests and metrics."""
        return sum(len(s) if isinstance(s, set) else 1 for s in self._subscribers.values())


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
