"""The attributes part of the store contract: attributes per scope, and the shared-attribute
changes waiting for a device's next poll.

The rules of ``thingport.store.base`` hold for every method.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from uuid import UUID

from thingport.domain.model import (
    AttributeChanges,
    AttributeKvEntry,
    AttributeScope,
    KvEntry,
)


class AttributeStore(abc.ABC):
    """Device attributes in their scopes, and the changes devices are told about."""

    # -- attributes ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """Insert or replace attributes in one scope, all stamped ``ts``."""

    @abc.abstractmethod
    async def add_attribute(
        self, device_id: UUID, scope: AttributeScope, entry: KvEntry, ts: int
    ) -> bool:
        """Insert the attribute unless the device already has that key in that scope: True
        when it was inserted. One atomic step on every node (a compare-and-set), so that of
        two concurrent callers exactly one gets True. An unknown device raises NotFound."""

    @abc.abstractmethod
    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> list[AttributeKvEntry]:
        """The scope's attributes (only ``keys`` when given, in that order), else sorted by key."""

    @abc.abstractmethod
    async def delete_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """Delete attributes; returns the keys that existed."""

    # -- shared-attribute changes waiting for the device ----------------------------------------
    @abc.abstractmethod
    async def save_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """``save_attributes``, and in the same transaction, for SHARED_SCOPE (the only scope
        devices are told about), record each key as changed for the device's next
        attribute-update poll (replacing an earlier pending change of the key)."""

    @abc.abstractmethod
    async def delete_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """``delete_attributes``, and in the same transaction, for SHARED_SCOPE, record the keys
        that existed as deleted for the next poll (replacing an earlier pending change)."""

    @abc.abstractmethod
    async def take_attribute_changes(self, device_id: UUID) -> AttributeChanges:
        """Atomically remove and return the device's pending changes: each key either updated
        (with its current value) or deleted, whichever happened last. Empty when none; two
        concurrent callers never both get the same change."""
