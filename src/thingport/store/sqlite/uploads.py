"""Requests with more samples than one transaction should hold: written in slices, all or
nothing, without holding the writer.

A ``save_telemetry`` of more than ``SLICE_ROWS`` samples (or ``SLICE_BYTES`` of large values)
becomes an ``Upload``. The writer runs one slice of it in each of its transactions, next to the
other writers' operations, so that they commit between slices instead of waiting for the whole
request. A slice goes to ``ts_kv_held`` (schema 0008), which no read and no merge looks at. The
last slice, in the transaction that answers the request, merges the sample log, advances
ts_kv_latest to the request's newest samples and releases the upload; the writer then merges
its held rows into ts_kv in bounded chunks (``Tx.merge_step``) before any sample logged after
it, and reads of history wait for that merge. So the request's samples become visible together,
a later write at an equal (device, key, ts) still wins, and a request that fails (its device
deleted, the disk full) leaves nothing: its held rows are deleted (``abort``), or at the next
start if that fails too.
"""

from __future__ import annotations

import bisect
import sqlite3
from typing import Any, Final

from thingport.store.shared.errors import device_not_found
from thingport.store.sqlite.sample_log import Row, newest_rows, upsert_latest
from thingport.store.sqlite.tx import Released, Tx

#: A save_telemetry with more samples than this is written in slices of this many.
SLICE_ROWS: Final = 5_000
#: ... and so is one with more bytes of large values than this (a slice holds at most this
#: many, or one value when a single value is larger).
SLICE_BYTES: Final = 4 * 2**20
_INSERT_HELD: Final = (
    "INSERT INTO ts_kv_held (device, key, ts, type, v) VALUES (?, ?, ?, ?, ?)")


class Upload:
    """An over-sized save_telemetry and how far it got (changed only after a COMMIT).

    ``rows`` are finished rows (``resolved``: device seq and key ids prepared on the event
    loop, as ``seq``) or (key, ts, code, value) rows the writer maps; ``large`` lists (index,
    bytes) of the rows whose value is marked large.
    """

    __slots__ = ("device_id", "done", "first", "id", "large", "newest", "owner", "rows", "seq")

    def __init__(self, device_id: Any, seq: int | None, rows: list[Any],
                 large: list[tuple[int, int]]) -> None:
        self.device_id = device_id
        self.seq = seq
        self.rows = rows
        self.large = large
        #: Rows committed to ts_kv_held so far.
        self.done = 0
        #: Its ts_kv_upload id and first held seq, once its first slice committed.
        self.id: int | None = None
        self.first: int | None = None
        #: The device's seq its first slice was written for.
        self.owner: int | None = None
        #: Newest row per (device, key) of the slices run so far. Folding a slice in twice
        #: (a transaction redone) gives the same result, so it needs no undo.
        self.newest: dict[tuple[int, int], Row] = {}

    def slice_end(self) -> int:
        """Where the next slice ends: SLICE_ROWS rows, fewer when large values fill it."""
        end = min(len(self.rows), self.done + SLICE_ROWS)
        if self.large:
            i = bisect.bisect_left(self.large, (self.done, 0))
            budget = SLICE_BYTES
            while i < len(self.large) and self.large[i][0] < end:
                budget -= self.large[i][1]
                if budget < 0:
                    # At least one row per slice, so that a single huge value still goes.
                    end = max(self.done + 1, self.large[i][0])
                    break
                i += 1
        return end

    def is_last_slice(self) -> bool:
        return self.slice_end() >= len(self.rows)


class Progress:
    """What a slice did, applied to its Upload (and the Tx) only once its COMMIT succeeded."""

    __slots__ = ("done", "first", "id", "owner", "released")

    def __init__(self, done: int, upload_id: int, first: int, owner: int,
                 released: Released | None) -> None:
        self.done = done
        self.id = upload_id
        self.first = first
        self.owner = owner
        self.released = released

    def apply(self, upload: Upload) -> None:
        upload.done, upload.id, upload.first = self.done, self.id, self.first
        upload.owner = self.owner


def run_slice(tx: Tx, upload: Upload) -> Progress:
    """Write the next slice of ``upload`` in the open transaction (in a savepoint of its own);
    the last one releases it. NotFound when its device is gone (or was made again)."""
    conn = tx.conn
    seq = tx.device_seq(upload.device_id)
    if upload.owner is not None and seq != upload.owner:
        raise device_not_found(upload.device_id)  # deleted and made again: not this upload's
    start, end = upload.done, upload.slice_end()
    rows = _resolve(tx, upload, seq, start, end)
    upload_id = upload.id
    if upload_id is None:
        upload_id = int(conn.execute("INSERT INTO ts_kv_upload DEFAULT VALUES").lastrowid or 0)
    conn.executemany(_INSERT_HELD, rows)
    last = int(conn.execute("SELECT max(seq) FROM ts_kv_held").fetchone()[0])
    first = upload.first if upload.first is not None else last - len(rows) + 1
    newest = upload.newest
    for row in newest_rows(rows):
        current = newest.get((row[0], row[1]))
        if current is None or row[2] >= current[2]:
            newest[(row[0], row[1])] = row
    released = None
    if end >= len(upload.rows):
        # Everything logged so far was acknowledged before this upload, so it goes first.
        tx.merge_log()
        upsert_latest(conn, list(newest.values()), bool(upload.large), tx.latest_refs)
        conn.execute("UPDATE ts_kv_upload SET first_seq = ?, last_seq = ?, released = 1 "
                     "WHERE id = ?", (first, last, upload_id))
        released = Released(upload_id, first, last, bool(upload.large))
    else:
        conn.execute("UPDATE ts_kv_upload SET first_seq = ? WHERE id = ?", (first, upload_id))
    return Progress(end, upload_id, first, seq, released)


def _resolve(tx: Tx, upload: Upload, seq: int, start: int, end: int) -> list[Row]:
    part = upload.rows[start:end]
    if upload.seq == seq:
        return part
    if upload.seq is not None:  # the device's seq changed since the rows were made
        return [(seq, *row[1:]) for row in part]
    keys, key_id = tx.keys, tx.key_id
    out: list[Row] = []
    for key, ts, code, value in part:
        kid = keys.get(key)
        if kid is None:
            kid = key_id(key)
        out.append((seq, kid, ts, code, value))
    return out


def abort(conn: sqlite3.Connection, upload: Upload) -> None:
    """Delete what the failed ``upload`` had written (its held rows are the newest ones)."""
    if upload.id is not None:
        if upload.first is not None:
            conn.execute("DELETE FROM ts_kv_held WHERE seq >= ?", (upload.first,))
        conn.execute("DELETE FROM ts_kv_upload WHERE id = ?", (upload.id,))


def recover(conn: sqlite3.Connection) -> Released | None:
    """At start: drop the rows of uploads a crash left unreleased (never acknowledged); the
    released upload still to merge, if any."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM ts_kv_held WHERE NOT EXISTS (SELECT 1 FROM ts_kv_upload u "
                     "WHERE u.released AND ts_kv_held.seq BETWEEN u.first_seq AND u.last_seq)")
        conn.execute("DELETE FROM ts_kv_upload WHERE NOT released")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return load_released(conn)


def load_released(conn: sqlite3.Connection) -> Released | None:
    """The released upload not fully merged yet, as the database has it."""
    row = conn.execute("SELECT id, first_seq, last_seq FROM ts_kv_upload WHERE released "
                       "ORDER BY id LIMIT 1").fetchone()
    # Whether it holds large values is not recorded: assume it may.
    return None if row is None else Released(row[0], row[1], row[2], True)
