"""Group commit on PostgreSQL: concurrent writes of one node share a transaction.

How a write travels::

    coroutine ──put(op)──> lane (chosen by hash of the device) ──> writer task:
        bulk ops (telemetry, attribute saves) of the batch:  ONE statement
            device check (FOR KEY SHARE) + ts_kv unnest upsert + ts_kv_latest upsert
            + attribute_kv upsert + attribute_change upsert, rows sorted by primary key
        other ops: each in a SAVEPOINT (only the failing one rolls back)
        COMMIT (synchronous_commit: the WAL is flushed)
    coroutine <── its future resolved only after COMMIT

A lane has one connection of its own and one task: while a batch commits, new operations queue
up and form the next batch, so an fsync is shared by all the writers that arrived meanwhile.
A batch takes no more operations once they hold ``BATCH_ROWS`` rows, so that no batch holds
its lane long; a save too large for that never comes here (``uploads``).
A few lanes (``hash(device) % lanes``) let one batch be built while another waits for its
commit; one device's writes always take the same lane, so they stay in order. A batch of bulk
operations only is one statement in autocommit: one round trip and one commit.

Deadlock freedom between lanes and nodes: every batch takes its row locks in one global order:
device rows, then ts_kv, ts_kv_latest, attribute_kv, attribute_change, each in primary-key
order (the rows are deduplicated and sorted here; a later write at an equal key wins, as it
would one statement after the other). Other operations (RPCs, deletes) come after and lock in
their own order; should PostgreSQL still report a deadlock or a serialization failure, the
whole batch is rolled back and redone, a few times.

One caller's failure never fails the others: values are checked on the event loop before they
join a batch (``values.encode``), devices that do not exist are left out of the shared
statement and their callers get NotFound, and any other error of the shared statement makes
the batch run again with every operation in its own savepoint. A failed COMMIT (or a lost
connection) fails the whole batch: none of it is durable. Every committed batch is counted in
fixed-bucket histograms (operations, seconds), for the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from thingport.store.postgresql.bulk import (
    BULK_SQL,
    AttributesOp,
    Bulk,
    Op,
    TelemetryOp,
    WriteOp,
    bulk_args,
)
from thingport.store.shared.errors import device_not_found
from thingport.store.shared.futures import settle
from thingport.store.shared.histogram import (
    BATCH_SIZE_BOUNDS,
    COMMIT_SECONDS_BOUNDS,
    Buckets,
    Histogram,
    combined,
)

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "AttributesOp",
    "LaneStats",
    "Lanes",
    "Op",
    "TelemetryOp",
    "WriteOp",
]

log = logging.getLogger(__name__)

#: Operations one transaction takes at most.
DEFAULT_BATCH_LIMIT: Final = 1024
#: A batch takes no more operations once they hold this many rows (samples, attributes), so
#: that no batch holds its lane long (larger saves do not come here: see ``uploads``).
BATCH_ROWS: Final = 10_000
#: How often a batch that hit a deadlock or serialization failure is redone.
RETRIES: Final = 5

Connect = Callable[[], Awaitable["asyncpg.Connection"]]
Translate = Callable[[BaseException], BaseException]


@dataclass(frozen=True, slots=True)
class LaneStats:
    """Counters of every lane together, for monitoring and for tests of group commit.

    ``batch_sizes`` (operations) and ``commit_seconds`` (first statement to the end of
    COMMIT) count every committed lane transaction; ``upload_seconds`` every transaction of
    a save too large for a lane (``uploads``); all in fixed buckets
    (``store.shared.histogram``).
    """

    transactions: int
    operations: int
    largest_batch: int
    retries: int
    batch_sizes: Histogram = field(default_factory=lambda: Buckets(BATCH_SIZE_BOUNDS).snapshot())
    commit_seconds: Histogram = field(
        default_factory=lambda: Buckets(COMMIT_SECONDS_BOUNDS).snapshot())
    upload_seconds: Histogram = field(
        default_factory=lambda: Buckets(COMMIT_SECONDS_BOUNDS).snapshot())


class _Redo(Exception):
    """The batch's shared statement failed: run it again, each operation isolated."""


def _retriable(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction was rolled back as a whole and
    redoing it may well succeed."""
    import asyncpg

    return isinstance(exc, asyncpg.TransactionRollbackError)


def _never_sent(exc: BaseException) -> bool:
    """asyncpg refused to start the statement (its connection is in a state it cannot use)."""
    import asyncpg

    return isinstance(exc, asyncpg.InternalClientError)


def _broken(exc: BaseException) -> bool:
    """Whether the connection cannot be trusted after ``exc``: anything but an error the
    server reported on a working session (a lost session, a client-side protocol error)."""
    import asyncpg

    return (not isinstance(exc, asyncpg.PostgresError)
            or isinstance(exc, asyncpg.PostgresConnectionError))


class _Lane:
    """One writer task with its connection and queue."""

    def __init__(self, index: int, connect: Connect, translate: Translate, limit: int) -> None:
        self._index = index
        self._connect = connect
        self._translate = translate
        self._limit = limit
        self._queue: list[Op] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0
        self.operations = 0
        self.largest_batch = 0
        self.retries = 0
        self.batch_sizes = Buckets(BATCH_SIZE_BOUNDS)
        self.commit_seconds = Buckets(COMMIT_SECONDS_BOUNDS)

    async def start(self) -> None:
        self._conn = await self._connect()
        self._task = asyncio.create_task(self._run(), name=f"thingport-pg-lane-{self._index}")

    def put(self, op: Op) -> None:
        self._queue.append(op)
        self._wake.set()

    async def stop(self) -> None:
        """Commit what is queued, end the task, close the connection."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._queue[: _batch_end(self._queue, self._limit)]
                del self._queue[: len(batch)]
                try:
                    await self._commit(batch)
                except BaseException as exc:  # never lose a future, even on cancellation
                    settle((op.future, None, exc) for op in batch)
                    if not isinstance(exc, Exception):
                        raise
            if self._stopping:
                return

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._connect()
        return self._conn

    async def _commit(self, batch: list[Op]) -> None:
        n = len(batch)
        results: list[Any] = [None] * n
        errors: list[BaseException | None] = [None] * n
        isolated = False
        attempt = 0
        started = time.perf_counter()
        committed = True
        while True:
            results[:] = [None] * n
            errors[:] = [None] * n
            try:
                conn = await self._connection()
                await self._execute(conn, batch, results, errors, isolated)
                break
            except _Redo:
                isolated = True
            except _Failed:
                committed = False
                break  # the only operation failed; its error is recorded
            except Exception as exc:
                attempt += 1
                if _never_sent(exc) and attempt < RETRIES:
                    # A session ended by the server (a restart) shows as a client-side state
                    # error on the next use, before anything is sent: a fresh connection
                    # can run the same batch safely.
                    log.info("lane connection unusable (%s); reconnecting", exc)
                    if self._conn is not None:
                        self._conn.terminate()
                    self._conn = None
                    continue
                if _retriable(exc) and attempt < RETRIES:
                    self.retries += 1
                    log.info("batch of %d rolled back (%s); redoing it", n, exc)
                    continue
                if self._conn is not None and not self._conn.is_closed() and (
                    self._conn.is_in_transaction() or _broken(exc)
                ):
                    # Never reuse a connection left in a failed transaction, or one whose
                    # session was lost mid-statement: asyncpg would refuse the next batch with
                    # "another operation is in progress" instead of reconnecting.
                    self._conn.terminate()
                results[:] = [None] * n
                errors[:] = [self._translate(exc)] * n
                committed = False
                break
        if committed:
            self.commit_seconds.observe(time.perf_counter() - started)
            self.batch_sizes.observe(n)
        self.transactions += 1
        self.operations += n
        self.largest_batch = max(self.largest_batch, n)
        settle(zip((op.future for op in batch), results, errors, strict=True))

    async def _execute(
        self, conn: asyncpg.Connection, batch: list[Op], results: list[Any],
        errors: list[BaseException | None], isolated: bool,
    ) -> None:
        bulk = [i for i, op in enumerate(batch) if type(op) is not WriteOp]
        other = [i for i, op in enumerate(batch) if type(op) is WriteOp]
        if not other and not isolated:
            # Bulk operations only: one statement, its own transaction.
            try:
                await self._bulk(conn, batch, bulk, errors)
            except Exception as exc:
                if _retriable(exc) or conn.is_closed():
                    raise
                raise _Redo from exc
            return
        async with conn.transaction():
            if isolated:
                for i in bulk:
                    await self._savepoint(conn, batch[i], i, results, errors)
            elif bulk:
                try:
                    async with conn.transaction():
                        await self._bulk(conn, batch, bulk, errors)
                except Exception as exc:
                    if _retriable(exc):
                        raise
                    raise _Redo from exc
            share = len(batch) > 1
            for i in other:
                if share:
                    await self._savepoint(conn, batch[i], i, results, errors)
                else:
                    op = batch[i]
                    assert isinstance(op, WriteOp)
                    try:
                        results[i] = await op.fn(conn)
                    except Exception as exc:
                        if _retriable(exc):
                            raise
                        # The only operation: its failure rolls the transaction back.
                        errors[i] = self._translate(exc)
                        raise _Failed from exc

    async def _bulk(
        self, conn: asyncpg.Connection, batch: list[Op], indices: list[int],
        errors: list[BaseException | None],
    ) -> None:
        ops: list[Bulk] = [batch[i] for i in indices]  # type: ignore[misc]
        found = {r[0] for r in await conn.fetch(BULK_SQL, *bulk_args(ops))}
        for i, op in zip(indices, ops, strict=True):
            if op.device_id not in found:
                errors[i] = device_not_found(op.device_id)

    async def _savepoint(
        self, conn: asyncpg.Connection, op: Op, i: int, results: list[Any],
        errors: list[BaseException | None],
    ) -> None:
        try:
            async with conn.transaction():
                if type(op) is WriteOp:
                    results[i] = await op.fn(conn)
                else:
                    found = await conn.fetch(BULK_SQL, *bulk_args([op]))  # type: ignore[list-item]
                    if not found:
                        errors[i] = device_not_found(op.device_id)  # type: ignore[union-attr]
        except Exception as exc:
            if _retriable(exc) or conn.is_closed():
                raise
            errors[i] = self._translate(exc)


def _batch_end(queue: list[Op], limit: int) -> int:
    """How many of the queued operations the next batch takes: at most ``limit``, and no more
    once they hold BATCH_ROWS rows."""
    rows = 0
    for i, op in enumerate(queue[:limit]):
        rows += 1 if type(op) is WriteOp else len(op.rows)  # type: ignore[union-attr]
        if rows >= BATCH_ROWS:
            return i + 1
    return min(limit, len(queue))


class _Failed(Exception):
    """The batch's only operation failed; its error is recorded, the transaction rolled back."""


class Lanes:
    """The node's writer lanes; ``submit`` queues an operation and waits for its commit."""

    def __init__(
        self, count: int, connect: Connect, translate: Translate,
        limit: int = DEFAULT_BATCH_LIMIT,
    ) -> None:
        self._lanes = [_Lane(i, connect, translate, limit) for i in range(max(1, count))]
        #: Transactions of saves too large for a lane (``uploads``), counted by their writer.
        self.upload_seconds = Buckets(COMMIT_SECONDS_BOUNDS)

    async def start(self) -> None:
        """Open every lane's connection and start its task."""
        try:
            for lane in self._lanes:
                await lane.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Commit everything queued, then stop every lane."""
        await asyncio.gather(*(lane.stop() for lane in self._lanes), return_exceptions=True)

    def put(self, op: Op, key: UUID | None) -> None:
        """Queue ``op`` on the lane of ``key`` (a device id; None: the first lane)."""
        lane = self._lanes[0 if key is None else key.int % len(self._lanes)]
        lane.put(op)

    async def write(
        self, fn: Callable[[asyncpg.Connection], Awaitable[Any]], key: UUID | None
    ) -> Any:
        """Run ``fn`` in a group-committed transaction; its result once committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.put(WriteOp(fn, future), key)
        return await future

    @property
    def stats(self) -> LaneStats:
        """Transactions and operations committed so far, over every lane."""
        return LaneStats(
            sum(lane.transactions for lane in self._lanes),
            sum(lane.operations for lane in self._lanes),
            max(lane.largest_batch for lane in self._lanes),
            sum(lane.retries for lane in self._lanes),
            combined((lane.batch_sizes.snapshot() for lane in self._lanes), BATCH_SIZE_BOUNDS),
            combined((lane.commit_seconds.snapshot() for lane in self._lanes),
                     COMMIT_SECONDS_BOUNDS),
            self.upload_seconds.snapshot(),
        )

