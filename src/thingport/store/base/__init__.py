"""The storage contract every backend (SQLite, PostgreSQL) fulfils.

It is split by aggregate, so that a service can ask for only the part it uses and a fake or a
new backend is easy to write: ``EntityStore`` (tenants, customers, users, device profiles,
devices, credentials, device infos), ``TelemetryStore``, ``AttributeStore``, ``CommandStore``
(server- and client-side RPC, claiming), ``OtaStore`` and ``TenantProfileStore``, one module
each in this package.
``Store`` is all of them with the lifecycle (``open``, ``close``, ``ping``).

Every write method returns only after its data is committed durably (even when its caller is
cancelled meanwhile, the write is committed); a backend may share one
transaction between many concurrent callers (group commit), but never answers before the commit.
Methods raise ``thingport.errors.Conflict`` for a duplicate name or token and return ``None`` (or
an empty result) for what does not exist; they never know about HTTP. Writes that name a device
that does not exist raise ``NotFound``. A time ``t`` is expired at ``now`` when ``t < now``
(still valid at ``t == now``), as in ThingsBoard.
"""

from __future__ import annotations

import abc

from thingport.store.base.attributes import AttributeStore
from thingport.store.base.commands import CommandStore
from thingport.store.base.entities import EntityStore
from thingport.store.base.ota import OTA_CHUNK_SIZE, OtaStore
from thingport.store.base.telemetry import TelemetryStore
from thingport.store.base.tenant_profiles import TenantProfileStore

__all__ = [
    "OTA_CHUNK_SIZE",
    "AttributeStore",
    "CommandStore",
    "EntityStore",
    "OtaStore",
    "Store",
    "TelemetryStore",
    "TenantProfileStore",
]


class Store(EntityStore, TelemetryStore, AttributeStore, CommandStore, OtaStore,
            TenantProfileStore):
    """Durable storage of entities, time series and attributes."""

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self, *, create: bool = True) -> None:
        """Connect, and create or migrate the schema to the current version. With
        ``create=False`` nothing is created: StoreMissing when the URL holds no store yet."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release every connection and thread."""

    async def maintain(self) -> object:
        """Periodic upkeep (time partitions ahead, retention of old time series); the app runs
        it every hour on every node, so it must be safe to run anywhere, at once and often."""
        return None

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return once the store has answered a trivial query; raise when it cannot be reached
        (or is not open). For health checks: cheap, and it writes nothing."""
