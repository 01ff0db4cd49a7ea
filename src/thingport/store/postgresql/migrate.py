"""Schema migrations on PostgreSQL, safe when several nodes start at once.

The numbered files are ``store/migrations/postgresql/NNNN_*.sql`` (``shared.migrations``
finds them). Applied versions are rows of ``schema_migrations``. Every node runs ``migrate`` at
start, on a connection of its own (never a pooled one: asyncpg's pool resets a connection it
takes back with ``pg_advisory_unlock_all()``) holding a session-level advisory lock: the first
node applies what is pending, each file in its own transaction; the others wait for the lock,
then find nothing pending. A node that dies mid-migration loses its session and with it the
lock; its unfinished file was one transaction and rolled back. A database whose version is
newer than the files this code ships stops the node with a message saying so.

The lock is keyed by the schema (``current_schema()``), so installs in different schemas of one
database do not wait for each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from thingport.store.shared import migrations

if TYPE_CHECKING:
    import asyncpg

__all__ = ["LOCK_CLASS", "advisory_key", "migrate", "schema_version"]

#: The first key of thingport's two-key advisory locks ("tp"); the second names the purpose.
LOCK_CLASS: Final = 0x7470

_CREATE_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version int PRIMARY KEY, name text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now())"
)


def advisory_key(purpose: str) -> str:
    """SQL for the two int4 keys of the advisory lock for ``purpose`` in this schema."""
    # `purpose` is one of our constants, never user text.
    return f"{LOCK_CLASS}, hashtext(current_schema() || ':{purpose}')"


async def schema_version(conn: asyncpg.Connection) -> int:
    """The highest applied migration, 0 for an empty database."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the schema to the newest version under the migration lock; returns that version.

    ``conn`` must be a connection of its own, outside any transaction. ConfigError when the
    database is newer than this code or a migration fails (its transaction rolled back).
    """
    shipped = migrations.discover("postgresql")
    # A cheap look first: a node starting against an up-to-date (or newer) schema neither
    # waits for another node's migration nor takes the lock.
    current = await schema_version(conn)
    migrations.check_not_newer(current, shipped)
    if not migrations.pending(shipped, current):
        return current
    await conn.execute(f"SELECT pg_advisory_lock({advisory_key('migrate')})")
    try:
        await conn.execute(_CREATE_TABLE)
        # Read again under the lock: another node may have migrated while this one waited.
        current = await schema_version(conn)
        migrations.check_not_newer(current, shipped)
        for migration in migrations.pending(shipped, current):
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.number, migration.name,
                    )
            except Exception as exc:
                raise migrations.failed(migration, "PostgreSQL", exc) from exc
            current = migration.number
    finally:
        await conn.execute(f"SELECT pg_advisory_unlock({advisory_key('migrate')})")
    return current
