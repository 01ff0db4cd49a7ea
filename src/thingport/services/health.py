"""Whether this node can serve: it reaches its store and its bus.

A load balancer asks often, and many balancers may ask at once, so a check is cheap: each probe
is bounded by a short timeout, the two run side by side, and a result is reused for about a
second (concurrent callers share the one check in flight).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from thingport.bus import Bus
from thingport.store.base import Store

#: Longest a probe of the store or the bus may take before that part counts as down.
PROBE_TIMEOUT_S = 1.0
#: How long a result is reused.
CACHE_S = 1.0


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One part's state: up, or down with why."""

    up: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The state of each part this node needs."""

    store: ComponentHealth
    bus: ComponentHealth

    @property
    def up(self) -> bool:
        """Whether every part is up."""
        return self.store.up and self.bus.up


class HealthService:
    """Probes the store and the bus, at most once per ``cache_s``."""

    def __init__(
        self, store: Store, bus: Bus, *, timeout_s: float = PROBE_TIMEOUT_S,
        cache_s: float = CACHE_S, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._bus = bus
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._clock = clock
        self._report: HealthReport | None = None
        self._expires = 0.0
        self._running: asyncio.Task[HealthReport] | None = None

    async def check(self) -> HealthReport:
        """The latest report, probing again when it is older than ``cache_s``."""
        if self._report is not None and self._clock() < self._expires:
            return self._report
        if self._running is None:
            self._running = asyncio.create_task(self._refresh(), name="health-check")
        # Shielded: a caller that gives up (a balancer closing its connection) does not cancel
        # the check the others wait for.
        return await asyncio.shield(self._running)

    async def _refresh(self) -> HealthReport:
        try:
            store, bus = await asyncio.gather(
                self._probe(self._store.ping), self._probe(self._ping_bus)
            )
            report = HealthReport(store, bus)
            self._report = report
            self._expires = self._clock() + self._cache_s
            return report
        finally:
            self._running = None

    async def _probe(self, ping: Callable[[], Awaitable[object]]) -> ComponentHealth:
        try:
            await asyncio.wait_for(ping(), self._timeout_s)
        except TimeoutError:
            return ComponentHealth(False, f"no answer within {self._timeout_s:g} s")
        except Exception as exc:
            return ComponentHealth(False, str(exc) or type(exc).__name__)
        return ComponentHealth(True)

    async def _ping_bus(self) -> None:
        await self._bus.ping(self._timeout_s)
