"""The Redis bus: every node publishes to and listens on one Redis channel.

Each node receives every message and hands it to its own subscribers. Subscribing is then a local
operation with no Redis round trip, which matters with ten thousand long polls waiting; the
messages themselves are few (an RPC, an attribute change, a device change).

Redis is never the only copy of anything: a message only wakes waiters, who read the store. So
losing Redis costs latency, not data:

- the reader notices (a closed connection at once, a silent one by an unanswered PING), tells
  every local subscription ``BUS_DOWN`` (waiters then read the store about once a second) and
  reconnects by itself with a growing, jittered delay; once subscribed again it tells them
  ``BUS_UP`` (they read the store once more: that covers whatever was sent in the gap);
- a publish that fails is logged, not raised (the caller's data is committed already), and the
  message is still handed to this node's own subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from types import ModuleType
from typing import TYPE_CHECKING

from thingport.bus import interest
from thingport.bus.base import BUS_DOWN, BUS_STATE, BUS_UP, Bus, BusUnavailable, Subscription
from thingport.errors import ConfigError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

CHANNEL = "thingport:bus"
_SEPARATOR = b"\n"
#: Messages about announced channels (``interest.py``) travel as this channel name.
_INTEREST = b"\x00interest"

#: Bound on every Redis command (connect, publish, ping): a Redis that does not answer in this
#: long is treated as gone rather than holding up the request that published.
TIMEOUT_S = 1.0
#: After this long without a word from Redis the reader sends a PING; no answer within
#: TIMEOUT_S means the connection is dead even if the socket says nothing.
PING_INTERVAL_S = 5.0
#: Reconnect delays: doubling from the first to the last, each with +-25 % jitter so that many
#: nodes do not reconnect in step.
RECONNECT_FIRST_S = 0.1
RECONNECT_MAX_S = 5.0


def import_redis() -> ModuleType:
    """The ``redis.asyncio`` module, or a ConfigError saying how to install it."""
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ConfigError(
            f"THINGPORT_REDIS_URL: Redis needs its driver: pip install 'thingport[redis]' ({exc})"
        ) from None
    return redis.asyncio


def redis_client(url: str, timeout_s: float = TIMEOUT_S, retries: int = 1) -> Redis:
    """A client whose commands fail within about ``(retries + 1) * timeout_s`` instead of
    retrying for long: the callers decide what a failure means (the bus reconnects, a limiter
    falls back to memory). One retry lets a pooled connection that Redis closed meanwhile (a
    restart) reconnect instead of failing its first command."""
    aioredis = import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client_class: type[Redis] = aioredis.Redis
    return client_class.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), retries),
    )


class RedisBus(Bus):
    """A bus shared by every node connected to the same Redis."""

    def __init__(
        self, url: str, channel: str = CHANNEL, *, timeout_s: float = TIMEOUT_S,
        ping_interval_s: float = PING_INTERVAL_S,
    ) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._timeout_s = timeout_s
        self._ping_interval_s = ping_interval_s
        self._client: Redis | None = None
        #: The subscriber's own client, without retries: redis-py would otherwise reconnect
        #: and resubscribe on its own, hiding the gap in which messages were lost.
        self._sub_client: Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = False
        self._publish_failing = False
        self.announcer = interest.Announcer(self._send_interest, "redis-interest")

    @property
    def connected(self) -> bool:
        """Whether this node is subscribed in Redis now (messages reach it)."""
        return self._connected

    async def start(self) -> None:
        """Connect and subscribe; returns once messages are being received. A Redis that
        cannot be reached at start is a configuration error (later outages are survived)."""
        self._client = redis_client(self.url, self._timeout_s)
        self._sub_client = redis_client(self.url, self._timeout_s, retries=0)
        try:
            pubsub = await self._subscribe()
        except Exception as exc:
            await self._close_clients()
            raise ConfigError(f"THINGPORT_REDIS_URL: cannot reach {self.url}: {exc}") from None
        self._connected = True
        self._reader = asyncio.create_task(self._run(pubsub), name="redis-bus-reader")
        self.announcer.start()
        await self.announcer.tell("?", [])  # the other nodes answer with their sets

    async def _subscribe(self) -> PubSub:
        """A new subscription, returned once Redis has confirmed it: from then on every
        message published reaches it."""
        assert self._sub_client is not None
        pubsub = self._sub_client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            confirmed = await pubsub.get_message(timeout=self._timeout_s)
            if not confirmed or confirmed.get("type") != "subscribe":
                raise BusUnavailable(f"Redis did not confirm the subscription: {confirmed!r}")
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        return pubsub

    async def _run(self, pubsub: PubSub | None) -> None:
        """The reader, for the bus's lifetime: read, and when the connection is lost,
        reconnect with backoff, telling local subscribers both ways."""
        delay = RECONNECT_FIRST_S
        try:
            while True:
                if pubsub is None:
                    try:
                        pubsub = await self._subscribe()
                    except Exception as exc:
                        log.debug("Redis bus: still cannot reconnect: %s", exc)
                        await asyncio.sleep(delay * random.uniform(0.75, 1.25))
                        delay = min(delay * 2, RECONNECT_MAX_S)
                        continue
                    delay = RECONNECT_FIRST_S
                    self._set_connected(True)
                    log.warning("Redis bus reconnected to %s", self.url)
                try:
                    await self._read(pubsub)
                except Exception as exc:
                    # Waiters that miss a wake-up meanwhile find their data when they next
                    # read the store: on their timer while down, and once more on BUS_UP.
                    log.warning("Redis bus connection lost (%s); reconnecting", exc)
                    self._set_connected(False)
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                    pubsub = None
        finally:
            self._connected = False
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self, pubsub: PubSub) -> None:
        """Hand every message to the local subscribers; raise when the connection dies."""
        wait = self._ping_interval_s
        while True:
            message = await pubsub.get_message(timeout=wait)
            if message is None:
                if wait != self._ping_interval_s:
                    raise BusUnavailable(f"no answer to PING within {self._timeout_s} s")
                # Quiet for a while: make sure the connection still carries anything.
                await pubsub.ping()
                wait = self._timeout_s
                continue
            wait = self._ping_interval_s
            if message.get("type") != "message":
                continue  # a pong, or a subscribe confirmation
            data: bytes = message["data"]
            channel, _, payload = data.partition(_SEPARATOR)
            if channel == _INTEREST:
                self.announcer.heard(payload)
            else:
                self.local.fan_out(channel.decode(), payload)

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        self.local.broadcast(BUS_STATE, BUS_UP if connected else BUS_DOWN)
        if connected:  # what was said meanwhile is lost: say it all again, and ask
            self.announcer.soon(self.announcer.tell_all())
            self.announcer.soon(self.announcer.tell("?", []))

    # -- announced channels ------------------------------------------------------------------
    def may_have_subscribers(self, channel: str) -> bool:
        """Whether a node (this one included) has a subscription announcing ``channel``; while
        Redis is away nothing can be known, so yes."""
        return (not self._connected or self.local.has_subscribers(channel)
                or self.announcer.anyone_else(channel))

    def subscribe(self, *channels: str, announce: bool = False) -> Subscription:
        """As ``Bus.subscribe``; an announcing subscription tells the other nodes when it
        starts (returning once Redis has taken the news) and ends."""
        if not announce:
            return Subscription(self.local, channels)
        return self.announcer.subscribe(self.local, channels)

    async def _send_interest(self, message: bytes) -> None:
        if self._client is None:
            return
        with contextlib.suppress(Exception):  # a lost message is repaired by the refresh
            await self._client.publish(self.channel, _INTEREST + _SEPARATOR + message)

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        await self.announcer.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._close_clients()

    async def _close_clients(self) -> None:
        for client in (self._client, self._sub_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._client = self._sub_client = None

    async def publish(self, channel: str, message: bytes = b"") -> None:
        """Send to every node (this one included, through Redis, so order is Redis's). When
        Redis cannot take it, log it and deliver to this node's subscribers only: the state is
        in the store already, and the other nodes' waiters find it by reading."""
        if self._client is None:
            raise RuntimeError("RedisBus.publish before start()")
        try:
            await self._client.publish(self.channel, channel.encode() + _SEPARATOR + message)
        except Exception as exc:  # any Redis or socket error: the request must not fail
            if not self._publish_failing:
                log.warning("Redis bus: cannot publish (%s); other nodes will find the change "
                            "by reading the store", exc)
                self._publish_failing = True
            self.local.fan_out(channel, message)
            return
        if self._publish_failing:
            self._publish_failing = False
            log.warning("Redis bus: publishing again")

    async def ping(self, timeout_s: float = TIMEOUT_S) -> None:
        """Return when this node is subscribed and Redis answers a PING within
        ``timeout_s``; raise BusUnavailable otherwise."""
        if self._client is None:
            raise BusUnavailable("not started")
        if not self._connected:
            raise BusUnavailable(f"reconnecting to {self.url}")
        try:
            await asyncio.wait_for(self._client.ping(), timeout_s)
        except Exception as exc:
            raise BusUnavailable(f"Redis did not answer PING: {exc or type(exc).__name__}"
                                 ) from None

