"""Attributes in their three scopes."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any
from uuid import UUID

from thingport.bus import Bus
from thingport.clock import now_ms
from thingport.domain.model import AttributeChanges, AttributeKvEntry, AttributeScope, KvEntry
from thingport.errors import BadRequest
from thingport.services.channels import device_channel, shared_changes_channel
from thingport.services.live import publish_attributes
from thingport.services.waiting import wait_for
from thingport.store.base import AttributeStore

#: The most entries, and characters of string or JSON values, one store write takes.
SLICE_ENTRIES = 5_000
SLICE_CHARS = 4 * 2**20


def write_slices(entries: Sequence[KvEntry]) -> list[Sequence[KvEntry]]:
    """``entries`` cut into consecutive parts of at most SLICE_ENTRIES entries and about
    SLICE_CHARS characters of text values each (one entry per part when it alone is larger)."""
    if len(entries) <= SLICE_ENTRIES and sum(
            len(e.value) for e in entries if isinstance(e.value, str)) <= SLICE_CHARS:
        return [entries]
    parts: list[Sequence[KvEntry]] = []
    start = chars = 0
    for i, entry in enumerate(entries):
        size = len(entry.value) if isinstance(entry.value, str) else 0
        if i > start and (i - start >= SLICE_ENTRIES or chars + size > SLICE_CHARS):
            parts.append(entries[start:i])
            start, chars = i, 0
        chars += size
    parts.append(entries[start:])
    return parts


class AttributeService:
    """Reads and writes a device's client, server and shared attributes.

    Shared-attribute changes are also recorded for the device's next attribute-update poll, so
    that a device which was not polling when they happened gets them, merged, when it polls.
    """

    def __init__(self, store: AttributeStore, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    async def save(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry]
    ) -> None:
        """Store attributes durably, stamped with the current time. Very many (or very large)
        entries are stored in several writes (``write_slices``), so that no write holds the
        store long; each is all or nothing, and the call returns once all are stored."""
        if not entries:
            return
        ts = now_ms()
        for part in write_slices(entries):
            if scope is AttributeScope.SHARED_SCOPE:
                await self._store.save_attributes_tracked(device_id, scope, part, ts)
            else:
                await self._store.save_attributes(device_id, scope, part, ts)
        if scope is AttributeScope.SHARED_SCOPE:
            await self._bus.publish(shared_changes_channel(device_id))
        await publish_attributes(self._bus, device_id, scope, list(entries), ts)

    def poll_changes(self, device_id: UUID,
                     timeout_s: float) -> Coroutine[Any, Any, AttributeChanges | None]:
        """Shared-attribute changes not yet handed to the device, waiting up to ``timeout_s``
        for some. (Not a coroutine of its own, but ``wait_for``'s: each waiting poll would
        keep one.)"""
        async def take() -> AttributeChanges | None:
            changes = await self._store.take_attribute_changes(device_id)
            return changes if changes else None

        return wait_for(self._bus, (shared_changes_channel(device_id),), take, timeout_s,
                        abort_channel=device_channel(device_id))

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
        if scope is not AttributeScope.SHARED_SCOPE:
            deleted = await self._store.delete_attributes(device_id, scope, keys)
        else:
            deleted = await self._store.delete_attributes_tracked(device_id, scope, keys)
            if deleted:
                await self._bus.publish(shared_changes_channel(device_id))
        if deleted:
            await publish_attributes(self._bus, device_id, scope, [], now_ms(), deleted)
        return deleted
