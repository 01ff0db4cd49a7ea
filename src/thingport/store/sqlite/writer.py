"""The writer thread: every write of the SQLite store, committed in batches (group commit).

How a write travels::

    coroutine ──put(op)──> queue ──> writer thread: BEGIN IMMEDIATE
                                       SAVEPOINT / op 1 / RELEASE      (a failing op rolls back
                                       SAVEPOINT / op 2 / RELEASE       only its own savepoint)
                                       one executemany for a run of telemetry ops (fast lane)
                                     COMMIT (fsync: synchronous=FULL)
    coroutine <──call_soon_threadsafe── every future of the batch resolved, only after COMMIT

Everything queued while the previous transaction was committing goes into the next one, so the
cost of the fsync is shared by all concurrent writers (group commit) and a caller is answered
only once its data is durable. If SQLite rolls back the whole transaction by itself (disk full,
I/O error), the batch is redone one operation at a time so that only the operations that cannot
be written fail. A failed COMMIT fails the whole batch: none of it is durable.

An ``Op`` is a function of a ``Tx`` (``tx.py``), run in the batch's transaction; a
``TelemetryOp`` carries ``save_telemetry``'s rows for the fast lane (``sample_log.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future as ThreadFuture
from typing import Any, Final, cast
from uuid import UUID

from thingport.store.sqlite.connection import configure_writer, connect
from thingport.store.sqlite.errors import translate
from thingport.store.sqlite.migrations import migrate
from thingport.store.sqlite.sample_log import (
    INSERT_TS,
    MERGE_INTERVAL_S,
    MERGE_ROWS,
    UPSERT_LATEST,
    Row,
    merge_newest,
    newest_rows,
)
from thingport.store.sqlite.tx import Tx

#: How many queued operations one transaction takes at most. Large enough to absorb a burst of
#: concurrent requests in one fsync, small enough that the first caller is not kept waiting long.
DEFAULT_BATCH_LIMIT: Final = 1024

log = logging.getLogger(__name__)


class Op:
    """A queued write: a function run inside the batch's transaction."""

    __slots__ = ("fn", "future", "loop")

    def __init__(
        self, fn: Callable[[Tx], Any], future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop


class TelemetryOp:
    """A queued save_telemetry, taken by the writer's fast lane.

    Resolved (``seq`` set): ``rows`` are finished (device, key id, ts, type, value) rows and
    ``newest`` the rows for ts_kv_latest, all prepared on the event loop from published ids.
    Unresolved (a device or key not published yet): ``rows`` are (key, ts, type, value) and the
    writer maps them.
    """

    __slots__ = ("device_id", "future", "loop", "newest", "rows", "seq")

    def __init__(
        self, device_id: UUID, seq: int | None, rows: list[Any], newest: list[Row] | None,
        future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.device_id = device_id
        self.seq = seq
        self.rows = rows
        self.newest = newest
        self.future = future
        self.loop = loop


_STOP: Final = object()


class _TransactionLost(Exception):
    """SQLite rolled back the whole transaction by itself (disk full, I/O error)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in items:
        if future.done():  # the caller was cancelled; its write is committed all the same
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class Writer:
    """The thread that owns the write connection and commits queued operations in batches."""

    def __init__(
        self, path: str, batch_limit: int, published_keys: dict[str, int],
        published_devices: dict[UUID, int],
    ) -> None:
        self._path = path
        self._batch_limit = batch_limit
        self._published_keys = published_keys
        self._published_devices = published_devices
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._started: ThreadFuture[None] = ThreadFuture()
        self._thread = threading.Thread(
            target=self._main, name="thingport-sqlite-writer", daemon=True
        )
        self._tx: Tx | None = None
        self.conn: sqlite3.Connection | None = None
        self.transactions = 0
        self.operations = 0
        self.largest_batch = 0

    # -- called from the event loop ----------------------------------------------------------
    async def start(self) -> None:
        self._thread.start()
        await asyncio.wrap_future(self._started)

    @property
    def alive(self) -> bool:
        """Whether the thread is running (started and not stopped)."""
        return self._thread.is_alive()

    def put(self, op: Op | TelemetryOp) -> None:
        self._queue.put(op)

    async def stop(self) -> None:
        """Commit everything queued so far, then end the thread (the connection stays open)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)

    # -- the thread --------------------------------------------------------------------------
    def _main(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = connect(self._path)
            configure_writer(conn, self._path)
            migrate(conn)
            self.conn = conn
            self._tx = Tx(conn, self._published_keys, self._published_devices)
            self._tx.load_keys()
            # Samples a crash left unmerged are merged with the next ones.
            self._tx.log_rows = conn.execute("SELECT count(*) FROM ts_kv_log").fetchone()[0]
        except BaseException as exc:
            if conn is not None:
                conn.close()
            self._started.set_exception(exc)
            return
        self._started.set_result(None)
        self._loop()

    def _loop(self) -> None:
        get, get_nowait, limit = self._queue.get, self._queue.get_nowait, self._batch_limit
        tx = cast(Tx, self._tx)
        logged_since: float | None = time.monotonic() if tx.log_rows else None
        stopping = False
        while not stopping:
            try:
                if logged_since is None:
                    item = get()
                else:
                    item = get(timeout=max(0.0, logged_since + MERGE_INTERVAL_S
                                           - time.monotonic()))
            except queue.Empty:
                item = None
            batch: list[Op | TelemetryOp] = []
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(cast("Op | TelemetryOp", item))
                if len(batch) >= limit:
                    break
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._run_batch(batch)
            if tx.log_rows and logged_since is None:
                logged_since = time.monotonic()
            if logged_since is not None and (
                stopping or tx.log_rows >= MERGE_ROWS
                or time.monotonic() - logged_since >= MERGE_INTERVAL_S
            ):
                self._merge()
                logged_since = time.monotonic() if tx.log_rows else None

    def _merge(self) -> None:
        """Merge the sample log into ts_kv in a transaction of its own. A failure leaves the
        samples in the log, where reads still find them after their own merge."""
        tx = cast(Tx, self._tx)
        conn = tx.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            tx.merge_log()
            conn.execute("COMMIT")
        except sqlite3.Error:
            log.exception("merging the sample log failed; it stays and is merged later")
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    def _run_batch(self, batch: list[Op | TelemetryOp]) -> None:
        tx = cast(Tx, self._tx)
        conn = tx.conn
        n = len(batch)
        results: list[Any] = [None] * n
        errors: list[BaseException | None] = [None] * n
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._execute(tx, batch, range(n), results, errors)
            except _TransactionLost:
                tx.forget_all()
                self._execute_one_by_one(tx, batch, results, errors)
            conn.execute("COMMIT")
        except Exception as exc:
            # BEGIN or COMMIT failed: nothing of this batch is durable.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                tx.forget_all()
            for k in range(n):
                results[k] = None
                errors[k] = errors[k] or exc
        else:
            tx.publish()
        self.transactions += 1
        self.operations += n
        self.largest_batch = max(self.largest_batch, n)
        self._resolve(batch, results, errors)

    def _execute(
        self, tx: Tx, batch: list[Op | TelemetryOp], indices: range,
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
                self._run_telemetry(tx, cast(list[TelemetryOp], batch[i:j]), i, errors)
            else:
                j = i + 1
                self._run_op(tx, cast(Op, batch[i]), i, results, errors)
            i = j

    def _execute_one_by_one(
        self, tx: Tx, batch: list[Op | TelemetryOp], results: list[Any],
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
                    self._execute(tx, batch, range(k, k + 1), results, errors)
                except _TransactionLost as lost:
                    errors[k] = lost.cause
                    tx.forget_all()
                    del pending[position]
                    break
            else:
                return  # the caller commits

    @staticmethod
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
                raise _TransactionLost(exc) from exc
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            for key in tx.new_keys:
                tx.keys.pop(key, None)
            errors[index] = translate(exc)
        else:
            conn.execute("RELEASE op")

    @staticmethod
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
                    raise _TransactionLost(exc) from exc
                del rows[start:]
                errors[index] = exc
                continue
            spans.append((index, start, len(rows), newest))
        tx.new_keys.clear()
        if not rows:
            return
        conn.execute("SAVEPOINT telemetry")
        try:
            conn.executemany(INSERT_TS, rows)
            conn.executemany(UPSERT_LATEST, merge_newest([span[3] for span in spans]))
        except Exception as exc:
            if not conn.in_transaction:
                raise _TransactionLost(exc) from exc
            conn.execute("ROLLBACK TO telemetry")
            conn.execute("RELEASE telemetry")
        else:
            conn.execute("RELEASE telemetry")
            tx.log_rows += len(rows)
            return
        for index, start, end, newest in spans:
            conn.execute("SAVEPOINT telemetry")
            try:
                conn.executemany(INSERT_TS, rows[start:end])
                conn.executemany(UPSERT_LATEST, newest)
            except Exception as exc:
                if not conn.in_transaction:
                    raise _TransactionLost(exc) from exc
                conn.execute("ROLLBACK TO telemetry")
                errors[index] = translate(exc)
            else:
                tx.log_rows += end - start
            conn.execute("RELEASE telemetry")

    @staticmethod
    def _resolve(
        batch: list[Op | TelemetryOp], results: list[Any], errors: list[BaseException | None]
    ) -> None:
        # One wake-up of each event loop per batch, not one per operation.
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for op, result, error in zip(batch, results, errors, strict=True):
            by_loop.setdefault(op.loop, []).append((op.future, result, error))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, items)

