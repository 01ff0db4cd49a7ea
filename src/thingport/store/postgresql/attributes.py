"""Attributes on PostgreSQL (ThingsBoard's ``attribute_kv``) and the shared-attribute changes
waiting for a device's next attribute-update poll (``attribute_change``).

Saves join their lane's bulk statement like samples do (the tracked change is upserted in the
same statement, hence the same transaction). Deletes and takes are ordinary writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import AttributeChanges, AttributeKvEntry, AttributeScope, KvEntry
from thingport.store.postgresql.batcher import AttributesOp
from thingport.store.postgresql.core import PgCore
from thingport.store.postgresql.values import VALUE_COLUMNS, decode, encode
from thingport.store.shared.errors import device_not_found
from thingport.store.shared.values import SCOPE_CODE, SHARED_SCOPE_CODE

if TYPE_CHECKING:
    import asyncpg

_A_VALUES: Final = ", ".join("a." + c for c in VALUE_COLUMNS.split(", "))


class PgAttributes(PgCore):
    """The store contract's attributes and tracked shared-attribute changes."""

    async def _save_attributes(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int,
        track: bool,
    ) -> None:
        if self._lanes is None:
            raise RuntimeError("PostgresStore is not open")
        if not entries:
            return
        encoded = [encode(e) for e in entries]
        code = SCOPE_CODE[scope]
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        async with self._queueing() as lanes:
            ids = await self._key_ids(e.key for e in entries)
            rows = [(ids[e.key], *columns) for e, columns in zip(entries, encoded, strict=True)]
            # A device is told about shared attributes only (ThingsBoard's rule).
            track = track and code == SHARED_SCOPE_CODE
            lanes.put(AttributesOp(device_id, code, rows, ts, track, future), device_id)
        await future

    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """Insert or replace attributes in one scope, all stamped ``ts``. An unknown device
        raises NotFound."""
        await self._save_attributes(device_id, scope, entries, ts, track=False)

    async def add_attribute(
        self, device_id: UUID, scope: AttributeScope, entry: KvEntry, ts: int
    ) -> bool:
        """Insert the attribute unless its key exists in the scope; whether it was inserted
        (``ON CONFLICT DO NOTHING``: one step, whichever node asks). An unknown device raises
        NotFound."""
        columns = encode(entry)
        async with self._queueing():
            key_id = (await self._key_ids([entry.key]))[entry.key]

        async def op(conn: asyncpg.Connection) -> bool:
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM device WHERE id = $1)",
                                       device_id):
                raise device_not_found(device_id)
            inserted = await conn.fetchval(
                "INSERT INTO attribute_kv (entity_id, attribute_type, attribute_key, bool_v, "
                "str_v, long_v, dbl_v, json_v, last_update_ts) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (entity_id, attribute_type, attribute_key) DO NOTHING RETURNING 1",
                device_id, SCOPE_CODE[scope], key_id, *columns, ts)
            return inserted is not None

        return await self._write(op, device_id)

    async def save_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """``save_attributes``, and in the same transaction record each SHARED_SCOPE key as
        changed for the device's next attribute-update poll (replacing an earlier pending
        change of the key). An unknown device raises NotFound."""
        await self._save_attributes(device_id, scope, entries, ts, track=True)

    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> list[AttributeKvEntry]:
        """The scope's attributes (only ``keys`` when given, in that order), else sorted by key."""
        if keys is not None and not keys:
            return []
        sql = (
            f"SELECT k.key, {_A_VALUES}, a.last_update_ts FROM attribute_kv a "
            "JOIN key_dictionary k ON k.key_id = a.attribute_key "
            "WHERE a.entity_id = $1 AND a.attribute_type = $2"
        )
        if keys is None:
            found = await self._fetch(
                sql + ' ORDER BY k.key COLLATE "C"', device_id, SCOPE_CODE[scope]
            )
        else:
            found = await self._fetch(
                sql + " AND k.key = ANY($3::text[])", device_id, SCOPE_CODE[scope],
                list(dict.fromkeys(keys)),
            )
        entries = [AttributeKvEntry(r[0], *decode(*r[1:6]), r[6]) for r in found]
        if keys is None:
            return entries
        by_key = {a.key: a for a in entries}
        return [by_key[k] for k in dict.fromkeys(keys) if k in by_key]

    async def _delete_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str], track: bool
    ) -> list[str]:
        ids = await self._find_key_ids(keys)
        wanted = [k for k in dict.fromkeys(keys) if k in ids]
        if not wanted:
            return []
        code = SCOPE_CODE[scope]
        track = track and code == SHARED_SCOPE_CODE
        # A delete has no timestamp of its own; the row's ts only says when the change was made.
        ts = now_ms()
        key_ids = sorted(ids[k] for k in wanted)

        async def op(conn: asyncpg.Connection) -> list[str]:
            gone = await conn.fetch(
                "DELETE FROM attribute_kv WHERE entity_id = $1 AND attribute_type = $2 "
                "AND attribute_key = ANY($3::int[]) RETURNING attribute_key",
                device_id, code, key_ids,
            )
            deleted = sorted(r[0] for r in gone)
            if track and deleted:
                await conn.execute(
                    "INSERT INTO attribute_change (entity_id, attribute_key, deleted, ts) "
                    "SELECT $1, k, true, $3 FROM unnest($2::int[]) AS k ORDER BY k "
                    "ON CONFLICT (entity_id, attribute_key) DO UPDATE SET deleted = true, "
                    "ts = excluded.ts",
                    device_id, deleted, ts,
                )
            existed = set(deleted)
            return [k for k in wanted if ids[k] in existed]

        return await self._write(op, device_id)

    async def delete_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """Delete attributes; returns the keys that existed, in the order given."""
        return await self._delete_attributes(device_id, scope, keys, track=False)

    async def delete_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """``delete_attributes``, and in the same transaction record the SHARED_SCOPE keys that
        existed as deleted for the next poll (replacing an earlier pending change)."""
        return await self._delete_attributes(device_id, scope, keys, track=True)

    async def take_attribute_changes(self, device_id: UUID) -> AttributeChanges:
        """Atomically remove and return the device's pending changes: each key either updated
        (with its current value) or deleted, whichever happened last. Empty when none; two
        concurrent callers never both get the same change.

        Both lists are in key order. A key recorded as updated whose shared attribute is gone
        is reported as deleted. Most polls find nothing: that look is a read, off the lanes.
        """
        pending = await self._fetchval(
            "SELECT EXISTS (SELECT 1 FROM attribute_change WHERE entity_id = $1)", device_id
        )
        if not pending:
            return AttributeChanges([], [])

        async def take(conn: asyncpg.Connection) -> AttributeChanges:
            taken = await conn.fetch(
                "DELETE FROM attribute_change WHERE entity_id = $1 "
                "RETURNING attribute_key, deleted",
                device_id,
            )
            if not taken:
                return AttributeChanges([], [])
            # A second statement, so that it sees the value a concurrent save committed while
            # the DELETE waited for that save's lock on the change row.
            found = await conn.fetch(
                f"SELECT k.key_id, k.key, {_A_VALUES}, a.last_update_ts "
                "FROM key_dictionary k LEFT JOIN attribute_kv a ON a.entity_id = $1 "
                "AND a.attribute_type = $2 AND a.attribute_key = k.key_id "
                'WHERE k.key_id = ANY($3::int[]) ORDER BY k.key COLLATE "C"',
                device_id, SHARED_SCOPE_CODE, [r[0] for r in taken],
            )
            deleted_ids = {r[0] for r in taken if r[1]}
            updated: list[AttributeKvEntry] = []
            deleted: list[str] = []
            for r in found:
                if r[0] in deleted_ids or r[7] is None:
                    deleted.append(r[1])
                else:
                    updated.append(AttributeKvEntry(r[1], *decode(*r[2:7]), r[7]))
            return AttributeChanges(updated, deleted)

        return await self._write(take, device_id)
