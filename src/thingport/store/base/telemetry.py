"""The time-series part of the store contract: history, latest values, aggregation.

The rules of ``thingport.store.base`` hold for every method.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from uuid import UUID

from thingport.domain.model import (
    Aggregation,
    KvEntry,
    TsKvEntry,
)


class TelemetryStore(abc.ABC):
    """Time series of devices: every sample, and the latest value of each key."""

    # -- time series -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def save_telemetry(
        self, device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]]
    ) -> None:
        """Store time-series entries (groups sharing a timestamp) and advance the latest values.
        A later write at an equal (device, key, ts) replaces the earlier; the latest value moves
        only forward in time."""

    @abc.abstractmethod
    async def get_latest_telemetry(
        self, device_id: UUID, keys: Sequence[str] | None = None
    ) -> list[TsKvEntry]:
        """The latest value of each key (all keys when ``keys`` is None), in key order."""

    @abc.abstractmethod
    async def get_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, limit: int,
        descending: bool = True,
    ) -> list[TsKvEntry]:
        """Up to ``limit`` raw values of one key with ``start_ts <= ts < end_ts`` (ThingsBoard's
        bounds), newest first unless ``descending`` is False."""

    @abc.abstractmethod
    async def aggregate_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, interval: int,
        aggregation: Aggregation,
    ) -> list[TsKvEntry]:
        """One entry per non-empty bucket ``[start_ts + i*interval, +interval)`` within
        ``[start_ts, end_ts)``, stamped with the bucket's midpoint (clamped to end_ts).
        MIN/MAX/AVG/SUM over numeric values (LONG stays LONG for MIN/MAX/SUM, AVG is DOUBLE;
        a bucket with any DOUBLE gives DOUBLE); COUNT counts values of every type (LONG)."""

    @abc.abstractmethod
    async def get_telemetry_keys(self, device_id: UUID) -> list[str]:
        """Every time-series key the device has a latest value for, sorted."""

    @abc.abstractmethod
    async def delete_telemetry(
        self, device_id: UUID, keys: Sequence[str], start_ts: int | None, end_ts: int | None,
        rewrite_latest: bool = True,
    ) -> None:
        """Delete values of these keys in ``[start_ts, end_ts)`` (everything when both are
        None). The latest value of each key becomes the newest value left, or goes."""
