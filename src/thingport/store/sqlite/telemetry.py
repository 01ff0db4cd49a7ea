"""Time series in SQLite: samples through the writer's fast lane, reads, aggregation, deletion.

``save_telemetry`` builds finished rows on the event loop from the ids the writer published
(``tx.py``) and queues one ``TelemetryOp``; the writer appends them to the sample log and
upserts ``ts_kv_latest`` (``sample_log.py``). Reads of history merge the log first.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any, Final, cast
from uuid import UUID

from thingport.domain.model import Aggregation, DataType, KvEntry, TsKvEntry
from thingport.errors import NotFound, StoreUnavailable
from thingport.store.base import TelemetryStore
from thingport.store.shared.values import CODE_TYPE, TYPE_CODE, decode
from thingport.store.sqlite import history, large_values, rollups, uploads
from thingport.store.sqlite.aggregation import aggregate
from thingport.store.sqlite.core import SQLiteCore
from thingport.store.sqlite.sample_log import newest_rows
from thingport.store.sqlite.tx import DEVICE_SEQ, Tx
from thingport.store.sqlite.writer import TelemetryOp

#: Rows built between two yields to the event loop, for a call with very many samples.
_ROWS_PER_YIELD: Final = 20_000


class SQLiteTelemetry(SQLiteCore, TelemetryStore):
    """The store contract's time-series part, for ``SQLiteStore``."""

    # -- plumbing ----------------------------------------------------------------------------
    async def _merge_log(self) -> None:
        """Merge the released upload and the sample log into ts_kv, so that a read of ts_kv
        sees every acknowledged sample: one writer round trip per bounded chunk, other writes
        in between; it writes nothing when there is nothing to merge."""
        while await self._write(lambda tx: tx.merge_step()):
            pass

    async def _merged(self) -> bool:
        """``_merge_log``; False when the store cannot write now (a full disk): the caller
        then reads the unmerged rows too (``pending_history``)."""
        try:
            await self._merge_log()
        except StoreUnavailable:
            return False
        return True

    # -- time series -------------------------------------------------------------------------
    async def save_telemetry(
        self, device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]]
    ) -> None:
        """Store time-series entries (groups sharing a timestamp) and advance the latest values.
        A later write at an equal (device, key, ts) replaces the earlier; the latest value moves
        only forward in time. An unknown device raises NotFound. All or nothing: a call with
        more samples than a transaction should hold is written in slices (``uploads.py``) and
        becomes visible at once."""
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        if len(batch) == 1 and len(batch[0][1]) <= _ROWS_PER_YIELD:  # no coroutine for it
            op = _op_now(device_id, batch, self._device_seqs, self._key_ids)
        else:
            op = await telemetry_op(device_id, batch, self._device_seqs, self._key_ids)
        if op is not None:
            self._writer.put(op)
            await op.future

    def queue_rows(self, device_id: UUID, rows: list[Any]) -> asyncio.Future[None]:
        """``save_telemetry`` of ``plain_rows`` sent by a worker process (``store/remote.py``):
        queued at once, without a task; the future is done once they are committed."""
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        op = op_for_rows(device_id, rows, self._device_seqs, self._key_ids)
        self._writer.put(op)
        return op.future

    async def get_latest_telemetry(
        self, device_id: UUID, keys: Sequence[str] | None = None
    ) -> list[TsKvEntry]:
        """The latest value of each key (all keys when ``keys`` is None), in key order; keys
        without a value are left out."""
        if keys is not None and not keys:
            return []
        sql = (
            f"SELECT k.key, l.ts, {large_values.type_sql('l')}, {large_values.value_sql('l')} "
            "FROM ts_kv_latest l "
            f"JOIN key_dictionary k ON k.key_id = l.key WHERE l.device = {DEVICE_SEQ}"
        )
        params: list[Any] = [str(device_id)]
        if keys is not None:
            wanted = list(dict.fromkeys(keys))
            sql += f" AND k.key IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY k.key"

        def read(conn: sqlite3.Connection) -> list[TsKvEntry]:
            return [
                TsKvEntry(ts, key, CODE_TYPE[code], decode(code, v))
                for key, ts, code, v in conn.execute(sql, params)
            ]

        return await self._read(read)

    async def get_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, limit: int,
        descending: bool = True,
    ) -> list[TsKvEntry]:
        """Up to ``limit`` raw values of one key with ``start_ts <= ts < end_ts`` (ThingsBoard's
        bounds), newest first unless ``descending`` is False. A limit below 1 gives nothing."""
        if limit < 1 or end_ts <= start_ts:
            return []
        merged = await self._merged()
        sql = (
            f"SELECT ts, type, v FROM {history.source(not merged)} "
            f"ORDER BY ts {'DESC' if descending else 'ASC'} LIMIT ?6"
        )
        params = (start_ts, None, str(device_id), key, end_ts, limit)

        def read(conn: sqlite3.Connection) -> list[TsKvEntry]:
            return [
                TsKvEntry(ts, key, CODE_TYPE[code], decode(code, v))
                for ts, code, v in conn.execute(sql, params)
            ]

        return await self._read(read)

    async def aggregate_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, interval: int,
        aggregation: Aggregation,
    ) -> list[TsKvEntry]:
        """One entry per non-empty bucket ``[start_ts + i*interval, +interval)`` within
        ``[start_ts, end_ts)``, stamped with the bucket's midpoint (clamped to end_ts).
        MIN/MAX/AVG/SUM over numeric values (LONG stays LONG for MIN/MAX/SUM, AVG is DOUBLE;
        a bucket with any DOUBLE gives DOUBLE); COUNT counts values of every type (LONG).

        A bucket without LONG or DOUBLE values is left out of MIN/MAX/AVG/SUM; a LONG sum
        beyond 64 bits becomes a DOUBLE. The midpoint is that of the bucket clamped to
        ``end_ts``, as ThingsBoard computes it. Whole minutes come from the rollups
        (``aggregation.py``). Aggregation.NONE or an interval below 1 raise ValueError.
        """
        if aggregation is Aggregation.NONE:
            raise ValueError("aggregate_telemetry needs an aggregation; use get_telemetry")
        if interval < 1:
            raise ValueError("interval must be at least 1 ms")
        if end_ts <= start_ts:
            return []
        pending = not await self._merged()
        return await self._read(lambda conn: aggregate(
            conn, str(device_id), key, start_ts, end_ts, interval, aggregation, pending))

    async def get_telemetry_keys(self, device_id: UUID) -> list[str]:
        """Every time-series key the device has a latest value for, sorted."""
        sql = (
            "SELECT k.key FROM ts_kv_latest l JOIN key_dictionary k ON k.key_id = l.key "
            f"WHERE l.device = {DEVICE_SEQ} ORDER BY k.key"
        )
        return await self._read(
            lambda c: [r[0] for r in c.execute(sql, (str(device_id),))]
        )

    async def delete_telemetry(
        self, device_id: UUID, keys: Sequence[str], start_ts: int | None, end_ts: int | None,
        rewrite_latest: bool = True,
    ) -> None:
        """Delete values of these keys in ``[start_ts, end_ts)`` (everything when both are
        None; one None leaves that side open). The latest value of each key, when it was
        deleted, becomes the newest value left (or goes) with ``rewrite_latest``, and simply
        goes without it, as ThingsBoard's ``rewriteLatestIfDeleted`` does."""
        bounds, bound_params = "", []
        if start_ts is not None:
            bounds += " AND ts >= ?"
            bound_params.append(start_ts)
        if end_ts is not None:
            bounds += " AND ts < ?"
            bound_params.append(end_ts)

        def op(tx: Tx) -> None:
            try:
                seq = tx.device_seq(device_id)
            except NotFound:
                return
            tx.merge_log()
            conn = tx.conn
            for key in dict.fromkeys(keys):
                kid = tx.find_key_id(key)
                if kid is None:
                    continue
                conn.execute(
                    f"DELETE FROM ts_kv WHERE device = ? AND key = ?{bounds}",
                    (seq, kid, *bound_params),
                )
                rollups.after_delete(conn, seq, kid, start_ts, end_ts)
                latest_deleted = conn.execute(
                    f"SELECT type, v FROM ts_kv_latest WHERE device = ? AND key = ?{bounds}",
                    (seq, kid, *bound_params),
                ).fetchone()
                if latest_deleted is None:
                    continue
                newest = None
                if rewrite_latest:
                    newest = conn.execute(
                        "SELECT ts, type, v FROM ts_kv WHERE device = ? AND key = ? "
                        "ORDER BY ts DESC LIMIT 1",
                        (seq, kid),
                    ).fetchone()
                if newest is None:
                    conn.execute(
                        "DELETE FROM ts_kv_latest WHERE device = ? AND key = ?", (seq, kid)
                    )
                else:
                    code, v = large_values.copy(conn, newest[1], newest[2])
                    conn.execute(
                        "UPDATE ts_kv_latest SET ts = ?, type = ?, v = ? "
                        "WHERE device = ? AND key = ?", (newest[0], code, v, seq, kid))
                    if code & large_values.OUT_OF_LINE:
                        tx.latest_refs.add((seq, kid))
                    # ts_kv_latest has no update trigger (see upsert_latest): free it here.
                    if latest_deleted[0] & large_values.OUT_OF_LINE:
                        conn.execute("DELETE FROM kv_blob WHERE id = ?", (latest_deleted[1],))

        # In bounded steps first: the op's own merge then finds little or nothing left.
        await self._merge_log()
        await self._write(op)

    async def delete_telemetry_before(self, cutoff_ts: int, batch: int = 10_000) -> int:
        """Delete every time-series point older than ``cutoff_ts`` (latest values stay), in
        transactions of at most ``batch`` rows, so that other writes never wait long behind
        retention. Returns how many points went."""
        await self._merge_log()
        pairs: list[tuple[int, int]] = await self._read(
            lambda conn: conn.execute("SELECT device, key FROM ts_kv_latest").fetchall())
        deleted = 0
        while pairs:
            def op(tx: Tx, pending: list[tuple[int, int]] = pairs) -> tuple[int, int]:
                tx.merge_log()
                budget, done = batch, 0
                for device, key in pending:
                    gone = tx.conn.execute(
                        "DELETE FROM ts_kv WHERE device = ? AND key = ? AND ts IN (SELECT ts "
                        "FROM ts_kv WHERE device = ? AND key = ? AND ts < ? ORDER BY ts LIMIT ?)",
                        (device, key, device, key, cutoff_ts, budget)).rowcount
                    if gone:
                        rollups.after_trim(tx.conn, device, key)
                    budget -= gone
                    if budget <= 0:
                        break  # this pair may hold more: start the next transaction with it
                    done += 1
                return batch - budget, done

            removed, finished = await self._write(op)
            deleted += removed
            pairs = pairs[finished:]
        return deleted


async def telemetry_op(
    device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]],
    device_seqs: dict[UUID, int], key_ids: dict[str, int],
) -> TelemetryOp | None:
    """The writer's operation for a ``save_telemetry`` (None: nothing to write), its rows
    built from the ids the writer published."""
    # The rows are built here, on the event loop, while the writer thread (the bottleneck)
    # is busy with the previous commit; it then only has to concatenate them.
    if len(batch) == 1 and len(batch[0][1]) <= _ROWS_PER_YIELD:  # the usual request
        return _op_now(device_id, batch, device_seqs, key_ids)
    seq = device_seqs.get(device_id)
    rows = await _rows(batch, seq, key_ids)
    if rows is None:
        seq = None
        rows = await _rows(batch, None, key_ids)
    assert rows is not None
    return _op(device_id, seq, rows, batch) if rows else None


def _op_now(
    device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]],
    device_seqs: dict[UUID, int], key_ids: dict[str, int],
) -> TelemetryOp | None:
    """``telemetry_op`` of a batch of few samples, in one go."""
    seq = device_seqs.get(device_id)
    rows = _rows_now(batch, seq, key_ids)
    if rows is None:  # a key never committed before: the writer will add it
        seq = None
        rows = _rows_now(batch, None, key_ids)
    assert rows is not None
    return _op(device_id, seq, rows, batch) if rows else None


def op_for_rows(
    device_id: UUID, rows: list[Any], device_seqs: dict[UUID, int], key_ids: dict[str, int],
) -> TelemetryOp:
    """The writer's operation for ``plain_rows`` of a ``save_telemetry`` made elsewhere (a
    worker process), resolved with the published ids where they are all known."""
    seq = device_seqs.get(device_id)
    if seq is not None:
        try:
            rows = [(seq, key_ids[key], ts, code, value) for key, ts, code, value in rows]
        except KeyError:  # a key never committed before: the writer will add it
            seq = None
    return _op(device_id, seq, rows)


async def plain_rows(batch: Sequence[tuple[int, Sequence[KvEntry]]]) -> list[Any]:
    """``batch`` as the writer's unresolved (key, ts, type code, value) rows: plain tuples,
    cheap to send to the primary process."""
    if len(batch) == 1 and len(batch[0][1]) <= _ROWS_PER_YIELD:
        return cast(list[Any], _rows_now(batch, None, {}))
    return cast(list[Any], await _rows(batch, None, {}))


def _op(device_id: UUID, seq: int | None, rows: list[Any],
        batch: Sequence[tuple[int, Sequence[KvEntry]]] | None = None) -> TelemetryOp:
    """The operation for ``rows`` (resolved when ``seq`` is known); ``batch``, when given,
    is what they were made of, in order (it tells when the newest rows are quick to find)."""
    large = large_values.mark_large(rows, 2 if seq is None else 3)
    upload = len(rows) > uploads.SLICE_ROWS or bool(
        large and sum(size for _, size in large) > uploads.SLICE_BYTES)
    newest = _newest(rows, batch) if seq is not None and not upload else None
    loop = asyncio.get_running_loop()
    return TelemetryOp(device_id, seq, rows, newest, loop.create_future(), loop, large, upload)


def _newest(rows: list[Any], batch: Sequence[tuple[int, Sequence[KvEntry]]] | None
            ) -> list[Any]:
    """``newest_rows(rows)`` of one device's resolved rows. When the batch's timestamps never
    go back (one group, or groups in time order), a key's last row is its newest: a dict
    comprehension finds them, in the same order, and the rows themselves are the answer when
    no key repeats (the usual request)."""
    if len(rows) == 1:
        return rows
    if batch is not None and (len(batch) == 1 or _in_time_order(batch)):
        last = {row[1]: row for row in rows}
        return rows if len(last) == len(rows) else list(last.values())
    return newest_rows(rows)


def _in_time_order(batch: Sequence[tuple[int, Sequence[KvEntry]]]) -> bool:
    stamps = [ts for ts, _ in batch]
    return stamps == sorted(stamps)


def _rows_now(
    batch: Sequence[tuple[int, Sequence[KvEntry]]], seq: int | None, key_ids: dict[str, int]
) -> list[Any] | None:
    """``_rows`` in one go, for a batch of few samples (the usual request)."""
    codes, double = TYPE_CODE, DataType.DOUBLE
    if seq is None:
        return [(e.key, ts, codes[e.type], float(e.value) if e.type is double else e.value)
                for ts, entries in batch for e in entries]
    try:
        return [(seq, key_ids[e.key], ts, codes[e.type],
                 float(e.value) if e.type is double else e.value)
                for ts, entries in batch for e in entries]
    except KeyError:
        return None


async def _rows(
    batch: Sequence[tuple[int, Sequence[KvEntry]]], seq: int | None, key_ids: dict[str, int]
) -> list[Any] | None:
    """The writer's rows for ``batch``: finished (device seq, key id, ts, code, value) rows
    when ``seq`` is known, else (key, ts, code, value); None when a key has no published id.
    A batch with very many samples gives the event loop a turn now and then: its groups are
    taken ``_ROWS_PER_YIELD`` samples or so at a time, each run of them in one go."""
    rows: list[Any] = []
    start, count = 0, len(batch)
    while start < count:
        end, samples = start, 0
        while end < count and samples < _ROWS_PER_YIELD:
            samples += len(batch[end][1])
            end += 1
        part = _rows_now(batch if start == 0 and end == count else batch[start:end], seq,
                         key_ids)
        if part is None:
            return None
        rows += part
        start = end
        if start < count:
            await asyncio.sleep(0)
    return rows
