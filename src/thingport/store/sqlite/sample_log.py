"""The sample log: how new time-series samples are written, and merged into ts_kv.

Samples are appended to ``ts_kv_log`` (schema 0004) in the writer's fast lane, one executemany
per batch, and moved into the ``(device, key, ts)`` table in bulk (``MERGE_LOG``) once the log
holds ``MERGE_ROWS`` samples or its oldest has waited ``MERGE_INTERVAL_S``, and before any
read of history. ``ts_kv_latest`` is upserted in the same transaction as the log rows.

Used by the writer (``writer.py``, ``tx.py``) and by ``save_telemetry`` (``telemetry.py``),
which prepares rows on the event loop.
"""

from __future__ import annotations

from typing import Final

from thingport.store.shared.values import Value

#: A sample: (device seq, key id, ts, type code, value).
Row = tuple[int, int, int, int, Value]

# Samples go to the append-only log first; MERGE_LOG moves them into ts_kv (see 0004).
INSERT_TS: Final = "INSERT INTO ts_kv_log (device, key, ts, type, v) VALUES (?, ?, ?, ?, ?)"
# Sorted for locality in ts_kv; by seq last, so a later write at an equal (device, key, ts)
# replaces the earlier one, as a direct INSERT OR REPLACE would have.
MERGE_LOG: Final = (
    "INSERT OR REPLACE INTO ts_kv (device, key, ts, type, v) "
    "SELECT device, key, ts, type, v FROM ts_kv_log ORDER BY device, key, ts, seq"
)
#: Merge the log once it holds this many samples...
MERGE_ROWS: Final = 50_000
#: ...or once its oldest unmerged sample has waited this long.
MERGE_INTERVAL_S: Final = 1.0
# `>=`: a later write at an equal timestamp replaces the value, as it does in ts_kv.
UPSERT_LATEST: Final = (
    "INSERT INTO ts_kv_latest (device, key, ts, type, v) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (device, key) DO UPDATE SET ts = excluded.ts, type = excluded.type, "
    "v = excluded.v WHERE excluded.ts >= ts_kv_latest.ts"
)


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
