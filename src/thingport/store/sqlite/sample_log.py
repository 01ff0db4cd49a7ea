"""The sample log: how new time-series samples are written, and merged into ts_kv.

Samples are appended to ``ts_kv_log`` (schema 0004) in the writer's fast lane, one executemany
per batch, and moved into the ``(device, key, ts)`` table in bulk once the log holds
``MERGE_ROWS`` samples or ``MERGE_BYTES`` of large values, or its oldest has waited
``MERGE_INTERVAL_S``, and before any read of history. ``ts_kv_latest`` is upserted in the same
transaction as the log rows.

A merge moves rows in seq order, at most ``CHUNK_ROWS`` rows (and ``CHUNK_BYTES`` of large
values) per transaction, so that no merge holds the writer long; ``merge_range`` moves one
chunk of the log or of a released upload's held rows (``uploads.py``), sorted by key for
locality in ts_kv and by seq last, so that the later of two writes at an equal (device, key,
ts) wins.

Used by the writer (``writer.py``, ``tx.py``) and by ``save_telemetry`` (``telemetry.py``),
which prepares rows on the event loop.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from thingport.clock import now_ms
from thingport.store.shared.values import Value
from thingport.store.sqlite import large_values, rollups
from thingport.store.sqlite.multi_row import MultiRowInsert

#: A sample: (device seq, key id, ts, type code, value).
Row = tuple[int, int, int, int, Value]

# Samples go to the append-only log first; merge_range moves them into ts_kv (see 0004).
INSERT_TS: Final = "INSERT INTO ts_kv_log (device, key, ts, type, v) VALUES (?, ?, ?, ?, ?)"
#: INSERT_TS with many rows per statement (``multi_row.py``).
INSERT_LOG: Final = MultiRowInsert("INSERT INTO ts_kv_log (device, key, ts, type, v) VALUES", 5)
#: Merge the log once it holds this many samples...
MERGE_ROWS: Final = 50_000
#: ...or this many bytes of large values...
MERGE_BYTES: Final = 16 * 2**20
#: ...or once its oldest unmerged sample has waited this long.
MERGE_INTERVAL_S: Final = 1.0
#: The most rows, and bytes of large values, one merge transaction moves.
CHUNK_ROWS: Final = 60_000
CHUNK_BYTES: Final = 16 * 2**20
# `>=`: a later write at an equal timestamp replaces the value, as it does in ts_kv.
UPSERT_LATEST: Final = (
    "INSERT INTO ts_kv_latest (device, key, ts, type, v) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (device, key) DO UPDATE SET ts = excluded.ts, type = excluded.type, "
    "v = excluded.v WHERE excluded.ts >= ts_kv_latest.ts"
)
_UPSERT_LATEST_ROWS: Final = MultiRowInsert(
    "INSERT INTO ts_kv_latest (device, key, ts, type, v) VALUES", 5,
    UPSERT_LATEST[UPSERT_LATEST.index(" ON CONFLICT"):])
# An upsert (not INSERT OR REPLACE) so that a replaced out-of-line value's trigger fires.
# "WHERE true": SQLite's rule for an upsert whose rows come from a SELECT.
_MERGE: Final = (
    "INSERT INTO ts_kv (device, key, ts, type, v) "
    "SELECT device, key, ts, type, v FROM {table} WHERE seq BETWEEN ? AND ? "
    "ORDER BY device, key, ts, seq "
    "ON CONFLICT (device, key, ts) DO UPDATE SET type = excluded.type, v = excluded.v"
)


def first_seq(conn: sqlite3.Connection, table: str, lo: int | None = None,
              hi: int | None = None) -> int | None:
    """The lowest seq of ``table`` (within ``lo..hi`` when given), None when there is none."""
    if lo is None:
        return conn.execute(f"SELECT min(seq) FROM {table}").fetchone()[0]  # type: ignore[no-any-return]
    return conn.execute(  # type: ignore[no-any-return]
        f"SELECT min(seq) FROM {table} WHERE seq BETWEEN ? AND ?", (lo, hi)).fetchone()[0]


def merge_range(conn: sqlite3.Connection, table: str, lo: int, hi: int, large: bool) -> int:
    """Move the rows of ``table`` with ``lo <= seq <= hi`` into ts_kv, fewer when their large
    values (``large``: there may be some) exceed CHUNK_BYTES; returns the last seq moved.
    The rollups of the minutes written to are marked out of date, and settled ones rolled up
    (``rollups.py``), within the same transaction."""
    if large:
        hi = large_values.move_out(conn, table, lo, hi, CHUNK_BYTES)
    conn.execute(_MERGE.format(table=table), (lo, hi))
    rollups.mark(conn, table, lo, hi)
    if (hi >= conn.execute(f"SELECT max(seq) FROM {table}").fetchone()[0]
            and lo <= conn.execute(f"SELECT min(seq) FROM {table}").fetchone()[0]):
        conn.execute(f"DELETE FROM {table}")  # all of it: SQLite drops whole pages
    else:
        conn.execute(f"DELETE FROM {table} WHERE seq BETWEEN ? AND ?", (lo, hi))
    rollups.clean(conn, now_ms(), max(rollups.MIN_CLEAN_ROWS, hi - lo + 1))
    return hi


def upsert_latest(conn: sqlite3.Connection, rows: list[Row], large: bool,
                  refs: set[tuple[int, int]]) -> None:
    """Advance ts_kv_latest to ``rows`` (the newest per key). With ``large``, rows whose value
    is marked large get it out of line, kept only if they did advance. ``refs`` holds every
    (device, key) whose latest value may be out of line (updated here): a row replacing one
    of those frees its blob, which an update trigger would otherwise do for every sample."""
    if not large and not refs:
        _UPSERT_LATEST_ROWS.run(conn, rows)
        return
    plain: list[Row] = []
    special: list[Row] = []
    for row in rows:
        if row[3] & large_values.LARGE or (row[0], row[1]) in refs:
            special.append(row)
        else:
            plain.append(row)
    _UPSERT_LATEST_ROWS.run(conn, plain)
    for row in special:
        old = conn.execute("SELECT type, v FROM ts_kv_latest WHERE device = ? AND key = ?",
                           (row[0], row[1])).fetchone()
        new = large_values.out_of_line(conn, row, 3) if row[3] & large_values.LARGE else row
        if conn.execute(UPSERT_LATEST + " RETURNING 1", new).fetchone() is None:
            if new is not row:  # an older sample than the latest: its blob has no owner
                conn.execute("DELETE FROM kv_blob WHERE id = ?", (new[4],))
            continue
        if old is not None and old[0] & large_values.OUT_OF_LINE:
            conn.execute("DELETE FROM kv_blob WHERE id = ?", (old[1],))
        if new[3] & large_values.OUT_OF_LINE:
            refs.add((row[0], row[1]))


def newest_rows(rows: list[Row]) -> list[Row]:
    """The row with the greatest ts per (device, key); the later one wins a tie."""
    if len(rows) == 1:
        return rows
    newest: dict[tuple[int, int], Row] = {}
    for row in rows:
        current = newest.get((row[0], row[1]))
        if current is None or row[2] >= current[2]:
            newest[(row[0], row[1])] = row
    return list(newest.values())


def merge_newest(parts: list[list[Row]]) -> list[Row]:
    """``newest_rows`` over several operations' own newest rows, taken in queue order."""
    if len(parts) == 1:
        return parts[0]
    return newest_rows([row for part in parts for row in part])
