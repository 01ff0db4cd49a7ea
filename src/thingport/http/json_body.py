"""Parsing request bodies without holding up the event loop.

A small standard JSON body, the usual case, is parsed on the loop by the C decoder: a thread
hop would cost more than the parse. Anything that can take long goes to a worker thread: a
body over ``INLINE_MAX_BYTES`` (the C decoder takes about 0.1 s per 1 MB with our number
hooks, and turning the values into entries as long again), and a lenient one (Gson's syntax,
``{temperature:25}``) over ``LENIENT_INLINE_MAX_BYTES``, since the lenient parser is pure
Python (about 1 s per MB). The worker still takes the GIL, but gives it back every few
milliseconds (the interpreter's switch interval), so the loop goes on answering: a health
check is answered in tens of milliseconds while a 50 MB lenient body is parsed.

Few threads (``WORKERS``), of their own: big bodies wait for each other, not for the threads
that hash passwords or read SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from thingport.domain.json_parse import (
    NOT_STRICT,
    parse_lenient,
    parse_payload,
    parse_strict,
    payload_text,
)

T = TypeVar("T")

#: Largest body parsed on the event loop (about 5 ms of C decoding at most).
INLINE_MAX_BYTES = 65536
#: Largest body the lenient parser works on on the loop (a few ms).
LENIENT_INLINE_MAX_BYTES = 4096
#: Threads parsing big bodies at once.
WORKERS = 2

_executor: ThreadPoolExecutor | None = None


def _workers() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="thingport-parse")
    return _executor


async def off_loop(work: Callable[[], T]) -> T:
    """``work()`` in a parsing thread."""
    return await asyncio.get_running_loop().run_in_executor(_workers(), work)


def _inline(body: bytes) -> Any:
    """``parse_payload(body)`` for a small body, or ``NOT_STRICT`` when it is lenient and
    too big to parse here."""
    text = payload_text(body)
    value = parse_strict(text)
    if value is NOT_STRICT and len(text) <= LENIENT_INLINE_MAX_BYTES:
        return parse_lenient(text)
    return value


#: What ``parse_inline`` returns for a body that is to be parsed off the loop.
NOT_INLINE: Any = NOT_STRICT


def parse_inline(body: bytes) -> Any:
    """``parse_payload(body)`` when it is quick enough for the loop, else ``NOT_INLINE``
    (then ``parse_json`` or ``parse_json_into`` take it to a thread). Not a coroutine: the
    usual small body costs none."""
    if len(body) <= INLINE_MAX_BYTES:
        return _inline(body)
    return NOT_INLINE


async def parse_json(body: bytes) -> Any:
    """``parse_payload(body)``, off the loop when it may take long."""
    value = parse_inline(body)
    if value is not NOT_INLINE:
        return value
    return await off_loop(lambda: parse_payload(body))


async def parse_json_into(body: bytes, convert: Callable[[Any], T]) -> T:
    """``convert(parse_payload(body))``: for a big body, both steps off the loop (turning a
    million values into entries takes seconds too)."""
    value = parse_inline(body)
    if value is not NOT_INLINE:
        return convert(value)
    return await parse_off_loop_into(body, convert)


async def parse_off_loop_into(body: bytes, convert: Callable[[Any], T]) -> T:
    """``convert(parse_payload(body))`` in a parsing thread, for a body that
    ``parse_inline`` did not take."""
    return await off_loop(lambda: convert(parse_payload(body)))
