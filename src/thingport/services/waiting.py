"""Waiting for the store to hold something, woken by the bus instead of polling the store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from thingport.bus import Bus
from thingport.errors import PermissionDenied

T = TypeVar("T")


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
    and the wait can be missed.
    """
    every = channels + ((abort_channel,) if abort_channel else ())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with bus.subscribe(*every) as subscription:
        while True:
            found = await check()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            message = await subscription.get(remaining)
            if message is not None and message[0] == abort_channel:
                raise PermissionDenied("Device was deleted!")
