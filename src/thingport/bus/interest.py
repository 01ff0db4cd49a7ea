"""Which channels the other nodes listen to, for messages worth sending only to listeners.

Live updates (every committed sample, for WebSocket sessions) would otherwise cross Redis for
every request although most devices have no subscriber anywhere: measured on two cores, that
took single-sample ingest from 9.3k to 3.5k requests a second. So a subscription may *announce*
its channels; each node tells the others which announced channels it has (``+`` when one gains
its first subscriber, ``-`` when it loses its last, ``=`` its whole set every ``REFRESH_S`` and
when asked with ``?``), and a publisher skips such a channel when no node has it. An entry not
refreshed within ``EXPIRE_S`` is forgotten, so a node that died stops counting.

Wake-up channels (RPCs, attribute polls) are never announced and always published: they are few,
and a poll must never miss one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any

from thingport.bus.base import LocalFanout, Subscription

#: How often a node repeats its whole set.
REFRESH_S = 10.0
#: How long another node's entry counts without being repeated.
EXPIRE_S = 3 * REFRESH_S


def encode(kind: str, node: str, channels: Iterable[str]) -> bytes:
    """A control message: ``kind`` (``+ - = ?``), the sending node, its channels."""
    return "\n".join((kind, node, *channels)).encode()


def decode(payload: bytes) -> tuple[str, str, list[str]]:
    kind, node, *channels = payload.decode().split("\n")
    return kind, node, channels


class Interest:
    """This node's announced channels, and the other nodes' as last heard."""

    def __init__(self, node: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self._clock = clock
        self.mine: Counter[str] = Counter()
        self._theirs: dict[str, dict[str, float]] = {}

    def add(self, channels: Iterable[str]) -> list[str]:
        """Count subscriptions to ``channels``; the ones that gained their first."""
        new = [c for c in channels if self.mine[c] == 0]
        self.mine.update(channels)
        return new

    def remove(self, channels: Iterable[str]) -> list[str]:
        """Uncount them; the ones that lost their last subscription."""
        gone = []
        for channel in channels:
            self.mine[channel] -= 1
            if self.mine[channel] <= 0:
                del self.mine[channel]
                gone.append(channel)
        return gone

    def heard(self, kind: str, node: str, channels: list[str]) -> None:
        """Apply another node's ``+``, ``-`` or ``=``."""
        if node == self.node:
            return
        expires = self._clock() + EXPIRE_S
        if kind == "=":
            for nodes in self._theirs.values():
                nodes.pop(node, None)
        if kind in "+=":
            for channel in channels:
                self._theirs.setdefault(channel, {})[node] = expires
        elif kind == "-":
            for channel in channels:
                self._theirs.get(channel, {}).pop(node, None)

    def anyone_else(self, channel: str) -> bool:
        """Whether another node listens to ``channel`` (forgetting entries gone stale)."""
        nodes = self._theirs.get(channel)
        if not nodes:
            return False
        now = self._clock()
        for node, expires in list(nodes.items()):
            if expires < now:
                del nodes[node]
        if not nodes:
            del self._theirs[channel]
            return False
        return True


class Announced(Subscription):
    """A subscription whose channels the other nodes are told about (through ``tell``, which
    sends a ``+`` or ``-`` with its channels)."""

    def __init__(self, local: LocalFanout, channels: tuple[str, ...], interest: Interest,
                 tell: Callable[[str, list[str]], Awaitable[None]]) -> None:
        super().__init__(local, channels)
        self._interest = interest
        self._tell = tell

    async def __aenter__(self) -> Subscription:
        await super().__aenter__()
        new = self._interest.add(self.channels)
        if new:
            await self._tell("+", new)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await super().__aexit__(exc_type, exc, tb)
        gone = self._interest.remove(self.channels)
        if gone:
            await self._tell("-", gone)


class Announcer:
    """One node's side of announced channels on a bus: its ``Interest``, the control messages
    it sends about them (through ``send``, which takes an encoded one), the answer to a ``?``,
    and its whole set repeated every ``REFRESH_S`` between ``start`` and ``stop``."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], task_name: str) -> None:
        self.interest = Interest(uuid.uuid4().hex)
        self._send = send
        self._task_name = task_name
        self._refresher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def subscribe(self, local: LocalFanout, channels: tuple[str, ...]) -> Subscription:
        """A subscription to ``channels`` that the other nodes are told about."""
        return Announced(local, channels, self.interest, self.tell)

    def anyone_else(self, channel: str) -> bool:
        """Whether another node listens to ``channel``."""
        return self.interest.anyone_else(channel)

    async def tell(self, kind: str, channels: list[str]) -> None:
        """Send a ``kind`` message about ``channels`` to the other nodes."""
        await self._send(encode(kind, self.interest.node, channels))

    async def tell_all(self) -> None:
        """Send this node's whole set (``=``)."""
        await self.tell("=", list(self.interest.mine))

    def soon(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background (kept referenced until it ends)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def heard(self, payload: bytes) -> None:
        """Take another node's control message: a ``?`` is answered with the whole set."""
        kind, node, channels = decode(payload)
        if kind == "?":
            if node != self.interest.node:
                self.soon(self.tell_all())
            return
        self.interest.heard(kind, node, channels)

    def start(self) -> None:
        """Start repeating the whole set every ``REFRESH_S``."""
        self._refresher = asyncio.create_task(self._refresh(), name=self._task_name)

    async def stop(self) -> None:
        """Stop repeating it."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            if self.interest.mine:
                await self.tell_all()
