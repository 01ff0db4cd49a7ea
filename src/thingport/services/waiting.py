"""Waiting for the store to hold something, woken by the bus instead of polling the store.

The bus may lose messages while it is disconnected (Redis gone). Then, and only then, the wait
falls back to reading the store on a timer, so a poll still gets its command, a little later.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from thingport.bus import BUS_DOWN, BUS_STATE, Bus
from thingport.errors import PermissionDenied

T = TypeVar("T")

#: While the bus is disconnected, each waiter reads the store about this often (jittered by
#: +-25 %, so that ten thousand polls woken by the same BUS_DOWN do not read in step).
POLL_WHILE_DISCONNECTED_S = 1.0


def _poll_interval() -> float:
    return POLL_WHILE_DISCONNECTED_S * random.uniform(0.75, 1.25)


async def wait_for(
    bus: Bus,
    channels: tuple[str, ...],
    check: Callable[[], Awaitable[T | None]],
    timeout_s: float,
    *,
    abort_channel: str | None = None,
) -> T | None:
    """Call ``check`` until it returns something, again after every message on ``channels``;
    None once ``timeout_s`` has passed. A message on ``abort_channel`` (a device deleted while
    its poll waits) raises PermissionDenied.

    The subscription starts before the first check, so nothing that happens between the check
    and the wait can be missed. While the bus is disconnected, ``check`` also runs about every
    POLL_WHILE_DISCONNECTED_S; when it reconnects, once more at once.
    """
    every = channels + ((abort_channel,) if abort_channel else ())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with bus.subscribe(*every) as subscription:
        recheck = True
        while True:
            if recheck:
                found = await check()
                if found is not None:
                    return found
            recheck = True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            wait = remaining if bus.connected else min(remaining, _poll_interval())
            message = await subscription.get(wait)
            if message is None:
                continue
            channel, payload = message
            if channel == abort_channel:
                raise PermissionDenied("Device was deleted!")
            if channel == BUS_STATE and payload == BUS_DOWN:
                # Nothing new in the store: just start polling (spread out by the jitter).
                recheck = False
