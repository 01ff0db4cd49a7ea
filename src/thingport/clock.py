"""Time in the unit ThingsBoard uses everywhere: milliseconds since the epoch."""

import time


def now_ms() -> int:
    """The current time in ms since the epoch."""
    return time.time_ns() // 1_000_000
