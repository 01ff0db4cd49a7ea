"""Time series: save, latest values, history with aggregation, keys, deletion."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from thingport.bus import Bus
from thingport.clock import now_ms
from thingport.domain.model import Aggregation, TelemetryBatch, TsKvEntry
from thingport.errors import BadRequest, InvalidPayload
from thingport.services.channels import telemetry_channel
from thingport.services.live import publish_telemetry
from thingport.store.base import TelemetryStore

#: ThingsBoard's ts_max_intervals: the most buckets one aggregated query may ask for.
MAX_INTERVALS = 700
MIN_INTERVAL_MS = 1000
#: The latest a sample's time may be, ahead of the server's clock: a year (365 days). Devices
#: with a clock a little ahead are fine; a timestamp in seconds or microseconds, or a clock
#: decades off, is refused (on PostgreSQL each month of time series is a table of its own).
MAX_TS_AHEAD_MS = 365 * 24 * 3600 * 1000


def check_timestamps(batch: TelemetryBatch, now: int) -> None:
    """Refuse (InvalidPayload, a 400) a batch with a time before 1970 or more than
    MAX_TS_AHEAD_MS after ``now``; nothing of it is stored then."""
    latest = now + MAX_TS_AHEAD_MS
    for ts, entries in batch:
        if entries and not 0 <= ts <= latest:
            raise InvalidPayload(
                f'"ts" {ts} is out of range: a time in milliseconds since 1970-01-01 UTC, at '
                f"most one year ahead of the server's clock (now {now})"
            )


class TelemetryService:
    """Reads and writes a device's time series."""

    def __init__(self, store: TelemetryStore, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    async def save(self, device_id: UUID, batch: TelemetryBatch) -> None:
        """Store entries durably; returns once they are committed, and announces them to live
        subscribers. A time before 1970 or more than a year ahead is a BadRequest."""
        for _, entries in batch:
            if entries:
                break
        else:
            return  # nothing to store
        check_timestamps(batch, now_ms())
        await self._store.save_telemetry(device_id, batch)
        # Asked here first: while nobody watches (the usual case) no coroutine is made.
        if self._bus.may_have_subscribers(telemetry_channel(device_id)):
            await publish_telemetry(self._bus, device_id, batch)

    async def latest(self, device_id: UUID, keys: Sequence[str] | None = None) -> list[TsKvEntry]:
        """The latest value of each key (every key when ``keys`` is None)."""
        return await self._store.get_latest_telemetry(device_id, keys)

    async def keys(self, device_id: UUID) -> list[str]:
        """Every key the device has sent."""
        return await self._store.get_telemetry_keys(device_id)

    async def history(
        self,
        device_id: UUID,
        keys: Sequence[str] | None,
        start_ts: int,
        end_ts: int,
        *,
        interval: int = 0,
        aggregation: Aggregation = Aggregation.NONE,
        limit: int = 100,
        descending: bool = True,
    ) -> dict[str, list[TsKvEntry]]:
        """Values of each key in ``[start_ts, end_ts)``: raw (at most ``limit`` per key) or
        aggregated into ``interval``-ms buckets."""
        if end_ts < start_ts:
            raise BadRequest("endTs must not be before startTs")
        if limit < 1:
            raise BadRequest("limit must be a positive number")
        if aggregation is not Aggregation.NONE:
            if interval < 1:
                raise BadRequest("interval must be at least 1 ms when agg is not NONE")
            if (end_ts - start_ts) / max(interval, MIN_INTERVAL_MS) > MAX_INTERVALS:
                raise BadRequest(
                    f"Incorrect TsKvQuery. Number of intervals is to high - "
                    f"{(end_ts - start_ts) // max(interval, MIN_INTERVAL_MS)}. "
                    f"Please increase 'interval' parameter for your query or reduce the time range "
                    f"of the query."
                )
        if keys is None:
            keys = await self.keys(device_id)
        result: dict[str, list[TsKvEntry]] = {}
        for key in keys:
            if aggregation is Aggregation.NONE:
                values = await self._store.get_telemetry(
                    device_id, key, start_ts, end_ts, limit, descending
                )
            else:
                values = await self._store.aggregate_telemetry(
                    device_id, key, start_ts, end_ts, interval, aggregation
                )
                if descending:
                    values.reverse()
                values = values[:limit]
            if values:
                result[key] = values
        return result

    async def delete(
        self,
        device_id: UUID,
        keys: Sequence[str],
        start_ts: int | None = None,
        end_ts: int | None = None,
        rewrite_latest: bool = True,
    ) -> None:
        """Delete values of ``keys``, in a time range or all of them."""
        if not keys:
            raise BadRequest("Parameter 'keys' can't be empty")
        await self._store.delete_telemetry(device_id, keys, start_ts, end_ts, rewrite_latest)
