"""One batch of the SQLite writer, run in its transaction: the operations it queues, each in a
savepoint of its own, runs of telemetry operations through the fast lane, and the answers.

How a batch runs::

    BEGIN IMMEDIATE (writer.py)
      SAVEPOINT / op 1 / RELEASE      (a failing op rolls back only its own savepoint)
      SAVEPOINT / op 2 / RELEASE
      one executemany per table for a run of telemetry ops (the fast lane)
    COMMIT (writer.py), then every future of the batch resolved

If SQLite rolls back the whole transaction by itself (an I/O error), ``execute_one_by_one``
redoes the batch one operation at a time so that only the operations that cannot be written
fail.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from itertools import chain
from typing import Any, cast
from uuid import UUID

from thingport.store.shared.futures import settle
from thingport.store.sqlite.errors import translate
from thingport.store.sqlite.sample_log import (
    INSERT_LOG,
    Row,
    newest_rows,
    upsert_latest,
)
from thingport.store.sqlite.tx import Tx

__all__ = ["Op", "TelemetryOp", "TransactionLost", "execute", "execute_one_by_one", "resolve"]


class Op:
    """A queued write: a function run inside the batch's transaction; ``weight`` is how many
    rows it writes (for the batch's budget). The writer's own steps have no future."""

    __slots__ = ("fn", "future", "loop", "weight")

    def __init__(
        self, fn: Callable[[Tx], Any], future: asyncio.Future[Any] | None,
        loop: asyncio.AbstractEventLoop | None, weight: int = 1,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.weight = weight


_NONE: list[tuple[int, int]] = []  # shared, never changed: most operations have no large value


class TelemetryOp:
    """A queued save_telemetry, taken by the writer's fast lane.

    Resolved (``seq`` set): ``rows`` are finished (device, key id, ts, type, value) rows and
    ``newest`` the rows for ts_kv_latest, all prepared on the event loop from published ids.
    Unresolved (a device or key not published yet): ``rows`` are (key, ts, type, value) and the
    writer maps them. ``large`` lists (index, bytes) of the rows whose value is marked large
    (``large_values.py``); ``upload``: too large for one transaction, written in slices.
    """

    __slots__ = ("device_id", "future", "large", "large_bytes", "loop", "newest", "rows", "seq",
                 "upload")

    def __init__(
        self, device_id: UUID, seq: int | None, rows: list[Any], newest: list[Row] | None,
        future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop,
        large: list[tuple[int, int]] | None = None, upload: bool = False,
    ) -> None:
        self.device_id = device_id
        self.seq = seq
        self.rows = rows
        self.newest = newest
        self.future = future
        self.loop = loop
        self.large = large or _NONE
        self.large_bytes = sum(size for _, size in large) if large else 0
        self.upload = upload


class TransactionLost(Exception):
    """SQLite rolled back the whole transaction by itself (disk full, I/O error)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def execute(
    tx: Tx, batch: list[Op | TelemetryOp], indices: range,
    results: list[Any], errors: list[BaseException | None],
) -> None:
    """Run batch[indices] in the open transaction: each operation in its own savepoint,
    each run of consecutive telemetry operations through the fast lane."""
    i, end = indices.start, indices.stop
    while i < end:
        if type(batch[i]) is TelemetryOp:
            j = i + 1
            while j < end and type(batch[j]) is TelemetryOp:
                j += 1
            _run_telemetry(tx, cast(list[TelemetryOp], batch[i:j]), i, errors)
        else:
            j = i + 1
            _run_op(tx, cast(Op, batch[i]), i, results, errors)
        i = j

def execute_one_by_one(
    tx: Tx, batch: list[Op | TelemetryOp], results: list[Any],
    errors: list[BaseException | None],
) -> None:
    """SQLite rolled the whole transaction back (disk full, I/O error), taking the work of
    innocent operations with it. Redo the batch one operation at a time in a new
    transaction; an operation that loses the transaction again is failed alone and the
    others are redone once more. Each round drops one operation, so this ends."""
    pending = list(range(len(batch)))
    conn = tx.conn
    while True:
        for k in pending:
            results[k] = errors[k] = None
        conn.execute("BEGIN IMMEDIATE")
        for position, k in enumerate(pending):
            try:
                execute(tx, batch, range(k, k + 1), results, errors)
            except TransactionLost as lost:
                errors[k] = translate(lost.cause)
                tx.forget_all()
                del pending[position]
                break
        else:
            return  # the caller commits

def _run_op(
    tx: Tx, op: Op, index: int, results: list[Any], errors: list[BaseException | None]
) -> None:
    conn = tx.conn
    conn.execute("SAVEPOINT op")
    tx.new_keys.clear()
    try:
        results[index] = op.fn(tx)
    except Exception as exc:
        if not conn.in_transaction:
            raise TransactionLost(exc) from exc
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        for key in tx.new_keys:
            tx.keys.pop(key, None)
        errors[index] = translate(exc)
    else:
        conn.execute("RELEASE op")

def _run_telemetry(
    tx: Tx, ops: list[TelemetryOp], offset: int, errors: list[BaseException | None]
) -> None:
    """Write a run of consecutive telemetry operations with one executemany per table.

    Keys are added to the dictionary outside any savepoint: a key nobody ended up using is
    harmless. If the shared statement fails (a value SQLite cannot bind, say), each
    operation is retried alone in its own savepoint so that only the culprit fails.
    """
    conn = tx.conn
    keys = tx.keys
    rows: list[Row] = []
    # (index in the batch, its rows' span, its rows for ts_kv_latest)
    spans: list[tuple[int, int, int, list[Row]]] = []
    for index, op in enumerate(ops, offset):
        start = len(rows)
        try:
            seq = tx.device_seq(op.device_id)
            if op.seq == seq:
                rows.extend(op.rows)
                newest = cast(list[Row], op.newest)
            else:
                if op.seq is not None:  # a device deleted, then created again with its id
                    rows.extend((seq, *row[1:]) for row in op.rows)
                else:
                    for key, ts, code, value in op.rows:
                        kid = keys.get(key)
                        if kid is None:
                            kid = tx.key_id(key)
                        rows.append((seq, kid, ts, code, value))
                newest = newest_rows(rows[start:])
        except Exception as exc:
            if not conn.in_transaction:
                raise TransactionLost(exc) from exc
            del rows[start:]
            errors[index] = exc
            continue
        spans.append((index, start, len(rows), newest))
    tx.new_keys.clear()
    if not rows:
        return
    large, any_large = 0, False
    for op in ops:  # a failed one too: these only decide how much work to do
        if op.large_bytes:
            large += op.large_bytes
            any_large = True
    conn.execute("SAVEPOINT telemetry")
    try:
        INSERT_LOG.run(conn, rows)
        upsert_latest(conn, _latest(spans), any_large, tx.latest_refs)
    except Exception as exc:
        if not conn.in_transaction:
            raise TransactionLost(exc) from exc
        conn.execute("ROLLBACK TO telemetry")
        conn.execute("RELEASE telemetry")
    else:
        conn.execute("RELEASE telemetry")
        tx.log_rows += len(rows)
        tx.log_bytes += large
        tx.log_large = tx.log_large or any_large
        return
    for index, start, end, newest in spans:
        op = ops[index - offset]
        conn.execute("SAVEPOINT telemetry")
        try:
            INSERT_LOG.run(conn, rows[start:end])
            upsert_latest(conn, newest, bool(op.large), tx.latest_refs)
        except Exception as exc:
            if not conn.in_transaction:
                raise TransactionLost(exc) from exc
            conn.execute("ROLLBACK TO telemetry")
            errors[index] = translate(exc)
        else:
            tx.log_rows += end - start
            tx.log_bytes += op.large_bytes
            tx.log_large = tx.log_large or bool(op.large)
        conn.execute("RELEASE telemetry")

def _latest(spans: list[tuple[int, int, int, list[Row]]]) -> list[Row]:
    """``merge_newest`` of the operations' newest rows, without a step per row where it
    would change nothing: an operation's rows are all of one device and already its newest,
    so only operations of a device that an earlier one in the batch has are merged."""
    if len(spans) == 1:
        return spans[0][3]
    parts: list[list[Row]] = []
    at: dict[int, int] = {}  # device seq -> its part
    for span in spans:
        newest = span[3]
        if not newest:
            continue
        device = newest[0][0]
        index = at.get(device)
        if index is None:
            at[device] = len(parts)
            parts.append(newest)
        else:  # the same device again: newest_rows keeps the later row of a tie
            parts[index] = newest_rows(parts[index] + newest)
    return parts[0] if len(parts) == 1 else list(chain.from_iterable(parts))


def resolve(
    batch: list[Op | TelemetryOp], results: list[Any], errors: list[BaseException | None]
) -> None:
    # One wake-up of each event loop per batch, not one per operation.
    by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
    for op, result, error in zip(batch, results, errors, strict=True):
        loop = op.loop
        if loop is not None:  # else the writer's own step
            items = by_loop.get(loop)
            if items is None:
                items = by_loop[loop] = []
            items.append((op.future, result, error))
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(settle, items)

