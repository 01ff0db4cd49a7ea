"""Where a read of one key's history finds it: ts_kv once the writer has merged everything, or
ts_kv together with the rows not merged yet when it cannot merge (a full disk).

Reads of history merge first (``SQLiteTelemetry._merge_log``), so that ts_kv holds every
acknowledged sample. When that merge fails because the store cannot write, the read goes on
over ``PENDING``: ts_kv's rows overridden, per timestamp, by the released upload's held rows
and then by the sample log's (the order the merge would apply them in). The log and the held
rows have no index by key, so this is a scan; it is only for while the store cannot write.

Every query takes the same numbered parameters: ``?1`` start (inclusive), ``?5`` end
(exclusive), ``?3`` the device's id, ``?4`` the key's name (resolved in the SQL, as ``tx.py``'s
DEVICE_SEQ and KEY_ID are); ``?2`` and ``?6`` are the caller's.
"""

from __future__ import annotations

from typing import Final

from thingport.store.sqlite.large_values import CODE_MASK, value_sql

_DEVICE: Final = "(SELECT seq FROM device WHERE id = ?3)"
_KEY: Final = "(SELECT key_id FROM key_dictionary WHERE key = ?4)"
# Log rows outrank held rows of the same timestamp: they were logged after the upload.
_LOG_RANK: Final = 2**62


def in_range(alias: str) -> str:
    """``alias``'s rows of the key within the bounds."""
    return (f"{alias}.device = {_DEVICE} AND {alias}.key = {_KEY} "
            f"AND {alias}.ts >= ?1 AND {alias}.ts < ?5")


#: The key's rows in ts_kv, with each value read back (and its type code without flags).
MERGED: Final = (
    f"(SELECT t.ts AS ts, t.type & {CODE_MASK} AS type, {value_sql('t')} AS v "
    f"FROM ts_kv t WHERE {in_range('t')})"
)

#: ts_kv's rows with the unmerged ones applied over them (see the module docstring).
PENDING: Final = (
    "(WITH p(ts, type, v, rank) AS ("
    f"SELECT l.ts, l.type, l.v, l.seq + {_LOG_RANK} FROM ts_kv_log l WHERE {in_range('l')} "
    f"UNION ALL SELECT h.ts, h.type, h.v, h.seq FROM ts_kv_held h WHERE {in_range('h')} "
    "AND EXISTS (SELECT 1 FROM ts_kv_upload u WHERE u.released "
    "AND h.seq BETWEEN u.first_seq AND u.last_seq)"
    # SQLite takes the bare columns from the row with the max(): the newest write of each ts.
    "), n AS (SELECT ts, type, v, max(rank) FROM p GROUP BY ts) "
    f"SELECT n.ts AS ts, n.type & {CODE_MASK} AS type, {value_sql('n')} AS v FROM n "
    f"UNION ALL SELECT t.ts, t.type & {CODE_MASK}, {value_sql('t')} FROM ts_kv t "
    f"WHERE {in_range('t')} AND t.ts NOT IN (SELECT ts FROM p))"
)


def source(pending: bool) -> str:
    """The derived table (ts, type, v) of the key's history: merged, or with pending rows."""
    return PENDING if pending else MERGED
