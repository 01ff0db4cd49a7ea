"""Saves of time series too large for a lane's batch: a transaction of their own, in slices.

A save_telemetry of more than ``SLICE_ROWS`` samples (or ``SLICE_BYTES`` of text) would make
its lane's batch one long statement, and every device hashed to that lane would wait for it.
Instead it runs on a pooled connection, in one transaction (all or nothing, as a lane's
batch), with one bulk statement per slice: history first, slice by slice, then the request's
newest samples into ts_kv_latest. PostgreSQL's row locks let the lanes go on meanwhile; only a
write of the same rows waits (and a deadlock with one, which these locks taken out of the
batches' global order can cause, is redone). One upload at a time per node, so that uploads
cannot take every pooled connection from the reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from thingport.store.postgresql.bulk import BULK_SQL, columns
from thingport.store.shared.errors import device_not_found

if TYPE_CHECKING:
    import asyncpg

#: A save with more samples than this is an upload, written in slices of this many...
SLICE_ROWS: Final = 5_000
#: ...as is one with more characters of text values than this (the most a slice holds,
#: or one value when a single value is larger).
SLICE_BYTES: Final = 4 * 2**20
#: How often an upload that hit a deadlock or a serialization failure is redone.
RETRIES: Final = 5

# A row: (key id, ts, bool_v, str_v, long_v, dbl_v, json_v).
_STR, _JSON = 3, 6
_EMPTY_ATTRIBUTES: Final[list[list[Any]]] = [[] for _ in range(9 + 3)]


def text_size(row: Sequence[Any]) -> int:
    """Characters of the row's text value (0 for other types)."""
    return len(row[_STR] or "") + len(row[_JSON] or "")


def is_upload(rows: Sequence[Sequence[Any]]) -> bool:
    """Whether a save of ``rows`` is too large for a lane's batch."""
    return len(rows) > SLICE_ROWS or sum(map(text_size, rows)) > SLICE_BYTES


def slices(rows: list[Any]) -> Iterator[list[Any]]:
    """``rows`` in consecutive slices of at most SLICE_ROWS rows and SLICE_BYTES of text."""
    start = size = 0
    for i, row in enumerate(rows):
        length = text_size(row)
        if i > start and (i - start >= SLICE_ROWS or size + length > SLICE_BYTES):
            yield rows[start:i]
            start, size = i, 0
        size += length
    if start < len(rows):
        yield rows[start:]


def _args(device_id: UUID, history: list[Any], latest: list[Any]) -> list[Any]:
    """BULK_SQL's parameters for one device's history rows and latest rows (no attributes)."""
    by_key: dict[tuple[int, int], tuple[Any, ...]] = {}
    for row in history:  # a later row at an equal (key, ts) wins
        by_key[(row[0], row[1])] = (device_id, *row)
    return [
        [device_id],
        *columns([by_key[k] for k in sorted(by_key)], 8),
        *columns(sorted((device_id, *row) for row in latest), 8),
        *_EMPTY_ATTRIBUTES,
    ]


async def write(conn: asyncpg.Connection, device_id: UUID, rows: list[Any]) -> None:
    """Write ``rows`` of one device in the open transaction on ``conn``: history slice by
    slice, then the newest row of each key into ts_kv_latest. NotFound for an unknown
    device."""
    newest: dict[int, Any] = {}
    for part in slices(rows):
        if not await conn.fetch(BULK_SQL, *_args(device_id, part, [])):
            raise device_not_found(device_id)
        for row in part:
            current = newest.get(row[0])
            if current is None or row[1] >= current[1]:
                newest[row[0]] = row
    await conn.fetch(BULK_SQL, *_args(device_id, [], list(newest.values())))
