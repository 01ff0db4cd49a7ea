"""The writer thread: every write of the SQLite store, committed in batches (group commit).

How a write travels::

    coroutine ──put(op)──> queue ──> writer thread: BEGIN IMMEDIATE
                                       the batch's operations (batch.py)
                                       a slice of the upload in progress (uploads.py)
                                     COMMIT (fsync: synchronous=FULL)
                                     a chunk of the sample log merged (its own transaction)
    coroutine <──call_soon_threadsafe── every future of the batch resolved, only after COMMIT

Everything queued while the previous transaction was committing goes into the next one, so the
cost of the fsync is shared by all concurrent writers (group commit) and a caller is answered
only once its data is durable. If SQLite rolls back the whole transaction by itself (disk
full, I/O error), the batch is redone one operation at a time so that only the operations that
cannot be written fail, with StoreUnavailable. A failed COMMIT fails the whole batch: none of
it is durable.

No transaction holds the writer long, so that one device cannot stall the others: a batch
stops taking operations at ``BATCH_ROWS`` samples or ``BATCH_BYTES`` of large values; a
save_telemetry larger than a slice is an upload (``uploads.py``) of which each transaction
takes one slice, next to the other operations; the sample log is merged in bounded chunks,
each in a transaction of its own between batches.

An ``Op`` is a function of a ``Tx`` (``tx.py``), run in the batch's transaction; a
``TelemetryOp`` carries ``save_telemetry``'s rows for the fast lane (``sample_log.py``). Every
commit is counted in fixed-bucket histograms (batch size, seconds held), for the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import Future as ThreadFuture
from typing import Any, Final, cast
from uuid import UUID

from thingport.store.shared.histogram import BATCH_SIZE_BOUNDS, COMMIT_SECONDS_BOUNDS, Buckets
from thingport.store.sqlite import uploads
from thingport.store.sqlite.batch import (
    Op,
    TelemetryOp,
    TransactionLost,
    execute,
    execute_one_by_one,
    resolve,
)
from thingport.store.sqlite.connection import configure_writer, connect
from thingport.store.sqlite.errors import translate, unavailable
from thingport.store.sqlite.migrations import migrate
from thingport.store.sqlite.sample_log import MERGE_BYTES, MERGE_INTERVAL_S, MERGE_ROWS
from thingport.store.sqlite.tx import Tx

__all__ = ["DEFAULT_BATCH_LIMIT", "Op", "TelemetryOp", "Writer"]

#: How many queued operations one transaction takes at most. Large enough to absorb a burst of
#: concurrent requests in one fsync, small enough that the first caller is not kept waiting long.
DEFAULT_BATCH_LIMIT: Final = 1024
#: A batch takes no more operations once it holds this many samples (or attribute entries)...
BATCH_ROWS: Final = 10_000
#: ...or this many bytes of large values.
BATCH_BYTES: Final = 4 * 2**20
#: How long the writer waits before it tries again a merge or the clean-up of a failed upload
#: that failed (a full disk), instead of trying at every batch.
RETRY_S: Final = 1.0

log = logging.getLogger(__name__)


class _AbortStep(Op):
    """The writer's own step that deletes what a failed upload had written."""

    __slots__ = ()


_STOP: Final = object()


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
        #: Uploads waiting for their slices, the first one in progress.
        self._uploads: deque[tuple[uploads.Upload, TelemetryOp]] = deque()
        #: Failed uploads whose held rows are still to delete.
        self._aborts: list[uploads.Upload] = []
        self._retry_at = 0.0  # of a failed merge or clean-up
        self._unavailable = False  # a merge failed for want of space: logged once
        self.conn: sqlite3.Connection | None = None
        self.transactions = 0
        self.operations = 0
        self.largest_batch = 0
        #: Per batch transaction: operations in it, seconds from BEGIN to the end of COMMIT.
        self.batch_sizes = Buckets(BATCH_SIZE_BOUNDS)
        self.commit_seconds = Buckets(COMMIT_SECONDS_BOUNDS)
        #: Per merge transaction (a chunk of the sample log or of a released upload).
        self.merge_seconds = Buckets(COMMIT_SECONDS_BOUNDS)

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
            # Samples a crash left unmerged are merged with the next ones; an upload it left
            # unreleased was never acknowledged and goes.
            self._tx.released = uploads.recover(conn)
            self._reload()
        except BaseException as exc:
            if conn is not None:
                conn.close()
            self._started.set_exception(exc)
            return
        self._started.set_result(None)
        self._loop()

    def _reload(self) -> None:
        """Read the merge state back from the database (at start, and after a transaction
        that failed, since the state may have changed within it)."""
        tx = cast(Tx, self._tx)
        tx.log_rows = tx.conn.execute("SELECT count(*) FROM ts_kv_log").fetchone()[0]
        tx.log_large = tx.log_rows > 0
        tx.log_bytes = 0
        tx.released = uploads.load_released(tx.conn)

    def _loop(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        tx = cast(Tx, self._tx)
        logged_since: float | None = time.monotonic() if tx.log_rows else None
        stopping = False
        while True:
            if stopping and not self._uploads and not self._aborts:
                break
            now = time.monotonic()
            waiting = self._uploads or self._aborts or tx.released is not None
            try:
                if stopping or (waiting and now >= self._retry_at):
                    item = get_nowait()
                elif waiting:
                    item = get(timeout=self._retry_at - now)
                elif logged_since is None:
                    item = get()
                else:
                    item = get(timeout=max(0.0, logged_since + MERGE_INTERVAL_S - now))
            except queue.Empty:
                item = None
            batch, stopping = self._take(item, stopping)
            step = self._next_step()
            if step is not None:
                batch.append(step)
            if batch:
                results, errors = self._run_batch(batch)
                if step is not None:
                    self._after_step(step, results[-1], errors[-1])
            if tx.log_rows and logged_since is None:
                logged_since = time.monotonic()
            if time.monotonic() >= self._retry_at and (
                tx.released is not None
                or (logged_since is not None and (
                    stopping or tx.log_rows >= MERGE_ROWS or tx.log_bytes >= MERGE_BYTES
                    or time.monotonic() - logged_since >= MERGE_INTERVAL_S))
            ):
                self._merge()
                logged_since = time.monotonic() if tx.log_rows else None
        # Stopping: everything acknowledged goes into ts_kv before the thread ends.
        while (tx.log_rows or tx.released is not None) and self._merge():
            pass

    def _take(self, item: object, stopping: bool) -> tuple[list[Op | TelemetryOp], bool]:
        """The next batch: ``item`` and whatever else is queued, within the batch's budget.
        Uploads go to their own queue. Whether the stop signal came."""
        batch: list[Op | TelemetryOp] = []
        append, get_nowait, limit = batch.append, self._queue.get_nowait, self._batch_limit
        rows = size = 0
        while item is not None:
            if item is _STOP:
                return batch, True
            if type(item) is TelemetryOp:
                if item.upload:
                    upload = uploads.Upload(item.device_id, item.seq, item.rows, item.large)
                    self._uploads.append((upload, item))
                else:
                    append(item)
                    rows += len(item.rows)
                    size += item.large_bytes
            else:
                append(item)  # type: ignore[arg-type]
                rows += item.weight  # type: ignore[attr-defined]
            if len(batch) >= limit or rows >= BATCH_ROWS or size >= BATCH_BYTES:
                break
            try:
                item = get_nowait()
            except queue.Empty:
                break
        return batch, stopping

    def _next_step(self) -> Op | None:
        """The writer's own operation for this batch: the clean-up of a failed upload, or the
        next slice of the upload in progress (its last one only once no released upload is
        left to merge: the log must be merged before it, and after the previous one)."""
        if self._aborts:
            if time.monotonic() < self._retry_at:
                return None
            failed = self._aborts[0]
            return _AbortStep(lambda tx: uploads.abort(tx.conn, failed), None, None)
        if not self._uploads:
            return None
        upload = self._uploads[0][0]
        tx = cast(Tx, self._tx)
        if tx.released is not None and upload.is_last_slice():
            return None
        return Op(lambda tx: uploads.run_slice(tx, upload), None, None)

    def _after_step(self, step: Op, result: Any, error: BaseException | None) -> None:
        """Apply what the writer's own step did, now that its batch committed (or failed)."""
        if type(step) is _AbortStep:
            if error is None:
                self._aborts.pop(0)
            else:
                self._retry_at = time.monotonic() + RETRY_S
            return
        upload, op = self._uploads[0]
        if error is None:
            progress = cast(uploads.Progress, result)
            progress.apply(upload)
            if progress.released is None:
                return
            cast(Tx, self._tx).released = progress.released
        elif upload.id is not None:
            self._aborts.append(upload)
        self._uploads.popleft()
        resolve([op], [None], [error])

    def _merge(self) -> bool:
        """Merge one chunk (of the released upload, else of the sample log) in a transaction
        of its own; whether more is left. A failure leaves the rows where they were, where
        reads still find them, and is tried again after RETRY_S."""
        tx = cast(Tx, self._tx)
        conn = tx.conn
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            more = tx.merge_step()
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                self._reload()
            self._retry_at = time.monotonic() + RETRY_S
            if unavailable(exc) is None:
                log.exception("merging the sample log failed; it stays and is merged later")
            elif not self._unavailable:
                self._unavailable = True
                log.warning("merging the sample log failed (%s); reads still see it, and it "
                            "is merged once the store can write again", exc)
            return False
        if self._unavailable:
            self._unavailable = False
            log.warning("merging the sample log works again")
        self.merge_seconds.observe(time.perf_counter() - started)
        return more

    def _run_batch(
        self, batch: list[Op | TelemetryOp]
    ) -> tuple[list[Any], list[BaseException | None]]:
        tx = cast(Tx, self._tx)
        conn = tx.conn
        n = len(batch)
        results: list[Any] = [None] * n
        errors: list[BaseException | None] = [None] * n
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                execute(tx, batch, range(n), results, errors)
            except TransactionLost:
                tx.forget_all()
                execute_one_by_one(tx, batch, results, errors)
            conn.execute("COMMIT")
        except Exception as exc:
            # BEGIN or COMMIT failed: nothing of this batch is durable.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                tx.forget_all()
                self._reload()
            failure = translate(exc)
            for k in range(n):
                results[k] = None
                errors[k] = errors[k] or failure
        else:
            tx.publish()
            self.commit_seconds.observe(time.perf_counter() - started)
            self.batch_sizes.observe(n)
        self.transactions += 1
        self.operations += n
        self.largest_batch = max(self.largest_batch, n)
        resolve(batch, results, errors)
        return results, errors

