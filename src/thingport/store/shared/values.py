"""ThingsBoard's value types and attribute scopes as the stores keep them.

Two representations of a typed value, one per dialect:

- SQLite: one ``type`` column holding a code (``TYPE_CODE``, part of the on-disk format) and one
  untyped ``v`` column; ``encode`` and ``decode`` convert a value for ``v``.
- PostgreSQL (ThingsBoard's own schema): five typed columns ``bool_v, str_v, long_v, dbl_v,
  json_v`` of which exactly one is set; ``typed_columns`` and ``from_typed_columns`` convert.

A JSON value is its compact JSON text in the domain model (``KvEntry``) and in both stores.
Attribute scopes are stored as ThingsBoard's ids (``SCOPE_CODE``: CLIENT 1, SERVER 2, SHARED 3),
in both stores.
"""

from __future__ import annotations

import math
from typing import Any, Final, cast

import orjson

from thingport.domain.model import AttributeScope, DataType, KvEntry

__all__ = [
    "CODE_BOOLEAN",
    "CODE_DOUBLE",
    "CODE_JSON",
    "CODE_LONG",
    "CODE_SCOPE",
    "CODE_STRING",
    "CODE_TYPE",
    "SCOPE_CODE",
    "SERVER_SCOPE_CODE",
    "SHARED_SCOPE_CODE",
    "TYPE_CODE",
    "TypedColumns",
    "Value",
    "decode",
    "encode",
    "from_typed_columns",
    "typed_columns",
]

#: A value of any ThingsBoard type (JSON as its text).
Value = bool | int | float | str

#: The codes of the SQLite ``type`` column; the numbers are part of the on-disk format.
CODE_BOOLEAN: Final = 1
CODE_LONG: Final = 2
CODE_DOUBLE: Final = 3
CODE_STRING: Final = 4
CODE_JSON: Final = 5
TYPE_CODE: Final[dict[DataType, int]] = {
    DataType.BOOLEAN: CODE_BOOLEAN,
    DataType.LONG: CODE_LONG,
    DataType.DOUBLE: CODE_DOUBLE,
    DataType.STRING: CODE_STRING,
    DataType.JSON: CODE_JSON,
}
CODE_TYPE: Final[dict[int, DataType]] = {code: t for t, code in TYPE_CODE.items()}

#: ThingsBoard's own scope ids (``AttributeScope.java``), used by every store.
SCOPE_CODE: Final[dict[AttributeScope, int]] = {
    AttributeScope.CLIENT_SCOPE: 1,
    AttributeScope.SERVER_SCOPE: 2,
    AttributeScope.SHARED_SCOPE: 3,
}
CODE_SCOPE: Final[dict[int, AttributeScope]] = {code: s for s, code in SCOPE_CODE.items()}
SERVER_SCOPE_CODE: Final = SCOPE_CODE[AttributeScope.SERVER_SCOPE]
SHARED_SCOPE_CODE: Final = SCOPE_CODE[AttributeScope.SHARED_SCOPE]


# -- SQLite: a type code and one untyped value -------------------------------------------------


def encode(entry_type: DataType, value: Value) -> Value:
    """The value to store in the untyped column. A DOUBLE given as a Python int must come back
    as a float, so it is stored as REAL; everything else is stored as it is."""
    return float(value) if entry_type is DataType.DOUBLE else value


def decode(code: int, v: Any) -> Value:
    """The value of an untyped column read back with its type ``code``: 0/1 -> bool for a
    BOOLEAN, NULL -> NaN for a DOUBLE (SQLite stores NaN as NULL)."""
    if code == CODE_BOOLEAN:
        return bool(v)
    if code == CODE_DOUBLE:
        return math.nan if v is None else float(v)
    return cast(Value, v)


# -- PostgreSQL: ThingsBoard's typed columns ---------------------------------------------------

#: (bool_v, str_v, long_v, dbl_v, json_v), exactly one of them not None.
TypedColumns = tuple[bool | None, str | None, int | None, float | None, str | None]


def typed_columns(entry: KvEntry) -> TypedColumns:
    """The entry's value in ThingsBoard's column set (bool_v, str_v, long_v, dbl_v, json_v);
    JSON stays its text (bind it to a ``json``/``jsonb`` column as text)."""
    t, v = entry.type, entry.value
    if t is DataType.LONG:
        return None, None, cast(int, v), None, None
    if t is DataType.DOUBLE:
        return None, None, None, float(v), None
    if t is DataType.BOOLEAN:
        return bool(v), None, None, None, None
    if t is DataType.STRING:
        return None, cast(str, v), None, None, None
    return None, None, None, None, cast(str, v)


def from_typed_columns(
    bool_v: bool | None, str_v: str | None, long_v: int | None, dbl_v: float | None,
    json_v: Any,
) -> tuple[DataType, Value]:
    """The type and value of a row's typed columns (the one that is not NULL). ``json_v`` may
    be text (asyncpg's default) or an already decoded object (a JSON codec), which is turned
    back into compact JSON text; a decoded top-level JSON string cannot be told from text, so
    leave json/jsonb as text. ValueError when every column is NULL."""
    if long_v is not None:
        return DataType.LONG, int(long_v)
    if dbl_v is not None:
        return DataType.DOUBLE, float(dbl_v)
    if bool_v is not None:
        return DataType.BOOLEAN, bool(bool_v)
    if str_v is not None:
        return DataType.STRING, str_v
    if json_v is not None:
        if isinstance(json_v, bytes | bytearray):
            json_v = json_v.decode()
        return DataType.JSON, json_v if isinstance(json_v, str) else orjson.dumps(json_v).decode()
    raise ValueError("a typed value row with every value column NULL")
