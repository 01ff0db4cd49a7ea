"""Typed values in ThingsBoard's column set, checked before they reach a shared statement.

``shared.values`` maps a ``KvEntry`` to (bool_v, str_v, long_v, dbl_v, json_v) and back; this
module adds what only PostgreSQL needs:

- A STRING with NUL characters: ``text`` cannot hold U+0000, so ``str_v`` gets the string with
  each NUL replaced by U+FFFD (what ThingsBoard itself stores, so its readers see that) and
  ``json_v`` the exact string, JSON-encoded. A row with both columns set reads back as that
  exact STRING; no other row has both.
- Checks done on the event loop, before an entry joins a group-committed batch, so that one
  caller's bad value fails that caller alone and never the statement shared with others: a
  LONG must fit in 64 bits, a JSON value must be JSON.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from thingport.domain.model import LONG_MAX, LONG_MIN, DataType, KvEntry
from thingport.errors import BadRequest
from thingport.store.shared.values import TypedColumns, Value, from_typed_columns, typed_columns

__all__ = ["VALUE_COLUMNS", "decode", "encode"]

#: The value columns in the order ``encode`` returns and ``decode`` takes them.
VALUE_COLUMNS: Final = "bool_v, str_v, long_v, dbl_v, json_v"

_NUL: Final = "\x00"
_REPLACEMENT: Final = "\ufffd"


def encode(entry: KvEntry) -> TypedColumns:
    """The entry's (bool_v, str_v, long_v, dbl_v, json_v). OverflowError for a LONG beyond 64
    bits (as SQLite raises), BadRequest for a JSON value that is not JSON."""
    t, v = entry.type, entry.value
    if t is DataType.STRING:
        text = str(v)
        if _NUL in text:
            return None, text.replace(_NUL, _REPLACEMENT), None, None, orjson.dumps(text).decode()
        return None, text, None, None, None
    if t is DataType.LONG and not LONG_MIN <= int(v) <= LONG_MAX:
        raise OverflowError(f"Python int too large to convert to a 64-bit LONG: {v}")
    if t is DataType.JSON:
        try:
            orjson.loads(str(v))
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"Invalid JSON value of key {entry.key!r}: {exc}") from None
    return typed_columns(entry)


def decode(
    bool_v: bool | None, str_v: str | None, long_v: int | None, dbl_v: float | None,
    json_v: Any,
) -> tuple[DataType, Value]:
    """The type and value of a row's value columns (see the module docstring for NULs)."""
    if str_v is not None and json_v is not None:
        return DataType.STRING, orjson.loads(json_v)
    return from_typed_columns(bool_v, str_v, long_v, dbl_v, json_v)
