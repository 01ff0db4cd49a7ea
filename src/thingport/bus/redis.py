"""The Redis bus: every node publishes to and listens on one Redis channel.

Each node receives every message and hands it to its own subscribers. Subscribing is then a local
operation with no Redis round trip, which matters with ten thousand long polls waiting; the
messages themselves are few (an RPC, an attribute change, a device change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from thingport.bus.base import Bus
from thingport.errors import ConfigError

log = logging.getLogger(__name__)

CHANNEL = "thingport:bus"
_SEPARATOR = b"\n"


class RedisBus(Bus):
    """A bus shared by every node connected to the same Redis."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._client: object | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and subscribe; returns once messages are being received."""
        try:
            import redis.asyncio as redis
        except ImportError as exc:
            raise ConfigError(
                f"THINGPORT_REDIS_URL: Redis needs its driver: pip install 'thingport[redis]' "
                f"({exc})"
            ) from None
        client = redis.Redis.from_url(self.url)
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise ConfigError(f"THINGPORT_REDIS_URL: cannot reach {self.url}: {exc}") from None
        self._client = client
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        self._reader = asyncio.create_task(self._read(pubsub), name="redis-bus-reader")

    async def _read(self, pubsub: object) -> None:
        while True:
            try:
                async for message in pubsub.listen():  # type: ignore[attr-defined]
                    if message.get("type") != "message":
                        continue
                    data: bytes = message["data"]
                    channel, _, payload = data.partition(_SEPARATOR)
                    self.local.fan_out(channel.decode(), payload)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[attr-defined]
                raise
            except Exception:
                # Redis went away: keep trying; the store still holds every state change, so
                # waiters that miss a wake-up find it when they next read.
                log.exception("Redis bus connection lost; reconnecting")
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(self.channel)  # type: ignore[attr-defined]

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._client is not None:
            await self._client.aclose()  # type: ignore[attr-defined]
            self._client = None

    async def publish(self, channel: str, message: bytes = b"") -> None:
        """Send to every node (this one included, through Redis, so order is Redis's)."""
        if self._client is None:
            raise RuntimeError("RedisBus.publish before start()")
        await self._client.publish(  # type: ignore[attr-defined]
            self.channel, channel.encode() + _SEPARATOR + message
        )
