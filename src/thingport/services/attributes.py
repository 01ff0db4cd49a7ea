"""Attributes in their three scopes."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import AttributeKvEntry, AttributeScope, KvEntry
from thingport.errors import BadRequest
from thingport.store.base import Store


class AttributeService:
    """Reads and writes a device's client, server and shared attributes."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def save(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry]
    ) -> None:
        """Store attributes durably, stamped with the current time."""
        if entries:
            await self._store.save_attributes(device_id, scope, entries, now_ms())

    async def get(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> list[AttributeKvEntry]:
        """The scope's attributes, or only ``keys``; missing keys are left out."""
        return await self._store.get_attributes(device_id, scope, keys)

    async def keys(self, device_id: UUID, scope: AttributeScope | None = None) -> list[str]:
        """Attribute keys of one scope, or of all scopes."""
        scopes = [scope] if scope is not None else list(AttributeScope)
        found: dict[str, None] = {}
        for each in scopes:
            for entry in await self._store.get_attributes(device_id, each):
                found[entry.key] = None
        return list(found)

    async def delete(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """Delete attributes; returns the keys that existed."""
        if not keys:
            raise BadRequest("Empty keys: " + ",".join(keys))
        return await self._store.delete_attributes(device_id, scope, keys)
