"""Per-minute rollups of ts_kv (schema 0009), and how every write keeps them exact.

``ts_kv_rollup`` holds, per (device, key, granule) with granule ``g = floor(ts / GRANULE_MS)``,
the aggregates of that minute's samples (counts, the LONG sum exactly, the DOUBLE sum, min and
max); an aggregated read combines them with raw rows (``aggregation.py``). ``ts_kv_dirty``
lists the granules whose rollup row may be out of date. The invariant, in every committed
state: **a granule that is not dirty has a rollup row exactly when ts_kv has rows in it, and
that row aggregates exactly those rows.** Reads take dirty granules from ts_kv.

Every write to ts_kv keeps it, in its own transaction:

- a merge of the sample log or of a released upload (``sample_log.merge_range``) marks the
  granules of the rows it moved (``mark``), then rolls up dirty granules that have settled,
  oldest first, reading about as many rows as it moved (``clean``). A granule settles
  ``SETTLE_MS`` after it ends: live samples keep landing in the current minute, and rolling it
  up at every merge would read it again and again. History written late is rolled up at once;
  history written in time order, merge after merge, has its newest minute rolled up again at
  each merge, which the budget bounds to about one row read per row merged.
- a deletion or retention recomputes the granules it cut into and drops those it emptied
  (``recompute``, ``forget``);
- deleting a device drops its rows (a trigger of 0009).

Each granule holds at most 60,000 samples of a key (one a millisecond), so the two halves of
its LONG sum (``v >> 32`` and ``v & 0xFFFFFFFF``) never overflow 64 bits.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from thingport.store.shared.values import CODE_DOUBLE, CODE_LONG

#: The rollup granule: one minute.
GRANULE_MS: Final = 60_000
#: A dirty granule is rolled up once it ended this long ago (see the module docstring).
SETTLE_MS: Final = 60_000
#: A merge rolls up at least this many rows' worth of settled granules, or as many as it
#: moved: each row is rolled up once, so that keeps up with any rate of ingest.
MIN_CLEAN_ROWS: Final = 20_000
#: Granules per roll-up statement: starts small (a granule may hold 60,000 rows) and doubles
#: while the budget lasts.
_FIRST_STEP: Final = 16
_MAX_STEP: Final = 4096
#: Granule bounds standing for "unbounded".
LOWEST: Final = -(2**63)
HIGHEST: Final = 2**63 - 1

_NUMERIC: Final = f"({CODE_LONG}, {CODE_DOUBLE})"


def granule_sql(ts: str) -> str:
    """SQL for ``floor(ts / GRANULE_MS)`` (SQLite's ``/`` truncates towards zero)."""
    return f"({ts} / {GRANULE_MS} - ({ts} % {GRANULE_MS} < 0))"


def granule(ts: int) -> int:
    """The granule of a timestamp."""
    return ts // GRANULE_MS


#: The rollup columns' values over ts_kv rows ``t`` (in the column order of the table).
AGGREGATES: Final = (
    f"count(*), sum(t.type IN {_NUMERIC}), sum(t.type = {CODE_DOUBLE}), "
    f"sum(CASE WHEN t.type = {CODE_LONG} THEN t.v >> 32 ELSE 0 END), "
    f"sum(CASE WHEN t.type = {CODE_LONG} THEN t.v & 4294967295 ELSE 0 END), "
    f"total(CASE WHEN t.type = {CODE_DOUBLE} THEN t.v END), "
    f"min(CASE WHEN t.type IN {_NUMERIC} THEN t.v END), "
    f"max(CASE WHEN t.type IN {_NUMERIC} THEN t.v END)"
)
_COLUMNS: Final = "device, key, g, n, nn, nd, lh, ll, ds, lo, hi"

# -- merges ---------------------------------------------------------------------------------------
_MARK: Final = (
    "INSERT OR IGNORE INTO ts_kv_dirty (device, key, g) "
    f"SELECT device, key, {granule_sql('ts')} FROM {{table}} WHERE seq BETWEEN ? AND ?"
)
# The settled dirty granules up to and including a bound, in (g, device, key) order: the
# index's order, so that each statement below walks the same prefix of it.
_UP_TO: Final = "(g, device, key) <= (?, ?, ?)"
_NTH_SETTLED: Final = (
    "SELECT g, device, key FROM ts_kv_dirty WHERE g < ? ORDER BY g, device, key "
    "LIMIT 1 OFFSET ?"
)
_LAST_SETTLED: Final = (
    "SELECT g, device, key FROM ts_kv_dirty WHERE g < ? "
    "ORDER BY g DESC, device DESC, key DESC LIMIT 1"
)
_DROP_UP_TO: Final = (
    "DELETE FROM ts_kv_rollup WHERE (device, key, g) IN "
    f"(SELECT device, key, g FROM ts_kv_dirty WHERE {_UP_TO})"
)
_ROLL_UP_TO: Final = (
    f"INSERT INTO ts_kv_rollup ({_COLUMNS}) "
    f"SELECT d.device, d.key, d.g, {AGGREGATES} "
    f"FROM (SELECT device, key, g FROM ts_kv_dirty WHERE {_UP_TO}) d "
    f"CROSS JOIN ts_kv t ON t.device = d.device AND t.key = d.key "
    f"AND t.ts >= d.g * {GRANULE_MS} AND t.ts < d.g * {GRANULE_MS} + {GRANULE_MS} "
    "GROUP BY d.g, d.device, d.key RETURNING n"
)
_CLEAR_UP_TO: Final = f"DELETE FROM ts_kv_dirty WHERE {_UP_TO}"

# -- one series -----------------------------------------------------------------------------------
_SERIES_RANGE: Final = "device = ? AND key = ? AND g BETWEEN ? AND ?"
_RECOMPUTE: Final = (
    f"INSERT INTO ts_kv_rollup ({_COLUMNS}) "
    f"SELECT t.device, t.key, {granule_sql('t.ts')} AS gr, {AGGREGATES} FROM ts_kv t "
    f"WHERE t.device = ? AND t.key = ? AND t.ts BETWEEN ? AND ? GROUP BY gr"
)


def mark(conn: sqlite3.Connection, table: str, lo: int, hi: int) -> None:
    """Mark dirty the granules of ``table``'s rows with ``lo <= seq <= hi`` (being merged)."""
    conn.execute(_MARK.format(table=table), (lo, hi))


def clean(conn: sqlite3.Connection, now_ms: int, budget: int) -> int:
    """Roll up dirty granules that settled by ``now_ms``, oldest first, until about
    ``budget`` rows of ts_kv were read; returns how many were."""
    settled = (now_ms - SETTLE_MS) // GRANULE_MS  # granules below this have settled
    step, read = _FIRST_STEP, 0
    while read < budget:
        bound = conn.execute(_NTH_SETTLED, (settled, step - 1)).fetchone()
        last = bound is None
        if last:
            bound = conn.execute(_LAST_SETTLED, (settled,)).fetchone()
            if bound is None:
                break
        conn.execute(_DROP_UP_TO, bound)
        read += sum(n for (n,) in conn.execute(_ROLL_UP_TO, bound).fetchall())
        conn.execute(_CLEAR_UP_TO, bound)
        if last:
            break
        step = min(2 * step, _MAX_STEP)
    return read


def forget(conn: sqlite3.Connection, device: int, key: int, first: int, last: int) -> None:
    """Drop the rollups and dirty marks of granules ``first..last`` of one series: right when
    ts_kv has no rows left there."""
    params = (device, key, first, last)
    conn.execute(f"DELETE FROM ts_kv_rollup WHERE {_SERIES_RANGE}", params)
    conn.execute(f"DELETE FROM ts_kv_dirty WHERE {_SERIES_RANGE}", params)


def recompute(conn: sqlite3.Connection, device: int, key: int, first: int, last: int) -> None:
    """Compute the rollups of granules ``first..last`` of one series again from ts_kv (they
    are then clean)."""
    forget(conn, device, key, first, last)
    lo = max(first * GRANULE_MS, LOWEST)
    hi = min((last + 1) * GRANULE_MS - 1, HIGHEST)
    conn.execute(_RECOMPUTE, (device, key, lo, hi))


def after_delete(conn: sqlite3.Connection, device: int, key: int, start: int | None,
                 end: int | None) -> None:
    """Keep the invariant after deleting one series' rows with ``start <= ts < end`` (None:
    that side unbounded): the granules wholly inside are empty now, the ones it cut into are
    recomputed."""
    first = LOWEST if start is None else granule(start)
    last = HIGHEST if end is None else granule(end - 1)
    if first > last:
        return
    cut = set()
    if start is not None and start % GRANULE_MS:
        cut.add(first)
    if end is not None and end % GRANULE_MS:
        cut.add(last)
    forget(conn, device, key, first, last)
    for g in cut:
        recompute(conn, device, key, g, g)


def after_trim(conn: sqlite3.Connection, device: int, key: int) -> None:
    """Keep the invariant after retention deleted one series' oldest rows: every granule
    before the first row left is empty, and that row's granule may have lost some."""
    first = conn.execute("SELECT min(ts) FROM ts_kv WHERE device = ? AND key = ?",
                         (device, key)).fetchone()[0]
    if first is None:
        forget(conn, device, key, LOWEST, HIGHEST)
        return
    g = granule(first)
    if g > LOWEST:
        forget(conn, device, key, LOWEST, g - 1)
    recompute(conn, device, key, g, g)
