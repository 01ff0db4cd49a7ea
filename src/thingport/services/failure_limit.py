"""Counting failures per client address, to slow down guessing (of provision secrets, access
tokens, claim secrets: one limit each, apart in Redis by their key prefixes).

An address that fails ``max_failures`` times within ``window_s`` seconds (a sliding window) is
blocked for ``window_s`` seconds from that last failure, then starts again with a clean slate.

Three implementations of one interface (``FailureLimit``), side by side:

- ``MemoryFailureLimit``: this node's memory (one node). Lost on restart; behind a load balancer
  each node would count on its own. The number of addresses tracked is bounded, so that a caller
  with many addresses cannot grow it without limit (a ``cachetools.TTLCache``): an address is
  forgotten one window after its last failure (or the end of its block), and when full, the
  least recently seen first.
- ``SharedFailureLimit``: a worker process's view of the primary's memory (several workers,
  no Redis), so the limit holds across the workers of a node.
- ``RedisFailureLimit``: in Redis, shared by every node, so the limit holds across nodes. Per
  address, a sorted set of failure times and a "blocked" key with a time to live, both changed
  by one Lua script (atomic, on Redis's clock, so nodes' clocks need not agree). When Redis
  cannot be reached it counts in this node's memory meanwhile rather than fail the request or
  let everyone through.
"""

from __future__ import annotations

import abc
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cachetools import TTLCache

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

#: Addresses remembered at most (failing or blocked) by the memory implementation.
MAX_ADDRESSES = 100_000


class FailureLimit(abc.ABC):
    """Per-address failure counts in a sliding window, and the addresses they block."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures and window_s must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        #: Which limit this is (its Redis key prefix), set by ``failure_limit``.
        self.prefix = PREFIX

    @abc.abstractmethod
    async def retry_after(self, address: str) -> int:
        """0 when ``address`` may try now, else the whole seconds until it may (at least 1)."""

    @abc.abstractmethod
    async def record_failure(self, address: str) -> bool:
        """Count a failure of ``address``; True when this one blocks it."""

    async def close(self) -> None:  # noqa: B027 - only a network implementation has work here
        """Release connections."""


@dataclass(slots=True)
class _Address:
    """What the memory implementation knows of one address."""

    #: Its failures within the window (``clock`` times), oldest first.
    failures: deque[float] = field(default_factory=deque)
    #: When its block ends; 0: never blocked.
    blocked_until: float = 0.0


class MemoryFailureLimit(FailureLimit):
    """Counts in this process's memory."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        super().__init__(max_failures, window_s)
        if max_addresses < 1:
            raise ValueError("max_addresses must be positive")
        self._clock = clock
        # Each entry lives one window from its last change (a failure, or a block starting):
        # by then its failures are a window old and its block is over, so it knows nothing.
        self._addresses: TTLCache[str, _Address] = TTLCache(max_addresses, window_s, clock)

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._addresses)

    async def retry_after(self, address: str) -> int:
        """0 when ``address`` may try now, else the whole seconds until it may (at least 1)."""
        return self.retry_after_now(address)

    async def record_failure(self, address: str) -> bool:
        """Count a failure of ``address``; True when this one blocks it."""
        return self.record_failure_now(address)

    def retry_after_now(self, address: str) -> int:
        """``retry_after`` without awaiting (nothing here waits)."""
        known = self._addresses.get(address)
        if known is None:
            return 0
        remaining = known.blocked_until - self._clock()
        return max(1, math.ceil(remaining)) if remaining > 0 else 0

    def record_failure_now(self, address: str) -> bool:
        """``record_failure`` without awaiting."""
        now = self._clock()
        known = self._addresses.get(address)
        if known is None:
            known = _Address()
        times = known.failures
        cutoff = now - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        times.append(now)
        blocked = len(times) >= self.max_failures
        if blocked:
            times.clear()  # a clean slate once the block ends
            known.blocked_until = now + self.window_s
        # (Re)storing it restarts its time to live: one window from now.
        self._addresses[address] = known
        return blocked


#: KEYS[1] failure times (a sorted set, ms), KEYS[2] the blocked marker; ARGV window ms,
#: max failures, a unique member. Same rules as MemoryFailureLimit.record_failure_now: drop
#: failures at least one window old, add this one, block at max_failures and start over.
_RECORD_FAILURE = """
local window = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], '1', 'PX', window)
  return 1
end
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""

#: Key prefix of the provisioning limit in Redis.
PREFIX = "thingport:provision-failures"
#: Key prefixes of the access-token and claim-secret limits in Redis.
ACCESS_TOKEN_PREFIX = "thingport:access-token-failures"
CLAIM_PREFIX = "thingport:claim-failures"


class RedisFailureLimit(FailureLimit):
    """Counts in Redis, shared by every node using it; in memory while Redis is unreachable."""

    def __init__(
        self, url: str, max_failures: int, window_s: float, *, prefix: str = PREFIX,
        name: str = "provisioning",
    ) -> None:
        super().__init__(max_failures, window_s)
        #: What is limited, for the log ("provisioning", "access token", ...).
        self.name = name
        from thingport.bus.redis import redis_client

        self._client: Redis = redis_client(url)
        self._record = self._client.register_script(_RECORD_FAILURE)
        self._prefix = prefix
        self._window_ms = max(1, round(window_s * 1000))
        self._fallback = MemoryFailureLimit(max_failures, window_s)
        self._failing = False

    def _keys(self, address: str) -> list[str]:
        # One hash tag per address: both keys land in the same slot of a Redis Cluster.
        return [f"{self._prefix}:{{{address}}}:failures", f"{self._prefix}:{{{address}}}:blocked"]

    async def retry_after(self, address: str) -> int:
        """0 when ``address`` may try now, else the whole seconds until it may (at least 1)."""
        try:
            ttl_ms = int(await self._client.pttl(self._keys(address)[1]))
        except Exception as exc:  # any Redis or socket error
            self._lost(exc)
            return self._fallback.retry_after_now(address)
        self._back()
        # -2: no such key, -1: no time to live (never set so here): not blocked.
        return max(1, math.ceil(ttl_ms / 1000)) if ttl_ms > 0 else 0

    async def record_failure(self, address: str) -> bool:
        """Count a failure of ``address``; True when this one blocks it."""
        try:
            blocked = await self._record(
                keys=self._keys(address),
                args=[self._window_ms, self.max_failures, uuid.uuid4().hex],
            )
        except Exception as exc:
            self._lost(exc)
            return self._fallback.record_failure_now(address)
        self._back()
        return bool(blocked)

    def _lost(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning("%s limit: Redis unreachable (%s); counting on this node "
                        "until it is back", self.name, exc)

    def _back(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("%s limit: counting in Redis again", self.name)

    async def close(self) -> None:
        """Close the connection to Redis."""
        await self._client.aclose()


class Primary(Protocol):
    """The primary process, as a worker calls it (``ipc.CallClient``)."""

    async def call(self, name: str, method: str, *args: Any, **kwargs: Any) -> Any: ...


#: The methods of a limit the primary serves to its workers.
SERVED = frozenset({"retry_after", "record_failure"})


class SharedFailureLimit(FailureLimit):
    """The primary's limit of the same prefix, called from a worker process."""

    def __init__(self, primary: Primary, max_failures: int, window_s: float) -> None:
        super().__init__(max_failures, window_s)
        self._primary = primary

    async def retry_after(self, address: str) -> int:
        return int(await self._primary.call(self.prefix, "retry_after", address))

    async def record_failure(self, address: str) -> bool:
        return bool(await self._primary.call(self.prefix, "record_failure", address))


def failure_limit(redis_url: str | None, max_failures: int, window_s: float, *,
                  prefix: str = PREFIX, name: str = "provisioning",
                  primary: Primary | None = None) -> FailureLimit:
    """The limit shared through Redis when a Redis URL is set, else the primary's (a worker
    process given its ``primary``), else this process's memory; ``prefix`` keeps each limit's
    keys in Redis apart, ``name`` says which it is in the log."""
    limit: FailureLimit
    if redis_url:
        limit = RedisFailureLimit(redis_url, max_failures, window_s, prefix=prefix, name=name)
    elif primary is not None:
        limit = SharedFailureLimit(primary, max_failures, window_s)
    else:
        limit = MemoryFailureLimit(max_failures, window_s)
    limit.prefix = prefix
    return limit
