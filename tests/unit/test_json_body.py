"""Parsing bodies off the event loop: the same values as ``parse_payload`` on every path, and
which path runs where."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from thingport.domain.json_parse import NOT_STRICT, parse_payload, parse_strict, payload_text
from thingport.errors import InvalidJson
from thingport.http.json_body import (
    INLINE_MAX_BYTES,
    LENIENT_INLINE_MAX_BYTES,
    parse_json,
    parse_json_into,
)

BODIES = [
    b'{"a":1,"b":2.50,"c":"x"}',  # small, strict
    b"{a:1,b:'x'}",  # small, lenient
    b"[" + b",".join([b'"v"'] * (INLINE_MAX_BYTES // 3)) + b"]",  # big, strict
    b"[" + b",".join([b"v"] * LENIENT_INLINE_MAX_BYTES) + b"]",  # lenient, over its inline
    b"[" + b",".join([b"v"] * INLINE_MAX_BYTES) + b"]",  # big, lenient
    b'\xef\xbb\xbf{"bom":true}',
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
async def test_values_are_parse_payloads(body: bytes) -> None:
    assert await parse_json(body) == parse_payload(body)


@pytest.mark.parametrize("body", [b"{a:", b"\xff", b"[" + b"v," * INLINE_MAX_BYTES + b"{"])
async def test_errors_are_parse_payloads(body: bytes) -> None:
    with pytest.raises(InvalidJson) as expected:
        parse_payload(body)
    with pytest.raises(InvalidJson) as got:
        await parse_json(body)
    assert got.value.message == expected.value.message


def where(value: Any) -> str:
    return threading.current_thread().name


async def test_small_bodies_stay_on_the_loop_big_ones_do_not() -> None:
    loop_thread = threading.current_thread().name
    assert await parse_json_into(b'{"a":1}', where) == loop_thread
    big = b"[" + b",".join([b"1"] * INLINE_MAX_BYTES) + b"]"
    assert (await parse_json_into(big, where)).startswith("thingport-parse")


def test_strict_says_when_it_cannot_judge() -> None:
    assert parse_strict(payload_text(b"{a:1}")) is NOT_STRICT
    assert parse_strict("[" * 300 + "]" * 300) is NOT_STRICT  # deeper than Gson's limit
    assert parse_strict('{"a":[1]}') == {"a": [1]}
