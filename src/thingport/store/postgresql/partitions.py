"""Time partitions of ``ts_kv``: created ahead of time, dropped whole for retention.

``ts_kv`` is partitioned by range of ``ts`` (ms since the epoch, UTC periods), as ThingsBoard
does it (``SQL_POSTGRES_TS_KV_PARTITIONING``: DAYS, MONTHS (default), YEARS or INDEFINITE) and
named as ThingsBoard names them (``ts_kv_2026_12``, ``ts_kv_2026_12_01``, ``ts_kv_2026``). The
default partition (``ts_kv_indefinite``) takes whatever no period partition covers.

Unlike ThingsBoard, which creates a period's partition on the write path when a sample first
needs it, partitions are made ahead (the previous period, the current one and the next few) at
open and by ``PostgresStore.maintain``, under an advisory lock so that one node does it at a
time. A write never waits for DDL, and a device timestamp decades away cannot create a
partition: it lands in the default partition.

A partition is built beside ``ts_kv`` and then attached, not created with ``PARTITION OF``:
creating takes an ACCESS EXCLUSIVE lock on ``ts_kv`` (every write and read waits), attaching
only a SHARE UPDATE EXCLUSIVE one. Rows of the period already in the default partition (which
would make the attach fail) are moved into the new table first, in the same transaction. A
CHECK constraint with the bounds spares the attach a scan of the new table. Each DDL
transaction has a lock timeout: when traffic holds a lock longer, it gives up and the next run
tries again.

Retention (``THINGPORT_TS_TTL_DAYS``) drops each partition whose whole range is older than the
cutoff, as ThingsBoard's ``drop_partitions_by_system_ttl`` does, and deletes the default
partition's too-old rows in bounded batches; ``ts_kv_latest`` keeps every key's latest value.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from thingport.errors import ConfigError

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "GRANULARITIES",
    "Maintenance",
    "Period",
    "drop_expired",
    "ensure_partitions",
    "periods_around",
]

log = logging.getLogger(__name__)

#: ThingsBoard's ``SQL_POSTGRES_TS_KV_PARTITIONING`` values.
GRANULARITIES: Final = ("DAYS", "MONTHS", "YEARS", "INDEFINITE")
#: How many periods after the current one are created ahead.
AHEAD: Final = {"DAYS": 7, "MONTHS": 2, "YEARS": 1}
#: A DDL transaction gives up after waiting this long for a lock (the next run tries again).
LOCK_TIMEOUT: Final = "5s"
#: The default partition's expired rows are deleted this many at a time.
DELETE_BATCH: Final = 10_000

_BOUNDS: Final = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True, slots=True)
class Period:
    """One partition's range ``[start, end)`` in ms, and its name."""

    name: str
    start: int
    end: int


@dataclass(slots=True)
class Maintenance:
    """What one maintenance run did."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted_rows: int = 0


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _period_of(granularity: str, moment: datetime) -> tuple[datetime, datetime, str]:
    if granularity == "DAYS":
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        end = datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)
        return start, end, f"ts_kv_{start:%Y_%m_%d}"
    if granularity == "MONTHS":
        start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start, datetime(year, month, 1, tzinfo=UTC), f"ts_kv_{start:%Y_%m}"
    if granularity == "YEARS":
        start = datetime(moment.year, 1, 1, tzinfo=UTC)
        return start, datetime(moment.year + 1, 1, 1, tzinfo=UTC), f"ts_kv_{start:%Y}"
    raise ConfigError(
        f"SQL_POSTGRES_TS_KV_PARTITIONING: expected one of {', '.join(GRANULARITIES)}, "
        f"got {granularity!r}"
    )


def periods_around(granularity: str, now_ms: int) -> list[Period]:
    """The previous, current and next ``AHEAD`` periods around ``now_ms``; none for
    INDEFINITE (everything stays in the default partition)."""
    if granularity == "INDEFINITE":
        return []
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    start, _, _ = _period_of(granularity, now)
    # The period before: a moment just before the current one started.
    moment = datetime.fromtimestamp((_ms(start) - 1) / 1000, UTC)
    found: list[Period] = []
    for _ in range(AHEAD[granularity] + 2):
        first, end, name = _period_of(granularity, moment)
        found.append(Period(name, _ms(first), _ms(end)))
        moment = end
    return found


async def _partitions(
    conn: asyncpg.Connection,
) -> tuple[list[tuple[str, int, int]], str | None]:
    """ts_kv's range partitions (name, start, end) and its default partition's name."""
    rows = await conn.fetch(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ts_kv'::regclass"
    )
    ranges: list[tuple[str, int, int]] = []
    default: str | None = None
    for name, bound in rows:
        if bound == "DEFAULT":
            default = name
            continue
        match = _BOUNDS.search(bound or "")
        if match:  # MINVALUE/MAXVALUE bounds (made by hand) are left alone
            ranges.append((name, int(match.group(1)), int(match.group(2))))
    return ranges, default


async def ensure_partitions(
    conn: asyncpg.Connection, granularity: str, now_ms: int
) -> list[str]:
    """Create the missing partitions around ``now_ms``; returns their names. A period that
    overlaps an existing partition (made with another granularity, say) is left out. The
    caller holds the maintenance lock; ``conn`` is outside any transaction."""
    ranges, default = await _partitions(conn)
    created: list[str] = []
    for period in periods_around(granularity, now_ms):
        if any(start < period.end and period.start < end for _, start, end in ranges):
            continue
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await _create(conn, period, default)
        except Exception:
            log.exception("creating partition %s failed; the next run tries again",
                          period.name)
            continue
        ranges.append((period.name, period.start, period.end))
        created.append(period.name)
    return created


async def _create(conn: asyncpg.Connection, period: Period, default: str | None) -> None:
    # Names come from _period_of and the catalog, bounds are ints: no user text in the DDL.
    name, start, end = period.name, period.start, period.end
    await conn.execute(
        f"CREATE TABLE {name} (LIKE ts_kv INCLUDING ALL);"
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds CHECK (ts >= {start} AND ts < {end})"
    )
    if default is not None:
        # Without this, a sample of the period already in the default partition would make
        # the ATTACH fail.
        await conn.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE ts >= {start} AND ts < {end} "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        )
    await conn.execute(
        f"ALTER TABLE ts_kv ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"
    )


async def drop_expired(conn: asyncpg.Connection, cutoff_ms: int) -> tuple[list[str], int]:
    """Drop every partition whose whole range is before ``cutoff_ms`` and delete the default
    partition's rows older than it; returns the dropped names and the deleted row count."""
    ranges, default = await _partitions(conn)
    dropped: list[str] = []
    for name, _, end in sorted(ranges, key=lambda r: r[1]):
        if end > cutoff_ms:
            continue
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await conn.execute(f"ALTER TABLE ts_kv DETACH PARTITION {name}")
                await conn.execute(f"DROP TABLE {name}")
        except Exception:
            log.exception("dropping partition %s failed; the next run tries again", name)
            continue
        dropped.append(name)
    deleted = 0
    if default is not None:
        # Bounded batches, each its own transaction: no long lock, no huge WAL burst.
        while True:
            status = await conn.execute(
                f"DELETE FROM {default} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {default} WHERE ts < $1 LIMIT {DELETE_BATCH}))",
                cutoff_ms,
            )
            count = int(status.split()[-1])
            deleted += count
            if count < DELETE_BATCH:
                break
    return dropped, deleted
