"""Waiting until something is true, instead of sleeping for a time that is usually enough."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

import httpx

T = TypeVar("T")

#: How long a condition may take before the test fails: a liveness bound, far above what the
#: mechanism needs on a loaded machine, never a measured latency.
BOUND_S = 10.0


def until(condition: Callable[[], bool], what: str, timeout_s: float = BOUND_S) -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.01)


async def until_async(condition: Callable[[], bool | Awaitable[bool]], what: str,
                      timeout_s: float = BOUND_S) -> None:
    """``until`` on the event loop; ``condition`` may be a coroutine function."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.005)


_WAITING = re.compile(r'^thingport_open_long_polls\{kind="([^"]+)"\} (\S+)$', re.MULTILINE)


def open_long_polls(base_url: str, kind: str, **client_options: object) -> int:
    """How many polls of ``kind`` ("rpc", "attributes", ...) a server has waiting, from its
    ``/metrics`` (``client_options`` for ``httpx.Client``: an in-process app's ``transport``)."""
    with httpx.Client(timeout=10, **client_options) as client:  # type: ignore[arg-type]
        text = client.get(f"{base_url}/metrics").text
    return sum(int(float(n)) for k, n in _WAITING.findall(text) if k == kind)


def until_polls(base_url: str, kind: str, count: int, **client_options: object) -> None:
    """Return once exactly ``count`` polls of ``kind`` wait on the live server."""
    until(lambda: open_long_polls(base_url, kind, **client_options) == count,
          f"{count} {kind} poll(s) waiting on {base_url}")


def waiting_while(base_url: str, kind: str, start: Callable[[], Future[T]],
                  **client_options: object) -> Future[T]:
    """``start()`` (a request in a thread that opens a poll of ``kind``), returned once the
    poll waits on the server (or has already been answered); ``client_options`` as for
    ``open_long_polls`` (an in-process app's ``transport``)."""
    before = open_long_polls(base_url, kind, **client_options)
    started = start()
    until(lambda: started.done() or open_long_polls(base_url, kind, **client_options) > before,
          f"a {kind} poll waiting on {base_url}")
    return started
