"""The one statement of a batch's bulk operations (samples, attribute saves), and the
operations themselves.

``BULK_SQL`` writes every sample and attribute of a batch: the device check (FOR KEY SHARE),
the ts_kv and ts_kv_latest upserts, the attribute_kv and attribute_change upserts, each with
its rows sorted by primary key (the order they are locked in; see ``batcher``). ``bulk_args``
makes its parameters from the operations, deduplicated (a later write at an equal key wins).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from thingport.store.postgresql.values import VALUE_COLUMNS

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "BULK_SQL", "AttributesOp", "Bulk", "Op", "TelemetryOp", "WriteOp", "bulk_args", "columns",
]


class WriteOp:
    """A write run in the batch's transaction: ``fn(conn)``, in a savepoint of its own when
    it shares the transaction."""

    __slots__ = ("fn", "future")

    def __init__(
        self, fn: Callable[[asyncpg.Connection], Awaitable[Any]], future: asyncio.Future[Any]
    ) -> None:
        self.fn = fn
        self.future = future


class TelemetryOp:
    """A save_telemetry: finished rows of one device, written by the batch's bulk statement."""

    __slots__ = ("device_id", "future", "rows")

    def __init__(self, device_id: UUID, rows: list[Any], future: asyncio.Future[Any]) -> None:
        self.device_id = device_id
        self.rows = rows
        self.future = future


class AttributesOp:
    """A save_attributes(_tracked): rows of one device and scope, stamped ``ts``; with
    ``track``, each key is also recorded as changed for the device's next poll."""

    __slots__ = ("device_id", "future", "rows", "scope", "track", "ts")

    def __init__(
        self, device_id: UUID, scope: int, rows: list[Any], ts: int, track: bool,
        future: asyncio.Future[Any],
    ) -> None:
        self.device_id = device_id
        self.scope = scope
        self.rows = rows
        self.ts = ts
        self.track = track
        self.future = future


Op = WriteOp | TelemetryOp | AttributesOp
Bulk = TelemetryOp | AttributesOp


_UPDATE_VALUES: Final = ", ".join(f"{c} = excluded.{c}" for c in VALUE_COLUMNS.split(", "))
_VALUE_TYPES: Final = "boolean[], text[], bigint[], float8[], json[]"


def _unnest(first: int, types: str) -> str:
    """``unnest($first::t1, $first+1::t2, ...)`` for the comma-separated array types."""
    args = [f"${n}::{t.strip()}" for n, t in enumerate(types.split(","), first)]
    return f"unnest({', '.join(args)})"


# One statement for every bulk operation of a batch (empty arrays cost nothing). Each INSERT's
# SELECT has an ORDER BY on the primary key: that is the order its rows are locked in.
BULK_SQL: Final = f"""
WITH dev AS MATERIALIZED (
    SELECT id FROM device WHERE id = ANY($1::uuid[]) ORDER BY id FOR KEY SHARE
), ts AS (
    INSERT INTO ts_kv (entity_id, key, ts, {VALUE_COLUMNS})
    SELECT u.* FROM {_unnest(2, "uuid[], int[], bigint[], " + _VALUE_TYPES)}
        AS u (entity_id, key, ts, {VALUE_COLUMNS})
    WHERE u.entity_id IN (SELECT id FROM dev) ORDER BY u.entity_id, u.key, u.ts
    ON CONFLICT (entity_id, key, ts) DO UPDATE SET {_UPDATE_VALUES}
), latest AS (
    INSERT INTO ts_kv_latest AS l (entity_id, key, ts, {VALUE_COLUMNS})
    SELECT u.* FROM {_unnest(10, "uuid[], int[], bigint[], " + _VALUE_TYPES)}
        AS u (entity_id, key, ts, {VALUE_COLUMNS})
    WHERE u.entity_id IN (SELECT id FROM dev) ORDER BY u.entity_id, u.key
    ON CONFLICT (entity_id, key) DO UPDATE SET ts = excluded.ts, {_UPDATE_VALUES}
    WHERE excluded.ts >= l.ts
), attrs AS (
    INSERT INTO attribute_kv (entity_id, attribute_type, attribute_key, {VALUE_COLUMNS},
        last_update_ts)
    SELECT u.* FROM {_unnest(18, "uuid[], int[], int[], " + _VALUE_TYPES + ", bigint[]")}
        AS u (entity_id, attribute_type, attribute_key, {VALUE_COLUMNS}, last_update_ts)
    WHERE u.entity_id IN (SELECT id FROM dev)
    ORDER BY u.entity_id, u.attribute_type, u.attribute_key
    ON CONFLICT (entity_id, attribute_type, attribute_key) DO UPDATE
    SET {_UPDATE_VALUES}, last_update_ts = excluded.last_update_ts
), changes AS (
    INSERT INTO attribute_change (entity_id, attribute_key, deleted, ts)
    SELECT u.entity_id, u.attribute_key, false, u.ts
    FROM {_unnest(27, "uuid[], int[], bigint[]")} AS u (entity_id, attribute_key, ts)
    WHERE u.entity_id IN (SELECT id FROM dev) ORDER BY u.entity_id, u.attribute_key
    ON CONFLICT (entity_id, attribute_key) DO UPDATE SET deleted = false, ts = excluded.ts
)
SELECT id FROM dev
"""


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows -> one list per column (the arrays the unnest statement takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def bulk_args(ops: Sequence[Bulk]) -> list[Any]:
    """The parameters of BULK_SQL for these operations, deduplicated and sorted."""
    # Keyed by the UUID's int: it sorts as PostgreSQL sorts uuids (bytewise), and an int
    # compares in C where a UUID compares in Python.
    devices: dict[int, UUID] = {}
    # Later operations (queue order) overwrite earlier ones at an equal key.
    history: dict[tuple[int, int, int], tuple[Any, ...]] = {}
    newest: dict[tuple[int, int], tuple[Any, ...]] = {}
    attributes: dict[tuple[int, int, int], tuple[Any, ...]] = {}
    changes: dict[tuple[int, int], tuple[Any, ...]] = {}
    for op in ops:
        device = op.device_id
        number = device.int
        devices[number] = device
        if type(op) is TelemetryOp:
            for row in op.rows:
                key, ts = row[0], row[1]
                full = (device, *row)
                history[(number, key, ts)] = full
                current = newest.get((number, key))
                if current is None or ts >= current[2]:
                    newest[(number, key)] = full
        else:
            assert isinstance(op, AttributesOp)
            scope, stamp = op.scope, op.ts
            for row in op.rows:
                attributes[(number, scope, row[0])] = (device, scope, *row, stamp)
                if op.track:
                    changes[(number, row[0])] = (device, row[0], stamp)
    return [
        [devices[k] for k in sorted(devices)],
        *columns([history[k] for k in sorted(history)], 8),
        *columns([newest[k] for k in sorted(newest)], 8),
        *columns([attributes[k] for k in sorted(attributes)], 9),
        *columns([changes[k] for k in sorted(changes)], 3),
    ]


