"""Counting failures per client address, to slow down guessing (of provision secrets).

An address that fails ``max_failures`` times within ``window_s`` seconds (a sliding window) is
blocked for ``window_s`` seconds from that last failure, then starts again with a clean slate.

The counts live in this node's memory: they are lost on restart, and behind a load balancer
each node counts on its own. The number of addresses tracked is bounded, so that a caller with
many addresses cannot grow it without limit; when full, the addresses that failed longest ago
are forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

#: Addresses remembered at most (failing or blocked).
MAX_ADDRESSES = 100_000


class FailureLimiter:
    """Per-address failure counts in a sliding window, and the addresses they block."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or max_addresses < 1:
            raise ValueError("max_failures, window_s and max_addresses must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._failures) + len(self._blocked_until)

    def retry_after(self, address: str) -> int:
        """0 when ``address`` may try now, else the whole seconds until it may (at least 1)."""
        until = self._blocked_until.get(address)
        if until is None:
            return 0
        remaining = until - self._clock()
        if remaining <= 0:
            del self._blocked_until[address]
            return 0
        return max(1, math.ceil(remaining))

    def record_failure(self, address: str) -> bool:
        """Count a failure of ``address``; True when this one blocks it."""
        now = self._clock()
        times = self._failures.get(address)
        if times is None:
            self._make_room(now)
            times = self._failures[address] = deque()
        cutoff = now - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        times.append(now)
        if len(times) < self.max_failures:
            return False
        del self._failures[address]
        self._blocked_until[address] = now + self.window_s
        return True

    def _make_room(self, now: float) -> None:
        if len(self) < self._max_addresses:
            return
        cutoff = now - self.window_s
        self._failures = {a: t for a, t in self._failures.items() if t and t[-1] > cutoff}
        self._blocked_until = {a: u for a, u in self._blocked_until.items() if u > now}
        # Still full of live entries: drop a tenth at once (oldest first), so that a flood of
        # new addresses does not pay for a full sweep on every one.
        target = self._max_addresses - max(1, self._max_addresses // 10)
        for table in (self._failures, self._blocked_until):
            while len(self) > target and table:
                del table[next(iter(table))]
