"""Buses that wake waiters: in-process (default) or Redis (several nodes)."""

from __future__ import annotations

from thingport.bus.base import BUS_DOWN, BUS_STATE, BUS_UP, Bus, BusUnavailable, Subscription
from thingport.bus.memory import MemoryBus

__all__ = [
    "BUS_DOWN", "BUS_STATE", "BUS_UP", "Bus", "BusUnavailable", "MemoryBus", "Subscription",
    "bus_from_url",
]


def bus_from_url(url: str | None) -> Bus:
    """The in-process bus for None, a Redis bus for ``redis://...``."""
    if not url:
        return MemoryBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from thingport.bus.redis import RedisBus

        return RedisBus(url)
    from thingport.errors import ConfigError

    raise ConfigError(f"THINGPORT_REDIS_URL: expected redis://host:port/db, got {url!r}")
