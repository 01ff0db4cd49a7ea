"""JSON parsing of device payloads: a strict fast path and a lenient fallback like Gson's.

Devices talk to ThingsBoard through Gson's lenient reader, and real firmware relies on it
(ThingsBoard's own connectivity check sends ``{temperature:25}``). ``parse_payload`` first tries
the standard library's C decoder; only when that fails does the hand-written lenient parser run.
Both produce the same Python values:

* objects are ``dict`` (a repeated key keeps its first position and takes the last value),
  arrays are ``list``, strings are ``str``, ``true``/``false``/``null`` are ``bool``/``None``;
* an integer literal is an ``int``;
* a number with a fraction or an exponent is a :class:`NumberLiteral`, its exact text, because
  ThingsBoard types a number by its literal text (``42.0`` is a double, ``1e3`` a long).

Use :func:`dumps_compact` to write such values back: it keeps every ``NumberLiteral`` as typed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson

from thingport.domain.json_depth import deeper_than
from thingport.errors import InvalidJson

__all__ = [
    "MAX_DEPTH", "NOT_STRICT", "NumberLiteral", "dumps_compact", "parse_lenient", "parse_payload",
    "parse_strict", "payload_text",
]

#: Deepest nesting of arrays and objects accepted; Gson (2.11+) stops at the same depth.
MAX_DEPTH = 255


class NumberLiteral(str):
    """A JSON number with a fraction or an exponent, held as its exact literal text."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"NumberLiteral({str.__repr__(self)})"


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

# Built once: json.loads() with keyword arguments builds a new decoder on every call.
# strict=False lets raw control characters through inside strings, as Gson does; parse_constant
# keeps NaN/Infinity/-Infinity as the strings Gson reads them as (unquoted literals).
_STRICT_DECODER = json.JSONDecoder(parse_float=NumberLiteral, parse_constant=str, strict=False)

# An escape that may decode to a lone UTF-16 surrogate (\uD800-\uDFFF).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_CHAR = re.compile("[\ud800-\udfff]")


def parse_payload(body: bytes) -> Any:
    """Parse a request body as ThingsBoard would; raise ``InvalidJson`` if even Gson would not."""
    text = payload_text(body)
    value = parse_strict(text)
    return parse_lenient(text) if value is NOT_STRICT else value


def payload_text(body: bytes) -> str:
    """The body as text, without the one leading byte order mark Gson skips; ``InvalidJson``
    when it is not UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(
            f"Request body is not valid UTF-8 (bad byte at offset {exc.start})"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


#: What ``parse_strict`` returns for a text only the lenient parser can judge.
NOT_STRICT: Any = object()


def parse_strict(text: str) -> Any:
    """``text``'s value by the C decoder (the fast path), or ``NOT_STRICT`` when it is not
    standard JSON within ``MAX_DEPTH``: then ``parse_lenient`` decides."""
    try:
        value = _STRICT_DECODER.decode(text)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers longer than Python's int/str limit.
        return NOT_STRICT
    # A document shorter than 2 * MAX_DEPTH characters cannot nest deeper than MAX_DEPTH, and
    # counting brackets is cheap (deeper_than does); only then walk the value.
    if len(text) > 2 * MAX_DEPTH and deeper_than(value, MAX_DEPTH, text):
        # The lenient parser rejects it too, and says where.
        return NOT_STRICT
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        value = _replace_lone_surrogates(value)
    return value


def _fix_surrogates(text: str) -> str:
    # Pairs escaped separately (\\uD83D\\uDE00) are joined; an unpaired half becomes U+FFFD so
    # the text can always be stored as UTF-8.
    if _SURROGATE_CHAR.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _replace_lone_surrogates(value: Any) -> Any:
    """Copy of ``value`` with every lone surrogate in keys and strings replaced, iteratively."""

    def fix(item: Any) -> Any:
        if type(item) is str:
            return _fix_surrogates(item)
        if isinstance(item, dict):
            fixed: dict[str, Any] = {}
            pending.append((item, fixed))
            return fixed
        if isinstance(item, list):
            out: list[Any] = []
            pending.append((item, out))
            return out
        return item

    pending: list[tuple[Any, Any]] = []
    result = fix(value)
    while pending:
        source, target = pending.pop()
        if isinstance(source, dict):
            for key, child in source.items():
                target[_fix_surrogates(key)] = fix(child)
        else:
            target.extend(fix(child) for child in source)
    return result


# --------------------------------------------------------------------------------------------
# Lenient parser
# --------------------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_TO_END_OF_LINE = re.compile(r"[^\n\r]*[\n\r]?")
# Characters that end an unquoted token in Gson; everything else (quotes included) is part of it.
_UNQUOTED = re.compile(r"[^/\\;#={}\[\]:, \t\f\r\n]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PLAIN_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DOUBLE_QUOTED_RUN = re.compile(r'[^"\\]*')
_SINGLE_QUOTED_RUN = re.compile(r"[^'\\]*")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
# JSON's escapes plus two Gson's lenient mode adds: an escaped newline and an escaped quote "'".
_ESCAPES = {
    "t": "\t",
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "f": "\f",
    "\n": "\n",
    "'": "'",
    '"': '"',
    "\\": "\\",
    "/": "/",
}
_KEYWORDS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_NON_EXECUTE_PREFIX = ")]}'\n"


class _Syntax(Exception):
    """A lenient-parse failure at a character offset; turned into InvalidJson with line/column."""

    def __init__(self, pos: int, what: str) -> None:
        super().__init__(what)
        self.pos = pos
        self.what = what


def parse_lenient(text: str) -> Any:
    """Parse ``text`` with the leniency of Gson's ``JsonReader``; raise ``InvalidJson`` if not."""
    try:
        return _Lenient(text).document()
    except _Syntax as exc:
        raise InvalidJson(_located(text, exc.pos, exc.what)) from None


def _located(text: str, pos: int, what: str) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"Invalid JSON at line {line} column {column}: {what}"


def _shown(text: str, pos: int) -> str:
    """How the character at ``pos`` is named in an error message."""
    if pos >= len(text):
        return "end of input"
    return f"{text[pos]!r}"


class _Lenient:
    """One parse of one document; iterative so that nesting depth never grows the Python stack."""

    __slots__ = ("n", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def skip(self, pos: int) -> int:
        """Skip whitespace and comments; return the position of the next significant character."""
        text = self.text
        while True:
            pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
            if pos >= self.n:
                return pos
            char = text[pos]
            if char == "#":
                pos = _TO_END_OF_LINE.match(text, pos + 1).end()  # type: ignore[union-attr]
            elif char == "/" and text.startswith("//", pos):
                pos = _TO_END_OF_LINE.match(text, pos + 2).end()  # type: ignore[union-attr]
            elif char == "/" and text.startswith("/*", pos):
                end = text.find("*/", pos + 2)
                if end < 0:
                    raise _Syntax(pos, "unterminated /* comment")
                pos = end + 2
            else:
                return pos

    def document(self) -> Any:
        pos = self.skip(0)
        if pos >= self.n:
            raise InvalidJson("Request body is empty")
        if self.text.startswith(_NON_EXECUTE_PREFIX, pos):
            # Gson's lenient mode drops this anti-XSSI prefix.
            pos = self.skip(pos + len(_NON_EXECUTE_PREFIX))
        value, pos = self.value(pos)
        pos = self.skip(pos)
        if pos < self.n:
            raise _Syntax(pos, f"unexpected {_shown(self.text, pos)} after the JSON value")
        return value

    def value(self, pos: int) -> tuple[Any, int]:
        """Parse the value starting at ``pos`` (past whitespace); return it and where it ends."""
        text = self.text
        # Open containers, innermost last, each with the key its next value goes to.
        stack: list[tuple[list[Any] | dict[str, Any], str]] = []
        while True:
            # Here a value is expected at ``pos``.
            if pos >= self.n:
                raise _Syntax(pos, "unexpected end of input, expected a value")
            char = text[pos]
            value: Any
            if char == "{" or char == "[":
                if len(stack) >= MAX_DEPTH:
                    raise _Syntax(pos, f"nesting is deeper than {MAX_DEPTH} levels")
                after = self.skip(pos + 1)
                closer = "}" if char == "{" else "]"
                if after < self.n and text[after] == closer:
                    value, pos = ({} if char == "{" else []), after + 1
                elif char == "{":
                    key, pos = self.member_key(after, first=True)
                    stack.append(({}, key))
                    continue
                else:
                    stack.append(([], ""))
                    pos = after
                    continue
            elif char == '"' or char == "'":
                value, pos = self.quoted(pos)
            elif char in ",;]" and stack and isinstance(stack[-1][0], list):
                # Gson reads an empty array slot ([1,,2], [1,], [,1]) as null; the separator
                # stays for the step below.
                value = None
            else:
                match = _UNQUOTED.match(text, pos)
                if match is None:
                    raise _Syntax(pos, f"expected a value, found {_shown(text, pos)}")
                value, pos = _classify(match.group()), match.end()

            # A complete value: attach it to its container, closing containers as they end,
            # until one needs another value.
            while stack:
                container, key = stack[-1]
                pos = self.skip(pos)
                if isinstance(container, list):
                    container.append(value)
                    if pos < self.n and text[pos] == "]":
                        stack.pop()
                        value, pos = container, pos + 1
                        continue
                    if pos < self.n and text[pos] in ",;":
                        pos = self.skip(pos + 1)
                        break
                    raise _Syntax(
                        pos, f"expected ',' or ']' after an array item, found {_shown(text, pos)}"
                    )
                container[key] = value
                if pos < self.n and text[pos] == "}":
                    stack.pop()
                    value, pos = container, pos + 1
                    continue
                if pos < self.n and text[pos] in ",;":
                    key, pos = self.member_key(self.skip(pos + 1), first=False)
                    stack[-1] = (container, key)
                    break
                raise _Syntax(
                    pos, f"expected ',' or '}}' after an object member, found {_shown(text, pos)}"
                )
            else:
                return value, pos

    def member_key(self, pos: int, *, first: bool) -> tuple[str, int]:
        """Read a key and the ``:``, ``=`` or ``=>`` after it; return it and the value's start."""
        text = self.text
        if pos >= self.n:
            raise _Syntax(pos, "unexpected end of input, expected a key")
        char = text[pos]
        if char == '"' or char == "'":
            key, pos = self.quoted(pos)
        else:
            match = _UNQUOTED.match(text, pos)
            if match is None:
                where = "after '{'" if first else "after ','"
                raise _Syntax(pos, f"expected a key {where}, found {_shown(text, pos)}")
            key, pos = match.group(), match.end()
        pos = self.skip(pos)
        if pos < self.n and text[pos] == ":":
            pos += 1
        elif pos < self.n and text[pos] == "=":
            pos += 2 if text.startswith("=>", pos) else 1
        else:
            raise _Syntax(pos, f"expected ':' after the key {key!r}, found {_shown(text, pos)}")
        return key, self.skip(pos)

    def quoted(self, pos: int) -> tuple[str, int]:
        """Read the string whose opening quote is at ``pos``; return it and the position after."""
        text = self.text
        quote = text[pos]
        run = _DOUBLE_QUOTED_RUN if quote == '"' else _SINGLE_QUOTED_RUN
        start = pos
        pos += 1
        parts: list[str] = []
        escaped_unicode = False
        while True:
            end = run.match(text, pos).end()  # type: ignore[union-attr]
            parts.append(text[pos:end])
            if end >= self.n:
                raise _Syntax(start, "unterminated string")
            if text[end] == quote:
                result = "".join(parts)
                if escaped_unicode:
                    result = _fix_surrogates(result)
                return result, end + 1
            # A backslash.
            if end + 1 >= self.n:
                raise _Syntax(end, "unterminated escape sequence")
            code = text[end + 1]
            if code == "u":
                if _HEX4.match(text, end + 2) is None:
                    raise _Syntax(end, f"malformed \\u escape {text[end:end + 6]!r}")
                parts.append(chr(int(text[end + 2 : end + 6], 16)))
                escaped_unicode = True
                pos = end + 6
            else:
                replacement = _ESCAPES.get(code)
                if replacement is None:
                    raise _Syntax(end, f"invalid escape sequence {text[end:end + 2]!r}")
                parts.append(replacement)
                pos = end + 2


def _classify(token: str) -> Any:
    """Type an unquoted token the way Gson does: number, keyword, else string."""
    first = token[0]
    if first == "-" or "0" <= first <= "9":
        if _NUMBER.fullmatch(token):
            if _PLAIN_INTEGER.fullmatch(token):
                try:
                    return int(token)
                except ValueError:
                    # Longer than Python's int/str conversion limit: keep the digits as text.
                    return NumberLiteral(token)
            return NumberLiteral(token)
        return token
    if len(token) <= 5 and token.isascii():
        # Gson matches each keyword letter in either case: TRUE, True and tRuE are all true.
        keyword = token.lower()
        if keyword in _KEYWORDS:
            return _KEYWORDS[keyword]
    return token


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _orjson_default(value: Any) -> Any:
    if type(value) is NumberLiteral:
        return orjson.Fragment(str.__str__(value))
    # OPT_PASSTHROUGH_SUBCLASS sends every subclass here; write the others as their base type.
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps_compact(value: Any) -> str:
    """Compact JSON text of ``value``; a ``NumberLiteral`` is written as its literal text."""
    try:
        return orjson.dumps(
            value, default=_orjson_default, option=orjson.OPT_PASSTHROUGH_SUBCLASS
        ).decode()
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits, more than 254 levels of nesting and lone
        # surrogates; the slow writer handles all three.
        return _dumps_slow(value)


_END = object()


def _dumps_slow(value: Any) -> str:
    """Iterative compact writer for what orjson refuses; output matches orjson's otherwise."""
    parts: list[str] = []
    # Open containers: their remaining children, closing bracket, whether keyed, items written.
    stack: list[tuple[Iterator[Any], str, bool, list[int]]] = []
    item = value
    while True:
        if isinstance(item, dict):
            parts.append("{")
            stack.append((iter(item.items()), "}", True, [0]))
        elif isinstance(item, list | tuple):
            parts.append("[")
            stack.append((iter(item), "]", False, [0]))
        else:
            parts.append(_scalar_text(item))
        while stack:
            children, closer, keyed, written = stack[-1]
            child: Any = next(children, _END)
            if child is _END:
                parts.append(closer)
                stack.pop()
                continue
            if written[0]:
                parts.append(",")
            written[0] += 1
            if keyed:
                key, item = child
                if not isinstance(key, str):
                    raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
                parts.append(_string_text(key))
                parts.append(":")
            else:
                item = child
            break
        else:
            return "".join(parts)


def _string_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be stored as UTF-8: escape them.
        return json.dumps(str.__str__(text), ensure_ascii=True)
    return json.dumps(str.__str__(text), ensure_ascii=False)


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is NumberLiteral:
        return str.__str__(value)
    if isinstance(value, str):
        return _string_text(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return orjson.dumps(value).decode() if math.isfinite(value) else "null"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
