"""Aggregated history on SQLite: ThingsBoard's buckets from per-minute rollups and raw rows.

``aggregate`` answers ``aggregate_telemetry`` on a reader connection, in one read transaction,
so that the rollups, the dirty marks and ts_kv come from one snapshot. Each bucket
``[start + k*interval, start + (k+1)*interval)`` (the last one cut at ``end``) is split into
pieces (``plan``): the whole granules inside it that are not dirty are read from
``ts_kv_rollup`` (one row a minute, ``rollups.py``), the rest from ts_kv: the bucket's edges,
its dirty granules, and all of a bucket that holds no whole granule. Each piece is one range
of a primary key that SQLite aggregates as it walks it (a GROUP BY over computed bucket numbers
sorts every row first, which took three quarters of the time); the pieces of a bucket are
combined here. With more than ``MAX_PIECES`` pieces (a tiny interval over a long range) and
while the sample log cannot be merged (``history.PENDING``), one GROUP BY over the raw rows
does it instead.

What a bucket gives, as before and as the PostgreSQL store gives it: COUNT counts values of
every type (LONG); MIN, MAX, AVG and SUM take LONG and DOUBLE values only, and a bucket without
any is left out; AVG is a DOUBLE; MIN, MAX and SUM are LONG when the bucket holds no DOUBLE,
else DOUBLE; a LONG sum beyond 64 bits is a DOUBLE. A sum of DOUBLE values is added up piece
by piece (per minute in the rollups), so its last bits may differ from a row by row sum's.
Each entry is stamped with the midpoint of its bucket cut at ``end``, as ThingsBoard does.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any, Final

from thingport.domain.model import Aggregation, DataType, TsKvEntry
from thingport.store.shared.values import CODE_DOUBLE, CODE_LONG
from thingport.store.sqlite import history
from thingport.store.sqlite.rollups import GRANULE_MS, granule

#: Past this many pieces, one GROUP BY over the raw rows is cheaper than a read per piece.
MAX_PIECES: Final = 4096
#: A piece read from ts_kv (bounds are timestamps) or from ts_kv_rollup (granules); both
#: bounds of a piece are [lo, hi).
RAW: Final = 0
ROLLUP: Final = 1
#: (bucket number, RAW or ROLLUP, lo, hi).
Piece = tuple[int, int, int, int]

_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1
_NUMERIC: Final = f" AND type IN ({CODE_LONG}, {CODE_DOUBLE})"
_HAS_DOUBLE: Final = f"max(type = {CODE_DOUBLE})"

# Raw rows: (values, any DOUBLE, the aggregate). sum(v) is exact for LONG values (and fails
# beyond 64 bits: then _SPLIT), a DOUBLE sum when there is one.
_RAW_COLUMNS: Final = {
    Aggregation.COUNT: "count(*), 0, NULL",
    Aggregation.AVG: "count(*), 0, total(v)",
    Aggregation.SUM: f"count(*), {_HAS_DOUBLE}, sum(v)",
    Aggregation.MIN: f"count(*), {_HAS_DOUBLE}, min(v)",
    Aggregation.MAX: f"count(*), {_HAS_DOUBLE}, max(v)",
}
# Raw rows in the rollups' shape: the LONG sum in halves that cannot overflow.
_SPLIT: Final = (
    f"count(*), sum(type = {CODE_DOUBLE}), "
    f"sum(CASE WHEN type = {CODE_LONG} THEN v >> 32 ELSE 0 END), "
    f"sum(CASE WHEN type = {CODE_LONG} THEN v & 4294967295 ELSE 0 END), "
    f"total(CASE WHEN type = {CODE_DOUBLE} THEN v END), NULL"
)
# Rollup rows: (values, DOUBLE values, LONG sum's halves, DOUBLE sum, min or max).
_ROLLUP_COLUMNS: Final = {
    Aggregation.COUNT: "sum(n), 0, 0, 0, 0.0, NULL",
    Aggregation.AVG: "sum(nn), sum(nd), sum(lh), sum(ll), total(ds), NULL",
    Aggregation.SUM: "sum(nn), sum(nd), sum(lh), sum(ll), total(ds), NULL",
    Aggregation.MIN: "sum(nn), sum(nd), 0, 0, 0.0, min(lo)",
    Aggregation.MAX: "sum(nn), sum(nd), 0, 0, 0.0, max(hi)",
}
_RAW_RANGE: Final = "FROM ts_kv WHERE device = ? AND key = ? AND ts >= ? AND ts < ?"
_ROLLUP_RANGE: Final = "FROM ts_kv_rollup WHERE device = ? AND key = ? AND g >= ? AND g < ?"
# A piece's rollup rows one by one, for a sum of sums too big for SQLite's integers.
_ROLLUP_ROWS: Final = f"SELECT nn, nd, lh, ll, ds, NULL {_ROLLUP_RANGE}"
_IDS: Final = ("SELECT (SELECT seq FROM device WHERE id = ?), "
               "(SELECT key_id FROM key_dictionary WHERE key = ?)")
_DIRTY: Final = "SELECT g FROM ts_kv_dirty WHERE device = ? AND key = ? AND g BETWEEN ? AND ?"


def _numeric(aggregation: Aggregation) -> str:
    return "" if aggregation is Aggregation.COUNT else _NUMERIC


def plan(start: int, end: int, interval: int, dirty: Sequence[int],
         limit: int = MAX_PIECES) -> list[Piece] | None:
    """The pieces of every bucket of ``[start, end)`` (``dirty``: the series' dirty granules
    there, sorted); None when there would be more than ``limit``."""
    if -(-(end - start) // interval) > limit:
        return None
    pieces: list[Piece] = []
    append = pieces.append
    for k, lo in enumerate(range(start, end, interval)):
        hi = min(lo + interval, end)
        first, stop = -(-lo // GRANULE_MS), hi // GRANULE_MS  # whole granules: first..stop-1
        raw_from = lo  # the raw stretch not read yet starts here
        g = first
        for d in dirty[bisect_left(dirty, first):bisect_left(dirty, stop)]:
            if d > g:  # the clean granules g..d-1, after the raw stretch before them
                if raw_from < g * GRANULE_MS:
                    append((k, RAW, raw_from, g * GRANULE_MS))
                append((k, ROLLUP, g, d))
                raw_from = d * GRANULE_MS
            g = d + 1  # a dirty granule belongs to the raw stretch
        if g < stop:
            if raw_from < g * GRANULE_MS:
                append((k, RAW, raw_from, g * GRANULE_MS))
            append((k, ROLLUP, g, stop))
            raw_from = stop * GRANULE_MS
        if raw_from < hi:
            append((k, RAW, raw_from, hi))
        if len(pieces) > limit:
            return None
    return pieces


class _Bucket:
    """What the pieces of one bucket add up to."""

    __slots__ = ("best", "count", "doubles", "exact", "inexact")

    def __init__(self) -> None:
        self.count = 0  # values taken (all for COUNT, else LONG and DOUBLE ones)
        self.doubles = False
        self.exact = 0  # the LONG values' sum, and the sums of pieces without a DOUBLE
        self.inexact = 0.0  # the sum of DOUBLE values, and of pieces that had one
        self.best: Any = None  # min or max


class _Fold:
    """Buckets being filled with pieces of one aggregation."""

    def __init__(self, aggregation: Aggregation) -> None:
        self.aggregation = aggregation
        self.pick = min if aggregation is Aggregation.MIN else max
        self.buckets: dict[int, _Bucket] = {}

    def _bucket(self, k: int) -> _Bucket:
        bucket = self.buckets.get(k)
        if bucket is None:
            bucket = self.buckets[k] = _Bucket()
        return bucket

    def raw(self, k: int, row: Sequence[Any]) -> None:
        """A (values, any DOUBLE, aggregate) row of raw values."""
        count, doubles, value = row
        if not count:
            return
        bucket = self._bucket(k)
        bucket.count += count
        bucket.doubles = bucket.doubles or bool(doubles)
        if self.aggregation in (Aggregation.AVG, Aggregation.SUM):
            if isinstance(value, float):
                bucket.inexact += value
            else:
                bucket.exact += value
        elif value is not None:
            bucket.best = value if bucket.best is None else self.pick(bucket.best, value)

    def split(self, k: int, row: Sequence[Any]) -> None:
        """A (values, DOUBLE values, LONG sum's halves, DOUBLE sum, min or max) row."""
        count, doubles, high, low, inexact, value = row
        if not count:
            return
        bucket = self._bucket(k)
        bucket.count += count
        bucket.doubles = bucket.doubles or doubles > 0
        bucket.exact += (high << 32) + low
        bucket.inexact += inexact
        if value is not None:
            bucket.best = value if bucket.best is None else self.pick(bucket.best, value)

    def entries(self, key: str, start: int, end: int, interval: int) -> list[TsKvEntry]:
        out: list[TsKvEntry] = []
        aggregation = self.aggregation
        for k in sorted(self.buckets):
            bucket = self.buckets[k]
            lo = start + k * interval
            ts = lo + (min(lo + interval, end) - lo) // 2
            if aggregation is Aggregation.COUNT:
                out.append(TsKvEntry(ts, key, DataType.LONG, bucket.count))
            elif aggregation is Aggregation.AVG:
                total = float(bucket.exact) + bucket.inexact
                out.append(TsKvEntry(ts, key, DataType.DOUBLE, total / bucket.count))
            elif aggregation is Aggregation.SUM:
                if bucket.doubles:
                    out.append(TsKvEntry(ts, key, DataType.DOUBLE,
                                         float(bucket.exact) + bucket.inexact))
                elif _LONG_MIN <= bucket.exact <= _LONG_MAX:
                    out.append(TsKvEntry(ts, key, DataType.LONG, bucket.exact))
                else:
                    out.append(TsKvEntry(ts, key, DataType.DOUBLE, float(bucket.exact)))
            elif bucket.doubles:
                out.append(TsKvEntry(ts, key, DataType.DOUBLE, float(bucket.best)))
            else:
                out.append(TsKvEntry(ts, key, DataType.LONG, int(bucket.best)))
        return out


def _overflowed(exc: sqlite3.OperationalError) -> bool:
    return "integer overflow" in str(exc)


def _read_pieces(conn: sqlite3.Connection, fold: _Fold, seq: int, kid: int,
                 pieces: list[Piece]) -> None:
    aggregation = fold.aggregation
    raw_sql = f"SELECT {_RAW_COLUMNS[aggregation]} {_RAW_RANGE}{_numeric(aggregation)}"
    split_sql = f"SELECT {_SPLIT} {_RAW_RANGE}{_NUMERIC}"
    rollup_sql = f"SELECT {_ROLLUP_COLUMNS[aggregation]} {_ROLLUP_RANGE}"
    execute = conn.execute
    for k, kind, lo, hi in pieces:
        params = (seq, kid, lo, hi)
        if kind == RAW:
            try:
                fold.raw(k, execute(raw_sql, params).fetchone())
            except sqlite3.OperationalError as exc:
                if not _overflowed(exc):
                    raise
                fold.split(k, execute(split_sql, params).fetchone())  # a LONG sum too big
        else:
            try:
                fold.split(k, execute(rollup_sql, params).fetchone())
            except sqlite3.OperationalError as exc:
                if not _overflowed(exc):
                    raise
                for row in execute(_ROLLUP_ROWS, params):
                    fold.split(k, row)


def _read_grouped(conn: sqlite3.Connection, fold: _Fold, source: str,
                  params: Sequence[Any]) -> None:
    """Every bucket in one GROUP BY over ``source`` (rows ts, type, v; ``history``'s
    numbered parameters, ``?2`` the interval)."""
    aggregation = fold.aggregation

    def grouped(columns: str) -> str:
        return (f"SELECT (ts - ?1) / ?2 AS bucket, {columns} "
                f"FROM {source}{_numeric(aggregation)} GROUP BY bucket")

    try:
        for bucket, *row in conn.execute(grouped(_RAW_COLUMNS[aggregation]), params):
            fold.raw(bucket, row)
    except sqlite3.OperationalError as exc:
        if not _overflowed(exc):
            raise
        fold.buckets.clear()  # a LONG sum too big: every bucket again, in halves
        for bucket, *row in conn.execute(grouped(_SPLIT), params):
            fold.split(bucket, row)


def aggregate(conn: sqlite3.Connection, device_id: str, key: str, start: int, end: int,
              interval: int, aggregation: Aggregation, pending: bool) -> list[TsKvEntry]:
    """``aggregate_telemetry`` on a reader connection (see the module docstring); with
    ``pending``, over ts_kv and the rows the log could not merge yet."""
    fold = _Fold(aggregation)
    params = (start, interval, device_id, key, end)
    conn.execute("BEGIN")
    try:
        if pending:
            _read_grouped(conn, fold, f"{history.PENDING} WHERE 1", params)
            return fold.entries(key, start, end, interval)
        seq, kid = conn.execute(_IDS, (device_id, key)).fetchone()
        if seq is None or kid is None:
            return []
        dirty = [g for (g,) in conn.execute(
            _DIRTY, (seq, kid, granule(start), granule(end - 1)))]
        pieces = plan(start, end, interval, dirty)
        if pieces is None:
            _read_grouped(conn, fold, f"ts_kv t WHERE {history.in_range('t')}", params)
        else:
            _read_pieces(conn, fold, seq, kid, pieces)
    finally:
        conn.execute("COMMIT")
    return fold.entries(key, start, end, interval)
