"""Stopping the guessing of device access tokens, per client address.

Wrong tokens on the device API are counted per client address (``FailureLimit``: this node's
memory, or Redis shared by every node). An address that sends ``max_failures`` wrong tokens
within the window is blocked for a window: its requests are answered 429 before any token is
looked up, so that it learns nothing more, and no store work is spent on it.

A blocked address is often shared: devices behind one NAT, a mobile carrier's gateway. So that
one guesser does not lock its neighbours out, a token this node has already seen succeed from
that same address still passes while the address is blocked. Nothing else does, not even a
valid token cached from another address: otherwise a blocked guesser could keep guessing at
full speed and tell the tokens of every active device by their 200s. What the guesser can
still tell is whether a guess is one of the few tokens already used from its own address;
those are its neighbours', whose tokens are random unless someone chose them. A device that
first shows up from a blocked address (or whose token this node has dropped from its cache)
waits until the block ends, at most one window.

The hot path (a token found in the device cache) asks only this node's memory: the blocks it
knows of (empty while nobody is blocked) and one store remembering where the token came from,
both bounded least-recently-used maps (``thingport.lru``). With Redis, a node learns of a
block made elsewhere at the blocked address's first unknown token there (which asks Redis, as
every unknown token does).

A valid token does not reset an address's count (ThingsBoard resets it, which lets a guesser
holding one valid token interleave it with guesses forever).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable

from thingport.domain.model import Device
from thingport.errors import TooManyRequests
from thingport.lru import LruCache
from thingport.services.failure_limit import FailureLimit, MemoryFailureLimit
from thingport.services.keyed_locks import KeyedLocks

log = logging.getLogger(__name__)

#: Tokens whose address of last success is remembered at most, and blocked addresses known at
#: most (beyond it the least recently used are forgotten first).
MAX_SEEN = 200_000
#: The ``limit`` label of refusals in the metrics.
METRIC_LABEL = "access-token"

Lookup = Callable[[str], Awaitable["Device | None"]]


class TokenGuard:
    """Counts wrong access tokens per address and refuses blocked addresses."""

    def __init__(self, limit: FailureLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        #: Address -> when its block ends (this node's clock), for the blocks this node knows.
        self._blocked: LruCache[str, float] = LruCache(MAX_SEEN)
        #: Token -> the address it last succeeded from.
        self._seen: LruCache[str, str] = LruCache(MAX_SEEN)
        #: One lookup per address at a time, so that parallel guesses are all counted.
        self._per_address = KeyedLocks()

    def known(self, token: str, address: str) -> None:
        """A token found in the cache, from ``address``: TooManyRequests when the address is
        blocked and the token has not succeeded from it before."""
        if address in self._blocked:
            wait = self._wait(address)
            if wait and self._seen.peek(token) != address:
                raise _refused(wait)
        self._seen[token] = address

    async def unknown(self, token: str, address: str, lookup: Lookup) -> Device | None:
        """A token not in the cache: TooManyRequests while ``address`` is blocked, else
        ``lookup(token)``, counting a miss as a failure of the address."""
        async with self._per_address.hold(address):
            wait = self._wait(address) or await self.limit.retry_after(address)
            if wait:
                self._block(address, wait)
                raise _refused(wait)
            device = await lookup(token)
            if device is None:
                if await self.limit.record_failure(address):
                    self._block(address, self.limit.window_s)
                    log.warning("%s blocked for %s s after %d wrong access tokens", address,
                                self.limit.window_s, self.limit.max_failures)
                return None
        self._seen[token] = address
        return device

    def _wait(self, address: str) -> int:
        until = self._blocked.get(address)
        if until is None:
            return 0
        remaining = until - self._clock()
        if remaining <= 0:
            self._blocked.pop(address)
            return 0
        return max(1, math.ceil(remaining))

    def _block(self, address: str, seconds: float) -> None:
        self._blocked[address] = self._clock() + seconds

    async def close(self) -> None:
        """Release the limit's connections."""
        await self.limit.close()


class NoTokenGuard(TokenGuard):
    """TB_TRANSPORT_IP_RATE_LIMITS_ENABLED=false: wrong tokens are not counted."""

    def __init__(self) -> None:
        super().__init__(MemoryFailureLimit(1, 1))

    def known(self, token: str, address: str) -> None:
        """Nothing to check."""

    async def unknown(self, token: str, address: str, lookup: Lookup) -> Device | None:
        """``lookup(token)``."""
        return await lookup(token)


def _refused(wait: int) -> TooManyRequests:
    return TooManyRequests(f"Too many wrong access tokens from this address; retry in {wait} s",
                           retry_after=wait, limit=METRIC_LABEL)
