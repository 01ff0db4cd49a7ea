"""Time series on PostgreSQL: ``ts_kv`` (partitioned history) and ``ts_kv_latest``.

A save becomes finished rows on the event loop (key ids resolved, values checked) and joins
its lane's next batch, whose one bulk statement writes every sample of the batch (see
``batcher``). Reads are single statements on the pool. Aggregation follows ThingsBoard's SQL
aggregation: per bucket, separate sums, counts and extremes of ``long_v`` and ``dbl_v``,
combined here (LONG stays LONG unless the bucket has a DOUBLE).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from thingport.domain.model import LONG_MAX, Aggregation, DataType, KvEntry, TsKvEntry
from thingport.store.postgresql import uploads
from thingport.store.postgresql.batcher import TelemetryOp
from thingport.store.postgresql.core import PgCore
from thingport.store.postgresql.values import VALUE_COLUMNS, decode, encode

if TYPE_CHECKING:
    import asyncpg

#: Rows made between two yields to the event loop, for a save of very many samples.
_ROWS_PER_YIELD: Final = 20_000
_KEY_ID: Final = "(SELECT key_id FROM key_dictionary WHERE key = $2)"
_LATEST: Final = (
    f"SELECT k.key, l.ts, {', '.join('l.' + c for c in VALUE_COLUMNS.split(', '))} "
    "FROM ts_kv_latest l JOIN key_dictionary k ON k.key_id = l.key WHERE l.entity_id = $1"
)
# Bucket numbers in bigint while ts - start cannot overflow, else in numeric.
_BUCKET: Final = "(ts - $3) / $4"
_BUCKET_WIDE: Final = "div(ts::numeric - $3, $4)"


def _entry(ts: int, key: str, r: Sequence[Any], first: int) -> TsKvEntry:
    data_type, value = decode(r[first], r[first + 1], r[first + 2], r[first + 3], r[first + 4])
    return TsKvEntry(ts, key, data_type, value)


class PgTelemetry(PgCore):
    """The store contract's time series."""

    async def save_telemetry(
        self, device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]]
    ) -> None:
        """Store time-series entries (groups sharing a timestamp) and advance the latest values.
        A later write at an equal (device, key, ts) replaces the earlier; the latest value moves
        only forward in time. An unknown device raises NotFound. All or nothing: a save too
        large for a lane's batch runs in a transaction of its own (``uploads``)."""
        if self._lanes is None:
            raise RuntimeError("PostgresStore is not open")
        if len(batch) > 1 and sum(len(entries) for _, entries in batch) > uploads.SLICE_ROWS:
            await self._upload(device_id, batch)
            return
        pairs = [(ts, e) for ts, entries in batch for e in entries]
        if not pairs:
            return
        if len(pairs) > uploads.SLICE_ROWS:
            await self._upload(device_id, batch)
            return
        # Checked here, so that a bad value fails this call only, never its batch.
        encoded = [encode(e) for _, e in pairs]
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ids = self._keys
        try:
            # Every key known (the usual case): queued at once, with no await before.
            rows = [
                (ids[e.key], ts, *columns)
                for (ts, e), columns in zip(pairs, encoded, strict=True)
            ]
        except KeyError:
            async with self._queueing():
                ids = await self._key_ids(e.key for _, e in pairs)
                rows = [
                    (ids[e.key], ts, *columns)
                    for (ts, e), columns in zip(pairs, encoded, strict=True)
                ]
                if uploads.is_upload(rows):
                    await self._write_upload(device_id, rows)
                    return
                self._lanes.put(TelemetryOp(device_id, rows, future), device_id)
        else:
            if uploads.is_upload(rows):
                async with self._queueing():
                    await self._write_upload(device_id, rows)
                return
            self._lanes.put(TelemetryOp(device_id, rows, future), device_id)
        await future

    async def _upload(
        self, device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]]
    ) -> None:
        """A save of very many samples: rows made in parts, the event loop given a turn
        between them, then written as an upload."""
        async with self._queueing():
            rows: list[Any] = []
            part: list[tuple[int, KvEntry]] = []
            for ts, entries in batch:
                part.extend((ts, e) for e in entries)
                if len(part) >= _ROWS_PER_YIELD:
                    rows.extend(await self._rows(part))
                    part = []
                    await asyncio.sleep(0)
            rows.extend(await self._rows(part))
            await self._write_upload(device_id, rows)

    async def _rows(self, pairs: list[tuple[int, KvEntry]]) -> list[Any]:
        """Finished rows (key id, ts, value columns) of ``pairs``, new keys allocated."""
        ids = self._keys
        if any(e.key not in ids for _, e in pairs):
            ids = await self._key_ids({e.key for _, e in pairs})
        return [(ids[e.key], ts, *encode(e)) for ts, e in pairs]

    async def _write_upload(self, device_id: UUID, rows: list[Any]) -> None:
        """Write ``rows`` in a transaction of their own (``uploads.write``), redone after a
        deadlock or a serialization failure."""
        import asyncpg

        async with self._upload_gate:
            for attempt in range(1, uploads.RETRIES + 1):
                started = time.perf_counter()
                try:
                    await self._transaction(lambda conn: uploads.write(conn, device_id, rows))
                except asyncpg.TransactionRollbackError:
                    if attempt == uploads.RETRIES:
                        raise
                    continue
                if self._lanes is not None:
                    self._lanes.upload_seconds.observe(time.perf_counter() - started)
                return

    async def get_latest_telemetry(
        self, device_id: UUID, keys: Sequence[str] | None = None
    ) -> list[TsKvEntry]:
        """The latest value of each key (all keys when ``keys`` is None), in key order; keys
        without a value are left out."""
        if keys is not None and not keys:
            return []
        if keys is None:
            found = await self._fetch(f"{_LATEST} ORDER BY k.key COLLATE \"C\"", device_id)
        else:
            found = await self._fetch(
                f"{_LATEST} AND k.key = ANY($2::text[]) ORDER BY k.key COLLATE \"C\"",
                device_id, list(dict.fromkeys(keys)),
            )
        return [_entry(r[1], r[0], r, 2) for r in found]

    async def get_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, limit: int,
        descending: bool = True,
    ) -> list[TsKvEntry]:
        """Up to ``limit`` raw values of one key with ``start_ts <= ts < end_ts`` (ThingsBoard's
        bounds), newest first unless ``descending`` is False. A limit below 1 gives nothing."""
        if limit < 1 or end_ts <= start_ts:
            return []
        found = await self._fetch(
            f"SELECT ts, {VALUE_COLUMNS} FROM ts_kv WHERE entity_id = $1 AND key = {_KEY_ID} "
            f"AND ts >= $3 AND ts < $4 ORDER BY ts {'DESC' if descending else 'ASC'} LIMIT $5",
            device_id, key, start_ts, end_ts, limit,
        )
        return [_entry(r[0], key, r, 1) for r in found]

    async def aggregate_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, interval: int,
        aggregation: Aggregation,
    ) -> list[TsKvEntry]:
        """One entry per non-empty bucket ``[start_ts + i*interval, +interval)`` within
        ``[start_ts, end_ts)``, stamped with the bucket's midpoint (clamped to end_ts).
        MIN/MAX/AVG/SUM over numeric values (LONG stays LONG for MIN/MAX/SUM, AVG is DOUBLE;
        a bucket with any DOUBLE gives DOUBLE); COUNT counts values of every type (LONG).

        A bucket without LONG or DOUBLE values is left out of MIN/MAX/AVG/SUM; a LONG sum
        beyond 64 bits becomes a DOUBLE (as the SQLite store gives it). Aggregation.NONE or an
        interval below 1 raise ValueError.
        """
        if aggregation is Aggregation.NONE:
            raise ValueError("aggregate_telemetry needs an aggregation; use get_telemetry")
        if interval < 1:
            raise ValueError("interval must be at least 1 ms")
        if end_ts <= start_ts:
            return []
        bucket = _BUCKET if end_ts - start_ts <= LONG_MAX else _BUCKET_WIDE
        numeric = "" if aggregation is Aggregation.COUNT else (
            " AND (long_v IS NOT NULL OR dbl_v IS NOT NULL)"
        )
        found = await self._fetch(
            f"SELECT {bucket} AS bucket, count(*), min(long_v), max(long_v), sum(long_v), "
            "count(long_v), min(dbl_v), max(dbl_v), sum(dbl_v), count(dbl_v) FROM ts_kv "
            f"WHERE entity_id = $1 AND key = {_KEY_ID} AND ts >= $3 AND ts < $5{numeric} "
            "GROUP BY bucket ORDER BY bucket",
            device_id, key, start_ts, interval, end_ts,
        )
        out: list[TsKvEntry] = []
        for r in found:
            lo = start_ts + int(r[0]) * interval
            hi = min(lo + interval, end_ts)
            ts = lo + (hi - lo) // 2
            value = _combine(aggregation, r)
            if value is not None:
                out.append(TsKvEntry(ts, key, *value))
        return out

    async def get_telemetry_keys(self, device_id: UUID) -> list[str]:
        """Every time-series key the device has a latest value for, sorted."""
        found = await self._fetch(
            "SELECT k.key FROM ts_kv_latest l JOIN key_dictionary k ON k.key_id = l.key "
            'WHERE l.entity_id = $1 ORDER BY k.key COLLATE "C"',
            device_id,
        )
        return [r[0] for r in found]

    async def delete_telemetry(
        self, device_id: UUID, keys: Sequence[str], start_ts: int | None, end_ts: int | None,
        rewrite_latest: bool = True,
    ) -> None:
        """Delete values of these keys in ``[start_ts, end_ts)`` (everything when both are
        None; one None leaves that side open). The latest value of each key, when it was
        deleted, becomes the newest value left (or goes) with ``rewrite_latest``, and simply
        goes without it, as ThingsBoard's ``rewriteLatestIfDeleted`` does."""
        ids = await self._find_key_ids(keys)
        key_ids = sorted({ids[k] for k in keys if k in ids})
        if not key_ids:
            return
        bounds = ""
        if start_ts is not None:
            bounds += " AND ts >= $3"
        if end_ts is not None:
            bounds += f" AND ts < ${4 if start_ts is not None else 3}"
        extra = [b for b in (start_ts, end_ts) if b is not None]

        async def op(conn: asyncpg.Connection) -> None:
            for kid in key_ids:
                await conn.execute(
                    f"DELETE FROM ts_kv WHERE entity_id = $1 AND key = $2{bounds}",
                    device_id, kid, *extra,
                )
                # Locked, so a concurrent save cannot slip a value in between.
                hit = await conn.fetchval(
                    f"SELECT 1 FROM ts_kv_latest WHERE entity_id = $1 AND key = $2{bounds} "
                    "FOR UPDATE",
                    device_id, kid, *extra,
                )
                if hit is None:
                    continue
                newest = None
                if rewrite_latest:
                    newest = await conn.fetchrow(
                        f"SELECT ts, {VALUE_COLUMNS} FROM ts_kv WHERE entity_id = $1 "
                        "AND key = $2 ORDER BY ts DESC LIMIT 1",
                        device_id, kid,
                    )
                if newest is None:
                    await conn.execute(
                        "DELETE FROM ts_kv_latest WHERE entity_id = $1 AND key = $2",
                        device_id, kid,
                    )
                else:
                    await conn.execute(
                        "UPDATE ts_kv_latest SET ts = $3, bool_v = $4, str_v = $5, "
                        "long_v = $6, dbl_v = $7, json_v = $8 WHERE entity_id = $1 AND key = $2",
                        device_id, kid, *newest,
                    )

        await self._write(op, device_id)


def _combine(aggregation: Aggregation, r: Sequence[Any]) -> tuple[DataType, Any] | None:
    """The bucket's value from (bucket, count, min/max/sum/count of long_v, of dbl_v)."""
    count, lmin, lmax, lsum, lcount, dmin, dmax, dsum, dcount = r[1:10]
    if aggregation is Aggregation.COUNT:
        return DataType.LONG, int(count)
    if not lcount and not dcount:
        return None
    if aggregation is Aggregation.AVG:
        total = (float(lsum) if lcount else 0.0) + (dsum if dcount else 0.0)
        return DataType.DOUBLE, total / (lcount + dcount)
    if aggregation is Aggregation.SUM:
        if dcount:
            return DataType.DOUBLE, (float(lsum) if lcount else 0.0) + dsum
        exact = int(Decimal(lsum))
        if -LONG_MAX - 1 <= exact <= LONG_MAX:
            return DataType.LONG, exact
        return DataType.DOUBLE, float(exact)
    pick = min if aggregation is Aggregation.MIN else max
    longs, doubles = (lmin, lmax), (dmin, dmax)
    index = 0 if aggregation is Aggregation.MIN else 1
    if not dcount:
        return DataType.LONG, int(longs[index])
    candidates = [float(doubles[index])]
    if lcount:
        candidates.append(float(longs[index]))
    return DataType.DOUBLE, pick(candidates)
