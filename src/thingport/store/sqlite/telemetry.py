"""Time series in SQLite: samples through the writer's fast lane, reads, aggregation, deletion.

``save_telemetry`` builds finished rows on the event loop from the ids the writer published
(``tx.py``) and queues one ``TelemetryOp``; the writer appends them to the sample log and
upserts ``ts_kv_latest`` (``sample_log.py``). Reads of history merge the log first.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from thingport.domain.model import Aggregation, DataType, KvEntry, TsKvEntry
from thingport.errors import NotFound, StoreUnavailable
from thingport.store.base import TelemetryStore
from thingport.store.shared.values import CODE_DOUBLE, CODE_LONG, CODE_TYPE, TYPE_CODE, decode
from thingport.store.sqlite import history, large_values, uploads
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
        # The rows are built here, on the event loop, while the writer thread (the bottleneck)
        # is busy with the previous commit; it then only has to concatenate them.
        seq = self._device_seqs.get(device_id)
        keys = self._key_ids
        if len(batch) == 1 and len(batch[0][1]) <= _ROWS_PER_YIELD:  # the usual request
            rows = _rows_now(batch, seq, keys)
            if rows is None:  # a key never committed before: the writer will add it
                seq = None
                rows = _rows_now(batch, None, keys)
        else:
            rows = await _rows(batch, seq, keys)
            if rows is None:
                seq = None
                rows = await _rows(batch, None, keys)
        assert rows is not None
        if not rows:
            return
        large = large_values.mark_large(rows, 2 if seq is None else 3)
        upload = len(rows) > uploads.SLICE_ROWS or bool(
            large and sum(size for _, size in large) > uploads.SLICE_BYTES)
        newest = newest_rows(rows) if seq is not None and not upload else None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._writer.put(TelemetryOp(device_id, seq, rows, newest, future, loop, large, upload))
        await future

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

        A bucket without LONG or DOUBLE values is left out of MIN/MAX/AVG/SUM. The midpoint is
        that of the bucket clamped to ``end_ts``, as ThingsBoard computes it. Aggregation.NONE
        or an interval below 1 raise ValueError.
        """
        if aggregation is Aggregation.NONE:
            raise ValueError("aggregate_telemetry needs an aggregation; use get_telemetry")
        if interval < 1:
            raise ValueError("interval must be at least 1 ms")
        if end_ts <= start_ts:
            return []
        function = {
            Aggregation.MIN: "min(v)", Aggregation.MAX: "max(v)", Aggregation.AVG: "avg(v)",
            Aggregation.SUM: "sum(v)", Aggregation.COUNT: "count(*)",
        }[aggregation]
        numeric = (
            "" if aggregation is Aggregation.COUNT
            else f" AND type IN ({CODE_LONG}, {CODE_DOUBLE})"
        )
        # Out-of-line values are text: their flagged codes are never numeric, and COUNT
        # counts them all the same, so the merged case reads ts_kv itself.
        source = (f"ts_kv t WHERE {history.in_range('t')}" if await self._merged()
                  else f"{history.PENDING} WHERE 1")
        sql = (
            f"SELECT (ts - ?1) / ?2 AS bucket, {function}, sum(type = {CODE_DOUBLE}) "
            f"FROM {source}{numeric} GROUP BY bucket ORDER BY bucket"
        )
        params = (start_ts, interval, str(device_id), key, end_ts)

        def read(conn: sqlite3.Connection) -> list[TsKvEntry]:
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "integer overflow" not in str(exc):
                    raise
                # A LONG sum beyond 64 bits: total() sums in floating point instead.
                rows = conn.execute(sql.replace("sum(v)", "total(v)"), params).fetchall()
            out = []
            for bucket, value, doubles in rows:
                lo = start_ts + bucket * interval
                hi = min(lo + interval, end_ts)
                ts = lo + (hi - lo) // 2
                if aggregation is Aggregation.COUNT:
                    out.append(TsKvEntry(ts, key, DataType.LONG, int(value)))
                elif aggregation is Aggregation.AVG or doubles or isinstance(value, float):
                    out.append(TsKvEntry(ts, key, DataType.DOUBLE, float(value)))
                else:
                    out.append(TsKvEntry(ts, key, DataType.LONG, int(value)))
            return out

        return await self._read(read)

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
                    budget -= gone
                    if budget <= 0:
                        break  # this pair may hold more: start the next transaction with it
                    done += 1
                return batch - budget, done

            removed, finished = await self._write(op)
            deleted += removed
            pairs = pairs[finished:]
        return deleted


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
    A batch with very many samples gives the event loop a turn now and then."""
    codes, double = TYPE_CODE, DataType.DOUBLE
    rows: list[Any] = []
    since_yield = 0
    for ts, entries in batch:
        if seq is not None:
            try:
                rows.extend((seq, key_ids[e.key], ts, codes[e.type],
                             float(e.value) if e.type is double else e.value) for e in entries)
            except KeyError:
                return None
        else:
            rows.extend((e.key, ts, codes[e.type], float(e.value) if e.type is double else e.value)
                        for e in entries)
        since_yield += len(entries)
        if since_yield >= _ROWS_PER_YIELD:
            since_yield = 0
            await asyncio.sleep(0)
    return rows
