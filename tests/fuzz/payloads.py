"""Hypothesis strategies for device API bodies: JSON written strictly and leniently (single
quotes, unquoted keys, duplicate keys, NaN and Infinity, huge numbers), ThingsBoard's
``{ts, values}`` shapes with bad timestamps, deep nesting, and random or mutated bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st


class Raw(str):
    """A literal written into the document as it is (a number JSON cannot hold, say)."""


#: Number-like literals that strict JSON rejects or that overflow 64 bits and doubles.
ODD_NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "1" * 400, "-" + "9" * 5000,
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "0x1F", "1.", ".5",
    "-0", "+1", "1e", "01", "1_000", "1.7976931348623157e309", "4.9e-325",
]

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(ODD_NUMBERS).map(Raw),
)
#: Numbers at and past the edges of 32 and 64 bits and of doubles, as values or as text.
# Hypothesis favours the first of a list: the ones most likely to break come first.
_EDGES = st.sampled_from([2**63, 10**30, 2**63 - 1, -(2**63) - 1, 2**64, -(2**63), 2**31,
                          2**31 - 1, -1, 0])
numbers = st.one_of(
    _EDGES, _EDGES, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_NUMBERS).map(Raw), st.sampled_from(ODD_NUMBERS),
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)
#: What a timestamp may be: anything but a sane epoch millisecond, mostly.
timestamps = st.one_of(
    st.integers(), st.integers(-(2**70), 2**70), st.just(1_700_000_000_000),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10), st.none(),
    st.sampled_from(ODD_NUMBERS).map(Raw), st.lists(st.integers(), max_size=2),
)
telemetry = st.one_of(
    st.dictionaries(st.text(max_size=8), values, max_size=5),
    st.fixed_dictionaries({"ts": timestamps, "values": values}),
    st.lists(st.fixed_dictionaries({"ts": timestamps, "values": values}), max_size=4),
    st.lists(values, max_size=3),
)


def objects_with(keys: list[str], numeric: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """Objects with some of ``keys`` (of any type) and perhaps others; the ``numeric`` ones
    are often odd numbers."""
    anything = st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), values, max_size=6)
    if not numeric:
        return anything
    shaped = st.fixed_dictionaries(
        {key: numbers for key in numeric},
        optional={key: values for key in keys if key not in numeric})
    return st.one_of(shaped, shaped, anything)


@st.composite
def documents(draw: st.DrawFn, shapes: st.SearchStrategy[Any]) -> bytes:
    """A value of ``shapes`` written as JSON, strictly or in one of Gson's lenient dialects."""
    value = draw(shapes)
    style = {
        "quote": draw(st.sampled_from(['"', '"', "'"])),
        "bare_keys": draw(st.booleans()),
        "duplicate_keys": draw(st.integers(0, 3)) == 0,
        "trailing_comma": draw(st.integers(0, 5)) == 0,
        "space": draw(st.sampled_from(["", " ", "\n", "\t", "\r\n  "])),
    }
    text = _write(value, style)
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.sampled_from(["\ufeff", "", " ", "//c\n", "/*c*/"])) + text
    if draw(st.integers(0, 9)) == 0:
        text += draw(st.sampled_from([" ", "\x00", "garbage", "}", "]", ",", "\n{}"]))
    return text.encode("utf-8", "surrogatepass")


def _write(value: Any, style: dict[str, Any]) -> str:
    space = style["space"]
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, str):
        return _string(value, style["quote"])
    if isinstance(value, list):
        items = [_write(item, style) for item in value]
        if style["trailing_comma"] and items:
            items.append("")
        return "[" + ("," + space).join(items) + "]"
    if isinstance(value, dict):
        pairs = [(_key(key, style), _write(item, style)) for key, item in value.items()]
        if style["duplicate_keys"] and pairs:
            # An earlier null for the first key: the last value is the one that counts.
            pairs.insert(0, (pairs[0][0], "null"))
        written = [f"{key}:{space}{item}" for key, item in pairs]
        if style["trailing_comma"] and written:
            written.append("")
        return "{" + space + ("," + space).join(written) + space + "}"
    return json.dumps(value)


def _key(key: str, style: dict[str, Any]) -> str:
    if style["bare_keys"] and key.isidentifier():
        return key
    return _string(key, style["quote"])


def _string(text: str, quote: str) -> str:
    written = json.dumps(text)
    if quote == '"':
        return written
    return "'" + written[1:-1].replace("\\\"", "\"").replace("'", "\\'") + "'"


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    """Arrays or objects nested around the parser's depth limit, or far past it."""
    depth = draw(st.sampled_from([254, 255, 256, 257, 1000, 5000, 100_000]))
    kind = draw(st.sampled_from(["array", "object", "mixed", "unclosed"]))
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if kind == "mixed":
        return b'{"a":[' * (depth // 2) + b"0" + b"]}" * (depth // 2)
    return b"[" * depth


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes]) -> bytes:
    """A document with bytes flipped, inserted (invalid UTF-8 among them), removed or cut."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        byte = draw(st.sampled_from([0x00, 0x22, 0x27, 0x5C, 0x7B, 0x80, 0xC0, 0xED, 0xFF])
                    | st.integers(0, 255))
        if operation == "insert" or not data:
            data[where:where] = bytes([byte])
        elif operation == "flip":
            data[min(where, len(data) - 1)] ^= byte or 1
        elif operation == "delete":
            del data[where:where + draw(st.integers(1, 4))]
        else:
            del data[where:]
    return bytes(data)


def bodies(shapes: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Every kind of body, for an endpoint whose well-formed body has ``shapes``."""
    written = documents(shapes)
    return st.one_of(
        written, written, written,
        mutated(written),
        deep_nesting(),
        st.binary(max_size=300),
        st.text(max_size=100).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.sampled_from([b"", b" ", b"null", b"{}", b"[]", b'""', b"\xef\xbb\xbf{}", b"\xff\xfe",
                         b"{'a':1}", b'{"a":1,"a":2}', b'{"a":NaN}', b'{"ts":1e999,"values":{}}']),
    )


def oversized(limit: int) -> st.SearchStrategy[bytes]:
    """A JSON body just over ``limit``, or well over it."""
    return st.sampled_from([1, 100, 3 * limit]).map(
        lambda extra: b'{"k":"' + b"x" * (limit + extra) + b'"}')


#: Content-Type headers: absent, right, wrong, malformed.
content_types = st.one_of(
    st.none(),
    st.sampled_from([
        "application/json", "application/json; charset=UTF-8", "application/json;charset=latin-1",
        "text/plain", "application/octet-stream", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz", "multipart/form-data", "application/xml", "",
        ";", "/", "application/json; charset=\"", "*/*",
    ]),
    # httpx refuses to send a header value with whitespace around it.
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip),
)
