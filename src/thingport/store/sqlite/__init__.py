"""The SQLite backend (the default): one file in WAL mode, one writer thread with group commit,
a pool of reader threads.

One module per job::

    store.py        SQLiteStore: the parts below combined into the whole contract
    core.py         SQLiteCore: lifecycle, the writer and reader plumbing every part uses
    writer.py       the writer thread: batches within a budget, group commit, merges, uploads
    batch.py        one batch in its transaction: savepoints, the telemetry fast lane, answers
    uploads.py      saves too large for one transaction: slices, held rows, release, clean-up
    tx.py           Tx: what a write operation sees (connection, id caches, merge state)
    sample_log.py   the sample log's SQL (append, merge into ts_kv in chunks, latest upsert)
    multi_row.py    many rows per INSERT statement (the log's rows, the latest upserts)
    large_values.py values over 900 bytes kept out of the clustered tables (kv_blob)
    history.py      where a read of history looks (ts_kv, or with unmerged rows on a full disk)
    rollups.py      per-minute rollups of ts_kv, kept exact by every write (dirty minutes)
    aggregation.py  aggregated reads: buckets cut into rollup and raw pieces, combined
    connection.py   opening connections (pragmas, WAL), reading one page
    errors.py       SQLite errors -> domain errors (a full disk -> StoreUnavailable)
    migrations.py   applying migrations/sqlite/*.sql, version in PRAGMA user_version
    entities.py     tenants, customers, users, device profiles, devices, credentials
    device_info.py  devices with their profile, customer and state; the inactivity query
    telemetry.py    time series
    attributes.py   attributes and pending shared-attribute changes
    commands.py     server-side RPC, client-side RPC, claiming
    ota.py          OTA packages and their chunked bytes

What is not SQLite's own (row mapping, paging rules, error messages, migration discovery)
comes from ``thingport.store.shared``.
"""

from thingport.store.sqlite.core import DEFAULT_READERS, SQLiteStats
from thingport.store.sqlite.migrations import migrate
from thingport.store.sqlite.sample_log import MERGE_INTERVAL_S, MERGE_ROWS
from thingport.store.sqlite.store import SQLiteStore
from thingport.store.sqlite.writer import DEFAULT_BATCH_LIMIT

__all__ = [
    "DEFAULT_BATCH_LIMIT",
    "DEFAULT_READERS",
    "MERGE_INTERVAL_S",
    "MERGE_ROWS",
    "SQLiteStats",
    "SQLiteStore",
    "migrate",
]
