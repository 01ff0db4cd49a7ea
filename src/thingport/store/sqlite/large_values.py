"""Large values out of the clustered tables (schema 0008): how they are told apart, stored and
read back.

A STRING or JSON value longer than ``INLINE_BYTES`` (in UTF-8) would make its row overflow a
page of ts_kv, ts_kv_latest or attribute_kv (WITHOUT ROWID tables, where every comparison on the
way to a neighbouring key then reads the whole value). Such a value is written to ``kv_blob``
and its row holds the blob's id, with ``OUT_OF_LINE`` added to its type code. In the sample log
and among held upload rows (rowid tables, where size costs nothing extra) it stays inline,
marked with ``LARGE``, until the merge moves it out (``move_out``).

Bits of the stored type code: ``code & 15`` is the DataType's code, ``& 16`` out of line,
``& 32`` large but still inline.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from thingport.store.shared.values import CODE_JSON, CODE_STRING

#: A value up to this many bytes stays in its row. A 4 KiB page's cell holds about 1,000
#: bytes before it spills; the rest is for the row's keys and header.
INLINE_BYTES: Final = 900
#: Added to the type code of a row whose ``v`` is a ``kv_blob`` id.
OUT_OF_LINE: Final = 16
#: Added to the type code of a large value still inline (sample log, held upload rows).
LARGE: Final = 32
#: The DataType's code within a stored type code.
CODE_MASK: Final = 15

_TEXT_CODES: Final = frozenset({CODE_STRING, CODE_JSON})
# A character is at most 4 bytes in UTF-8: a string this short always stays inline.
_SURELY_INLINE: Final = INLINE_BYTES // 4


def value_size(code: int, value: Any) -> int:
    """The bytes a value takes beyond its row when it is large, else 0."""
    if code not in _TEXT_CODES or len(value) <= _SURELY_INLINE:
        return 0
    size = len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return size if size > INLINE_BYTES else 0


def mark_large(rows: list[Any], code_at: int) -> list[tuple[int, int]]:
    """Mark the large values of ``rows`` (tuples with the type code at ``code_at`` and the
    value last) with ``LARGE``, in place; (index, bytes) of each."""
    found: list[tuple[int, int]] = []
    if len(rows) == 1:  # the usual request
        if rows[0][code_at] not in _TEXT_CODES:
            return found
    elif _TEXT_CODES.isdisjoint({row[code_at] for row in rows}):
        return found
    for i, row in enumerate(rows):
        code = row[code_at]
        if code in _TEXT_CODES:
            size = value_size(code, row[-1])
            if size:
                rows[i] = (*row[:code_at], code | LARGE, *row[code_at + 1:])
                found.append((i, size))
    return found


def value_sql(alias: str) -> str:
    """The value of ``alias``'s row, read from kv_blob when it is out of line."""
    return (f"CASE WHEN {alias}.type & {OUT_OF_LINE} THEN "
            f"(SELECT b.v FROM kv_blob b WHERE b.id = {alias}.v) ELSE {alias}.v END")


def type_sql(alias: str) -> str:
    """The DataType code of ``alias``'s row."""
    return f"({alias}.type & {CODE_MASK})"


def store(conn: sqlite3.Connection, value: Any) -> int:
    """Write a value to kv_blob; its id."""
    cur = conn.execute("INSERT INTO kv_blob (v) VALUES (?)", (value,))
    return int(cur.lastrowid or 0)


def out_of_line(conn: sqlite3.Connection, row: Sequence[Any], code_at: int) -> tuple[Any, ...]:
    """``row`` (a marked large value last) with its value moved to kv_blob."""
    code = row[code_at] & CODE_MASK
    return (*row[:code_at], code | OUT_OF_LINE, *row[code_at + 1:-1], store(conn, row[-1]))


def move_out(conn: sqlite3.Connection, table: str, lo: int, hi: int, budget: int) -> int:
    """Move the marked values of ``table`` (the sample log or held rows) with ``lo <= seq <=
    hi`` to kv_blob, in seq order, until ``budget`` bytes are moved; the last seq whose value
    was moved when the budget ran out, else ``hi``."""
    moved = 0
    # Seqs and sizes first (no values in memory), then each value copied inside SQLite.
    marked = conn.execute(
        f"SELECT seq, length(CAST(v AS BLOB)) FROM {table} "
        f"WHERE seq BETWEEN ? AND ? AND type & {LARGE} ORDER BY seq", (lo, hi)).fetchall()
    for seq, size in marked:
        cur = conn.execute(f"INSERT INTO kv_blob (v) SELECT v FROM {table} WHERE seq = ?",
                           (seq,))
        conn.execute(
            f"UPDATE {table} SET type = (type & {CODE_MASK}) | {OUT_OF_LINE}, v = ? "
            "WHERE seq = ?", (cur.lastrowid, seq))
        moved += size or 0
        if moved >= budget:
            return int(seq)
    return hi


def copy(conn: sqlite3.Connection, code: int, v: Any) -> tuple[int, Any]:
    """A stored (type, v) for a second row: an out-of-line value gets a blob of its own, since
    each blob has exactly one owner."""
    if code & OUT_OF_LINE:
        cur = conn.execute("INSERT INTO kv_blob (v) SELECT v FROM kv_blob WHERE id = ?", (v,))
        return code, cur.lastrowid
    return code, v
