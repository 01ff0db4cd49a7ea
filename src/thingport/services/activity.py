"""Device activity, kept as ThingsBoard's device state service keeps it: the SERVER_SCOPE
attributes ``active``, ``lastActivityTime`` and ``inactivityAlarmTime``.

Every device API request calls ``touch``, which puts the device into a dict and nothing more:
the device API is the hot path. A background task (``run``) does the rest, once a tick (a
second), stamping what was touched with the tick's time::

    touched ──> new to this node, or not seen here for the timeout ──> activating: written at
             │                                                       the same tick, active=true
             │                                                       and lastActivityTime
             └─> otherwise ──> unflushed: lastActivityTime written once a flush interval
    once a check interval: devices stored active whose lastActivityTime is older than the
    timeout ──> read again ──> still stale: active=false, inactivityAlarmTime; every node told

Several nodes may share one store, and none owns a device. Each node keeps the stored
lastActivityTime of the devices it serves at most a flush interval old, so a node marks a
device inactive only when that stored time (read again just before writing) is older than the
timeout and it has not seen the device itself meanwhile. It then tells the other nodes: one
that did see the device in that instant writes it active again at once, and any that sees it
later treats that as the device turning active. Writes go through ``AttributeService.save``,
so live subscribers hear of every change. A failed write is logged and tried again at the next
tick; what is pending is written when the task is cancelled (at shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from thingport.bus import BUS_STATE, Bus
from thingport.clock import now_ms
from thingport.domain.model import (
    ACTIVE_ATTRIBUTE,
    INACTIVITY_ALARM_TIME_ATTRIBUTE,
    LAST_ACTIVITY_TIME_ATTRIBUTE,
    AttributeScope,
    DataType,
    KvEntry,
)
from thingport.errors import NotFound
from thingport.services.attributes import AttributeService
from thingport.services.channels import DEVICE_INACTIVE
from thingport.store.base import EntityStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: How often touched devices are collected: a device turning active is written this soon.
TICK_S = 1.0
#: Writes started at once: enough to fill a group commit, few enough to bound memory.
WRITE_CHUNK = 1000
#: Devices read per query of the inactivity check.
CHECK_PAGE = 1000

SERVER = AttributeScope.SERVER_SCOPE


def _activity(ts: int) -> list[KvEntry]:
    return [KvEntry(LAST_ACTIVITY_TIME_ATTRIBUTE, DataType.LONG, ts)]


def _activation(ts: int) -> list[KvEntry]:
    return [KvEntry(ACTIVE_ATTRIBUTE, DataType.BOOLEAN, True), *_activity(ts)]


class ActivityTracker:
    """Turns device API requests into device state; ``clock`` (ms) is injectable for tests."""

    def __init__(
        self, store: EntityStore, attributes: AttributeService, bus: Bus, *,
        inactivity_timeout_ms: int, check_interval_ms: int, flush_interval_ms: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._attributes = attributes
        self._bus = bus
        self._timeout_ms = inactivity_timeout_ms
        self._check_ms = check_interval_ms
        self._flush_ms = flush_interval_ms
        self._clock = clock
        #: Written by the hot path only; used as an ordered set.
        self._touched: dict[UUID, None] = {}
        #: Devices this node believes active -> when it last saw them.
        self._seen: dict[UUID, int] = {}
        #: Turned active, not yet stored -> last activity time.
        self._activating: dict[UUID, int] = {}
        #: Last activity times not yet stored.
        self._unflushed: dict[UUID, int] = {}
        # A tick and a flush never interleave (tests and shutdown call them too).
        self._lock = asyncio.Lock()
        # Tells this node's own messages apart from the others'.
        self._node = os.urandom(8)
        start = clock()
        self._next_flush = start + flush_interval_ms
        self._next_check = start + check_interval_ms

    def touch(self, device_id: UUID) -> None:
        """Note a request of the device: one dict assignment, no I/O (the hot path)."""
        self._touched[device_id] = None

    @property
    def tick_interval_s(self) -> float:
        """How often ``run`` ticks."""
        return min(TICK_S, self._flush_ms / 1000)

    async def run(self) -> None:
        """Tick for the server's lifetime; write what is pending once cancelled."""
        try:
            async with self._bus.subscribe(DEVICE_INACTIVE) as inactive:
                loop = asyncio.get_running_loop()
                next_tick = loop.time() + self.tick_interval_s
                while True:
                    remaining = next_tick - loop.time()
                    if remaining > 0:
                        message = await inactive.get(remaining)
                        if message is not None and message[0] != BUS_STATE:
                            self.heard_inactive(message[1])
                        continue
                    next_tick = loop.time() + self.tick_interval_s
                    try:
                        await self.tick()
                    except Exception:
                        log.exception("device activity tick failed; trying again")
        finally:
            try:
                await self.flush_all()
            except Exception:
                log.exception("could not store the last device activity at shutdown")

    async def tick(self) -> None:
        """One step: store devices turning active; once a flush interval, the others' last
        activity times; once a check interval, mark stale devices inactive."""
        async with self._lock:
            now = self._clock()
            self._collect(now)
            await self._write_activations()
            if now >= self._next_flush:
                self._next_flush = now + self._flush_ms
                await self._write_unflushed()
            if now >= self._next_check:
                # Set first: a failing check is tried again at the next interval, not at once.
                self._next_check = now + self._check_ms
                await self._check(now)

    async def flush_all(self) -> None:
        """Store everything pending now, whatever the intervals."""
        async with self._lock:
            self._collect(self._clock())
            await self._write_activations()
            await self._write_unflushed()

    # -- the state machine -------------------------------------------------------------------
    def _collect(self, now: int) -> None:
        touched, self._touched = self._touched, {}
        stale = now - self._timeout_ms
        for device_id in touched:
            seen = self._seen.get(device_id)
            if seen is None or seen < stale or device_id in self._activating:
                # New here, or silent here for the timeout: it may be stored inactive.
                self._activating[device_id] = now
                self._unflushed.pop(device_id, None)
            else:
                self._unflushed[device_id] = now
            self._seen[device_id] = now

    def heard_inactive(self, message: bytes) -> None:
        """A DEVICE_INACTIVE message (``run`` passes each one): another node marked a device
        inactive. If this node saw it since, it is written active again at the next tick."""
        if len(message) < 16 or message[16:] == self._node:
            return
        device_id = UUID(bytes=message[:16])
        seen = self._seen.pop(device_id, None)
        if seen is not None and seen >= self._clock() - self._timeout_ms:
            # This node saw it after the other node read the store: it is active.
            self._seen[device_id] = seen
            self._activating[device_id] = max(seen, self._unflushed.pop(device_id, seen))

    async def _write_activations(self) -> None:
        await self._write(self._activating, _activation)

    async def _write_unflushed(self) -> None:
        await self._write(self._unflushed, _activity)

    async def _write(self, pending: dict[UUID, int], entries: Callable[[int], list[KvEntry]]
                     ) -> None:
        """Store ``pending`` and remove what was stored from it (unless it changed meanwhile):
        if this is cancelled halfway, the rest is still pending for the final flush."""
        if not pending:
            return
        batch = list(pending.items())
        results = await _gather_chunked(
            batch, lambda item: self._attributes.save(item[0], SERVER, entries(item[1]))
        )
        failed: list[BaseException] = []
        for (device_id, ts), result in zip(batch, results, strict=True):
            if isinstance(result, NotFound):
                self._forget(device_id)  # deleted meanwhile
            elif isinstance(result, BaseException):
                failed.append(result)
                continue
            if pending.get(device_id) == ts:
                del pending[device_id]
        if failed:
            log.warning("could not store the activity of %d devices (%r); trying again",
                        len(failed), failed[0])

    def _forget(self, device_id: UUID) -> None:
        for state in (self._seen, self._activating, self._unflushed):
            state.pop(device_id, None)

    async def _check(self, now: int) -> None:
        stale = now - self._timeout_ms
        # What this node has not seen for the timeout turns active if it comes back.
        for device_id in [d for d, seen in self._seen.items() if seen < stale]:
            del self._seen[device_id]
        after: UUID | None = None
        while True:
            page = await self._store.find_stale_active_devices(stale, after, CHECK_PAGE)
            candidates = [device_id for device_id, _ in page
                          if self._seen.get(device_id, stale - 1) < stale
                          and device_id not in self._touched]
            results = await _gather_chunked(
                candidates, lambda device_id: self._mark_inactive(device_id, stale, now)
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                log.warning("could not mark %d devices inactive (%r); trying again later",
                            len(errors), errors[0])
            if len(page) < CHECK_PAGE:
                return
            after = page[-1][0]

    async def _mark_inactive(self, device_id: UUID, stale: int, now: int) -> None:
        # Read again: another node may have stored a newer activity since the query.
        current = {entry.key: entry.value for entry in await self._attributes.get(
            device_id, SERVER, [ACTIVE_ATTRIBUTE, LAST_ACTIVITY_TIME_ATTRIBUTE])}
        last = current.get(LAST_ACTIVITY_TIME_ATTRIBUTE)
        if current.get(ACTIVE_ATTRIBUTE) is not True or (
            isinstance(last, int) and not isinstance(last, bool) and last >= stale
        ):
            return
        try:
            await self._attributes.save(device_id, SERVER, [
                KvEntry(ACTIVE_ATTRIBUTE, DataType.BOOLEAN, False),
                KvEntry(INACTIVITY_ALARM_TIME_ATTRIBUTE, DataType.LONG, now),
            ])
        except NotFound:
            return
        # Should it come back here, that is the device turning active.
        self._seen.pop(device_id, None)
        await self._bus.publish(DEVICE_INACTIVE, device_id.bytes + self._node)


async def _gather_chunked(
    items: Sequence[_T], call: Callable[[_T], Awaitable[Any]]
) -> list[Any]:
    """``call`` for every item, WRITE_CHUNK at a time; the results, exceptions included, in
    order. Each chunk's calls are made only when it starts, so a cancelled run leaves no
    coroutine behind that was never awaited."""
    results: list[Any] = []
    for start in range(0, len(items), WRITE_CHUNK):
        chunk = items[start:start + WRITE_CHUNK]
        results.extend(await asyncio.gather(*(call(item) for item in chunk),
                                            return_exceptions=True))
    return results
