"""How long a long poll waits: the rule both HTTP layers apply to a ``?timeout=``."""

from __future__ import annotations


def poll_timeout_s(timeout_ms: int, default_ms: int, max_ms: int) -> float:
    """The wait, in seconds, for a ``timeout`` in ms: 0 (or absent) means ``default_ms``
    (HTTP_REQUEST_TIMEOUT), more than ``max_ms`` (HTTP_MAX_REQUEST_TIMEOUT) is clamped, and a
    negative one expires at once."""
    return min(timeout_ms or default_ms, max_ms) / 1000
