"""Attributes in SQLite: per scope, keyed by (device seq, scope id, key id), and the
shared-attribute changes waiting for a device's next poll (``attribute_change``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import AttributeChanges, AttributeKvEntry, AttributeScope, KvEntry
from thingport.errors import NotFound
from thingport.store.base import AttributeStore
from thingport.store.shared.values import (
    CODE_TYPE,
    SCOPE_CODE,
    SHARED_SCOPE_CODE,
    TYPE_CODE,
    decode,
    encode,
)
from thingport.store.sqlite import large_values
from thingport.store.sqlite.core import SQLiteCore
from thingport.store.sqlite.tx import DEVICE_SEQ, Tx


class SQLiteAttributes(SQLiteCore, AttributeStore):
    """The store contract's attributes part, for ``SQLiteStore``."""

    # -- attributes --------------------------------------------------------------------------
    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """Insert or replace attributes in one scope, all stamped ``ts``. An unknown device
        raises NotFound."""
        if entries:
            await self._write(_save_attributes_op(device_id, scope, entries, ts, track=False),
                              len(entries))

    async def add_attribute(
        self, device_id: UUID, scope: AttributeScope, entry: KvEntry, ts: int
    ) -> bool:
        """Insert the attribute unless its key exists in the scope; whether it was inserted.
        An unknown device raises NotFound."""
        code, value = TYPE_CODE[entry.type], encode(entry.type, entry.value)
        large = bool(large_values.value_size(code, value))

        def op(tx: Tx) -> bool:
            row = (tx.device_seq(device_id), SCOPE_CODE[scope], tx.key_id(entry.key), ts, code,
                   value)
            if large:
                row = large_values.out_of_line(tx.conn, row, 4)
            added = bool(tx.conn.execute(_INSERT_ATTRIBUTE_IF_ABSENT, row).rowcount)
            if large and not added:  # the blob has no owner
                tx.conn.execute("DELETE FROM kv_blob WHERE id = ?", (row[5],))
            return added

        return await self._write(op)

    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> list[AttributeKvEntry]:
        """The scope's attributes (only ``keys`` when given, in that order), else sorted by key."""
        if keys is not None and not keys:
            return []
        sql = (
            f"SELECT k.key, {large_values.type_sql('a')}, {large_values.value_sql('a')}, "
            "a.last_update_ts FROM attribute_kv a JOIN key_dictionary k ON k.key_id = a.key "
            f"WHERE a.device = {DEVICE_SEQ} AND a.scope = ?"
        )
        params: list[Any] = [str(device_id), SCOPE_CODE[scope]]
        wanted: list[str] = []
        if keys is not None:
            wanted = list(dict.fromkeys(keys))
            sql += f" AND k.key IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY k.key"

        def read(conn: sqlite3.Connection) -> list[AttributeKvEntry]:
            found = [
                AttributeKvEntry(key, CODE_TYPE[code], decode(code, v), last_update_ts)
                for key, code, v, last_update_ts in conn.execute(sql, params)
            ]
            if keys is None:
                return found
            by_key = {a.key: a for a in found}
            return [by_key[k] for k in wanted if k in by_key]

        return await self._read(read)

    async def delete_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """Delete attributes; returns the keys that existed, in the order given."""
        return await self._write(_delete_attributes_op(device_id, scope, keys, track=False))

    # -- shared-attribute changes waiting for the device --------------------------------------
    async def save_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """``save_attributes``, and in the same transaction record each key as changed for the
        device's next attribute-update poll (replacing an earlier pending change of the key).

        Only SHARED_SCOPE keys are recorded: the device is never told about the other scopes,
        so for them this is ``save_attributes``. An unknown device raises NotFound.
        """
        if entries:
            await self._write(_save_attributes_op(device_id, scope, entries, ts, track=True),
                              len(entries))

    async def delete_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """``delete_attributes``, and in the same transaction record the keys that existed as
        deleted for the next poll (replacing an earlier pending change of the key). Only
        SHARED_SCOPE keys are recorded, as in ``save_attributes_tracked``."""
        return await self._write(_delete_attributes_op(device_id, scope, keys, track=True))

    async def take_attribute_changes(self, device_id: UUID) -> AttributeChanges:
        """Atomically remove and return the device's pending changes: each key either updated
        (with its current value) or deleted, whichever happened last. Empty when none; two
        concurrent callers never both get the same change.

        Both lists are in key order. A key recorded as updated whose shared attribute is gone
        (deleted without tracking since) is reported as deleted: that is what the device must
        learn. An unknown device has no changes.
        """
        def take(tx: Tx) -> AttributeChanges:
            try:
                seq = tx.device_seq(device_id)
            except NotFound:
                return AttributeChanges([], [])
            # A select then a delete is as atomic as DELETE ... RETURNING here: nothing but
            # this writer thread writes, and the values need a join RETURNING cannot make.
            rows = tx.conn.execute(
                f"SELECT k.key, c.deleted, {large_values.type_sql('a')}, "
                f"{large_values.value_sql('a')}, a.last_update_ts FROM attribute_change c "
                "JOIN key_dictionary k ON k.key_id = c.key "
                "LEFT JOIN attribute_kv a ON a.device = c.device AND a.scope = ? "
                "AND a.key = c.key WHERE c.device = ? ORDER BY k.key",
                (SHARED_SCOPE_CODE, seq),
            ).fetchall()
            if not rows:
                return AttributeChanges([], [])
            tx.conn.execute("DELETE FROM attribute_change WHERE device = ?", (seq,))
            updated: list[AttributeKvEntry] = []
            deleted: list[str] = []
            for key, was_deleted, code, v, last_update_ts in rows:
                if was_deleted or code is None:
                    deleted.append(key)
                else:
                    updated.append(
                        AttributeKvEntry(key, CODE_TYPE[code], decode(code, v), last_update_ts)
                    )
            return AttributeChanges(updated, deleted)

        return await self._take(
            f"SELECT 1 FROM attribute_change WHERE device = {DEVICE_SEQ} LIMIT 1",
            (str(device_id),), take, AttributeChanges([], []),
        )


# An upsert (not INSERT OR REPLACE) so that a replaced out-of-line value's trigger fires.
_UPSERT_ATTRIBUTE: Final = (
    "INSERT INTO attribute_kv (device, scope, key, last_update_ts, type, v) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device, scope, key) DO UPDATE SET "
    "last_update_ts = excluded.last_update_ts, type = excluded.type, v = excluded.v"
)
_INSERT_ATTRIBUTE_IF_ABSENT: Final = (
    "INSERT OR IGNORE INTO attribute_kv (device, scope, key, last_update_ts, type, v) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_RECORD_CHANGE: Final = (
    "INSERT OR REPLACE INTO attribute_change (device, key, deleted, ts) VALUES (?, ?, ?, ?)"
)


def _save_attributes_op(
    device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int, *, track: bool
) -> Callable[[Tx], None]:
    """The write of save_attributes; with ``track``, a shared key is also recorded as updated
    for the device's next attribute-update poll."""
    scope_code = SCOPE_CODE[scope]
    prepared = [(e.key, TYPE_CODE[e.type], encode(e.type, e.value)) for e in entries]
    large = any(large_values.value_size(code, v) for _, code, v in prepared)
    # A device is told about shared attributes only (ThingsBoard's rule): a change in another
    # scope would be a pending change with no value the device may see.
    track = track and scope_code == SHARED_SCOPE_CODE

    def op(tx: Tx) -> None:
        seq = tx.device_seq(device_id)
        rows = [(seq, scope_code, tx.key_id(k), ts, code, v) for k, code, v in prepared]
        if large:
            rows = [large_values.out_of_line(tx.conn, row, 4)
                    if large_values.value_size(row[4], row[5]) else row for row in rows]
        tx.conn.executemany(_UPSERT_ATTRIBUTE, rows)
        if track:
            tx.conn.executemany(_RECORD_CHANGE, [(seq, row[2], 0, ts) for row in rows])

    return op


def _delete_attributes_op(
    device_id: UUID, scope: AttributeScope, keys: Sequence[str], *, track: bool
) -> Callable[[Tx], list[str]]:
    """The write of delete_attributes; with ``track``, each shared key that existed is also
    recorded as deleted for the device's next attribute-update poll."""
    scope_code = SCOPE_CODE[scope]
    track = track and scope_code == SHARED_SCOPE_CODE
    # A delete has no timestamp of its own; the row's ts only says when the change was made.
    ts = now_ms()

    def op(tx: Tx) -> list[str]:
        try:
            seq = tx.device_seq(device_id)
        except NotFound:
            return []
        deleted: list[str] = []
        changes: list[tuple[int, int, int, int]] = []
        for key in dict.fromkeys(keys):
            kid = tx.find_key_id(key)
            if kid is None:
                continue
            cur = tx.conn.execute(
                "DELETE FROM attribute_kv WHERE device = ? AND scope = ? AND key = ?",
                (seq, scope_code, kid),
            )
            if cur.rowcount:
                deleted.append(key)
                changes.append((seq, kid, 1, ts))
        if track and changes:
            tx.conn.executemany(_RECORD_CHANGE, changes)
        return deleted

    return op
