"""The SQLite store's plumbing, which every aggregate's part builds on.

Writes go to the writer thread (``_write``: a function of a ``Tx``, run in a group-committed
transaction; see ``writer.py``). Reads run on a small pool of threads, each with its own
connection (``_read``); WAL lets them read the last committed snapshot while the writer works.
The atomic "takes" of long polls (the next RPC, client RPC or batch of attribute changes) look
on a reader first and go to the writer only when there is something to take (``_take``), since
most checks of a waiting poll find nothing.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar
from uuid import UUID

from thingport.errors import ConfigError
from thingport.store.shared.errors import StoreMissing
from thingport.store.shared.histogram import (
    BATCH_SIZE_BOUNDS,
    COMMIT_SECONDS_BOUNDS,
    Buckets,
    Histogram,
)
from thingport.store.sqlite.connection import check_version, connect_reader
from thingport.store.sqlite.errors import unavailable
from thingport.store.sqlite.lock import StoreLock
from thingport.store.sqlite.tx import Tx
from thingport.store.sqlite.writer import DEFAULT_BATCH_LIMIT, Op, Writer

_R = TypeVar("_R")
_T = TypeVar("_T")

DEFAULT_READERS: Final = 4


@dataclass(frozen=True, slots=True)
class SQLiteStats:
    """Counters of the writer thread, for monitoring and for tests of group commit.

    ``batch_sizes`` (operations) and ``commit_seconds`` (BEGIN to the end of COMMIT) count
    every committed batch transaction, ``merge_seconds`` every merge transaction of the
    sample log, in fixed buckets (``store.shared.histogram``).
    """

    transactions: int
    operations: int
    largest_batch: int
    batch_sizes: Histogram = field(default_factory=lambda: Buckets(BATCH_SIZE_BOUNDS).snapshot())
    commit_seconds: Histogram = field(
        default_factory=lambda: Buckets(COMMIT_SECONDS_BOUNDS).snapshot())
    merge_seconds: Histogram = field(
        default_factory=lambda: Buckets(COMMIT_SECONDS_BOUNDS).snapshot())


class SQLiteCore:
    """A single SQLite file in WAL mode: the writer thread, the readers, the lifecycle.

    ``readers`` is how many threads (each with its own connection) serve reads;
    ``batch_limit`` caps how many queued writes share one transaction; ``holder`` is what the
    lock file says holds the store (``thingport serve``), for the next process that tries.
    """

    def __init__(
        self, path: str, *, readers: int = DEFAULT_READERS,
        batch_limit: int = DEFAULT_BATCH_LIMIT, holder: str = "thingport",
    ) -> None:
        if path == ":memory:" or not path:
            raise ConfigError("SQLiteStore needs a file path (':memory:' is not supported)")
        self._path = path
        self._lock = StoreLock(path, holder)
        # Ids committed to key_dictionary and device, published by the writer after each COMMIT
        # and read here on the event loop (single dict operations are atomic under the GIL).
        self._key_ids: dict[str, int] = {}
        self._device_seqs: dict[UUID, int] = {}
        self._writer = Writer(path, batch_limit, self._key_ids, self._device_seqs)
        self._readers = ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="thingport-sqlite-read"
        )
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._open = False
        self._closed = False

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def stats(self) -> SQLiteStats:
        """How many transactions and operations the writer has committed so far."""
        w = self._writer
        return SQLiteStats(w.transactions, w.operations, w.largest_batch,
                           w.batch_sizes.snapshot(), w.commit_seconds.snapshot(),
                           w.merge_seconds.snapshot())

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self, *, create: bool = True) -> None:
        """Lock the file for this process (StoreInUse when another has it), start the writer
        thread, switch the file to WAL and migrate the schema. ``create=False``: StoreMissing
        instead of creating a file that does not exist."""
        if self._open or self._closed:
            raise RuntimeError("SQLiteStore can be opened once")
        check_version()
        if not create and not os.path.exists(self._path):
            raise StoreMissing(f"there is no store at {os.path.abspath(self._path)}")
        self._lock.acquire()
        try:
            await self._writer.start()
        except BaseException:
            self._lock.release()
            raise
        self._open = True

    async def close(self) -> None:
        """Commit every queued write, stop the threads, close every connection."""
        if self._closed:
            return
        self._closed = True
        # Refuse new work first, so nothing is queued behind the writer's stop signal.
        self._open = False
        await self._writer.stop()
        await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        # Closed last: the last connection to go checkpoints the WAL into the database file.
        if self._writer.conn is not None:
            self._writer.conn.close()
        self._lock.release()

    async def ping(self) -> None:
        """A trivial read on a reader connection; raises RuntimeError when the store is not
        open or its writer thread has stopped (writes would never be answered)."""
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        if not self._writer.alive:
            raise RuntimeError("the SQLite writer thread has stopped")
        await self._read(lambda c: c.execute("SELECT 1").fetchone())

    # -- plumbing ----------------------------------------------------------------------------
    async def _write(self, fn: Callable[[Tx], _R], weight: int = 1) -> _R:
        """Run ``fn`` in the writer's next batch (``weight``: about how many rows it writes);
        its result once committed."""
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_R] = loop.create_future()
        self._writer.put(Op(fn, future, loop, weight))
        return await future

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_reader(self._path)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], _R]) -> _R:
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: _reading(fn, self._reader()))

    async def _take(
        self, probe: str, params: Sequence[Any], take: Callable[[Tx], _R], nothing: _R
    ) -> _R:
        """Run ``take`` on the writer only when ``probe`` (a read) finds something to take.

        Every long poll checks for work when it starts and after every wake-up, and mostly finds
        none; answering those from a reader keeps them out of the writer's queue. Skipping the
        write is safe: whatever a caller was told about is committed, so a reader sees it. The
        write itself checks again, so concurrent takers still never get the same item.
        """
        found = await self._read(lambda c: c.execute(probe, params).fetchone() is not None)
        return await self._write(take) if found else nothing

    async def _one(
        self, sql: str, params: Sequence[Any], make: Callable[[tuple[Any, ...]], _T]
    ) -> _T | None:
        def read(conn: sqlite3.Connection) -> _T | None:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else make(row)

        return await self._read(read)


def _reading(fn: Callable[[sqlite3.Connection], _R], conn: sqlite3.Connection) -> _R:
    """``fn(conn)``, with an I/O error (or the like) raised as StoreUnavailable."""
    try:
        return fn(conn)
    except sqlite3.Error as exc:
        failed = unavailable(exc)
        if failed is None:
            raise
        raise failed from exc
