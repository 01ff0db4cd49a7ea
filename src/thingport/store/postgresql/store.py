"""``PostgresStore``: the store contract on PostgreSQL, for one node or many.

Connections of a store (``pool_size``: ``THINGPORT_DATABASE_POOL_SIZE``, dealt out among a
node's worker processes, each with a store of its own): a few are the write lanes' own
(``lanes_for``), the rest a pool for reads; migrations and maintenance borrow one more for a
moment, since a session advisory lock cannot live on a pooled connection. Keep nodes x (pool
size + workers) under the server's ``max_connections``.

``open`` migrates the schema (under an advisory lock: several nodes may start at once) and
creates the time partitions around now; ``maintain`` (run it periodically, say hourly, on
every node: one of them does the work) creates the coming partitions and drops expired ones.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from thingport.clock import now_ms
from thingport.errors import ConfigError
from thingport.store.base import Store
from thingport.store.postgresql import migrate as migrations
from thingport.store.postgresql import partitions
from thingport.store.postgresql.attributes import PgAttributes
from thingport.store.postgresql.batcher import Lanes, LaneStats
from thingport.store.postgresql.commands import PgCommands
from thingport.store.postgresql.core import _keep_session, translate
from thingport.store.postgresql.device_info import PgDeviceInfo
from thingport.store.postgresql.entities import PgEntities
from thingport.store.postgresql.ota import PgOta
from thingport.store.postgresql.telemetry import PgTelemetry
from thingport.store.postgresql.tenant_profiles import PgTenantProfiles
from thingport.store.shared.errors import StoreMissing

if TYPE_CHECKING:
    import asyncpg

__all__ = ["DEFAULT_POOL_SIZE", "PostgresStore", "lanes_for"]

log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE: Final = 8
_DAY_MS: Final = 86_400_000
_CONNECT_TIMEOUT_S: Final = 10.0


def lanes_for(pool_size: int) -> int:
    """How many of a node's connections are write lanes: one per three, at most three (a few
    lanes overlap one batch's commit with the next's building; more only add lock traffic)."""
    return max(1, min(3, pool_size // 3))


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class PostgresStore(PgEntities, PgDeviceInfo, PgTelemetry, PgAttributes, PgCommands, PgOta,
                    PgTenantProfiles, Store):
    """The store on PostgreSQL (``postgresql://user:password@host:port/database``).

    ``pool_size`` connections in all (see the module docstring);
    ``ts_partitioning`` is ThingsBoard's ``SQL_POSTGRES_TS_KV_PARTITIONING`` (DAYS, MONTHS,
    YEARS or INDEFINITE); ``ts_ttl_days`` drops history older than that many days (0: keep
    it forever); ``lanes`` overrides how many write lanes.
    """

    def __init__(
        self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE, ts_partitioning: str = "MONTHS",
        ts_ttl_days: int = 0, lanes: int | None = None,
    ) -> None:
        super().__init__()
        if ts_partitioning not in partitions.GRANULARITIES:
            raise ConfigError(
                "SQL_POSTGRES_TS_KV_PARTITIONING: expected one of "
                f"{', '.join(partitions.GRANULARITIES)}, got {ts_partitioning!r}"
            )
        if pool_size < 1:
            raise ConfigError("THINGPORT_DATABASE_POOL_SIZE: must be at least 1")
        self._url = url
        self._pool_size = pool_size
        self._partitioning = ts_partitioning
        self._ttl_days = ts_ttl_days
        self._lane_count = lanes if lanes is not None else lanes_for(pool_size)
        self._opened = False
        self._closed = False

    @property
    def url(self) -> str:
        """The database URL, without its password."""
        return _redacted(self._url)

    @property
    def stats(self) -> LaneStats:
        """How many transactions and operations the write lanes have committed so far."""
        if self._lanes is None:
            return LaneStats(0, 0, 0, 0)
        return self._lanes.stats

    async def _connect(self) -> asyncpg.Connection:
        """A connection of its own (not pooled)."""
        import asyncpg

        return await asyncpg.connect(self._url, timeout=_CONNECT_TIMEOUT_S)

    async def _connect_lane(self) -> asyncpg.Connection:
        """A write lane's connection. Its statements are few and fixed (the bulk statement
        above all), so a generic plan made once beats planning every batch: measured here,
        about 0.7 ms less per batch of 80 samples."""
        import asyncpg

        return await asyncpg.connect(
            self._url, timeout=_CONNECT_TIMEOUT_S,
            server_settings={"plan_cache_mode": "force_generic_plan"},
        )

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self, *, create: bool = True) -> None:
        """Connect, migrate the schema, create the partitions around now, start the lanes.
        ``create=False``: StoreMissing instead of creating the schema in an empty database."""
        import asyncpg

        if self._opened or self._closed:
            raise RuntimeError("PostgresStore can be opened once")
        try:
            conn = await self._connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise ConfigError(f"Cannot connect to PostgreSQL at {self.url}: {exc}") from exc
        try:
            if not create and await migrations.schema_version(conn) == 0:
                raise StoreMissing(f"there is no thingport store in {self.url}")
            await migrations.migrate(conn)
            await self._maintain_on(conn)
            # The collation a text search folds case with: ICU's root locale when the server
            # has ICU (every character folded, whatever the database's locale), else the
            # database's own.
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_collation "
                                   "WHERE collname = 'und-x-icu')"):
                self._search_collation = ' COLLATE "und-x-icu"'
        finally:
            await conn.close()
        readers = max(1, self._pool_size - self._lane_count)
        self._pool = await asyncpg.create_pool(
            self._url, min_size=min(2, readers), max_size=readers, reset=_keep_session,
            timeout=_CONNECT_TIMEOUT_S,
        )
        self._lanes = Lanes(self._lane_count, self._connect_lane, translate)
        try:
            await self._lanes.start()
            self._keys.update(
                (r[0], r[1]) for r in await self._fetch("SELECT key, key_id FROM key_dictionary")
            )
        except BaseException:
            await self._lanes.stop()
            await self._pool.close()
            raise
        self._opened = True

    async def close(self) -> None:
        """Commit every queued write, then close every connection."""
        if self._closed:
            return
        self._closed = True
        lanes, pool = self._lanes, self._pool
        if lanes is not None:
            # Writes already called but still resolving their key ids queue first.
            await self._prepared.wait()
            await lanes.stop()
        self._lanes = None
        if pool is not None:
            await pool.close()
        self._pool = None

    async def ping(self) -> None:
        """Return once the database has answered a trivial query; raise when it cannot be
        reached (or the store is not open). Writes nothing."""
        await self._readers.fetchval("SELECT 1")

    # -- maintenance ---------------------------------------------------------------------------
    async def maintain(self) -> partitions.Maintenance:
        """Create the coming time partitions and, with a TTL, drop the expired ones and delete
        expired rows of the default partition. Safe to run on every node at once (an advisory
        lock lets one of them work; the others return at once) and as often as wanted."""
        if self._pool is None:
            raise RuntimeError("PostgresStore is not open")
        conn = await self._connect()
        try:
            return await self._maintain_on(conn)
        finally:
            await conn.close()

    async def _maintain_on(self, conn: asyncpg.Connection) -> partitions.Maintenance:
        done = partitions.Maintenance()
        key = migrations.advisory_key("maintain")
        if not await conn.fetchval(f"SELECT pg_try_advisory_lock({key})"):
            return done  # another node is at it
        try:
            now = now_ms()
            done.created = await partitions.ensure_partitions(conn, self._partitioning, now)
            if self._ttl_days > 0:
                done.dropped, done.deleted_rows = await partitions.drop_expired(
                    conn, now - self._ttl_days * _DAY_MS
                )
        finally:
            await conn.execute(f"SELECT pg_advisory_unlock({key})")
        if done.created or done.dropped or done.deleted_rows:
            log.info("time partitions: created %s, dropped %s, %d expired rows deleted",
                     done.created, done.dropped, done.deleted_rows)
        return done
