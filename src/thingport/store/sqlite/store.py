"""``SQLiteStore``: the aggregates' parts over one ``SQLiteCore`` (one file, one writer)."""

from __future__ import annotations

from thingport.clock import now_ms
from thingport.store.base import Store
from thingport.store.sqlite.attributes import SQLiteAttributes
from thingport.store.sqlite.commands import SQLiteCommands
from thingport.store.sqlite.entities import SQLiteEntities
from thingport.store.sqlite.ota import SQLiteOta
from thingport.store.sqlite.telemetry import SQLiteTelemetry
from thingport.store.sqlite.tenant_profiles import SQLiteTenantProfiles


class SQLiteStore(
    SQLiteEntities, SQLiteTelemetry, SQLiteAttributes, SQLiteCommands, SQLiteOta,
    SQLiteTenantProfiles, Store
):
    """The default store: a single SQLite file in WAL mode.

    ``readers`` is how many threads (each with its own connection) serve reads;
    ``batch_limit`` caps how many queued writes share one transaction; ``ts_ttl_days`` (0:
    forever) is how long time-series points are kept.
    """

    def __init__(
        self, path: str, *, ts_ttl_days: int = 0, holder: str = "thingport", **options: int
    ) -> None:
        super().__init__(path, holder=holder, **options)
        self._ts_ttl_days = ts_ttl_days

    async def maintain(self) -> int:
        """Retention: delete points older than the TTL in bounded batches; how many went."""
        if self._ts_ttl_days <= 0:
            return 0
        return await self.delete_telemetry_before(now_ms() - self._ts_ttl_days * 86_400_000)
