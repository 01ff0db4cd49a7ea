"""The SQLite schema's migrations: its version is ``PRAGMA user_version``.

The files are ``thingport/store/migrations/sqlite/NNNN_name.sql`` (found and checked by
``store.shared.migrations``); each is applied in its own ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import sqlite3

from thingport.store.shared.migrations import (
    check_not_newer,
    discover,
    failed,
    pending,
    split_statements,
)


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's ``PRAGMA user_version``; returns the
    version reached. Each migration is one transaction, so a failure leaves the previous
    version intact. ConfigError when the database is newer than this code."""
    migrations = discover("sqlite")
    current = user_version(conn)
    check_not_newer(current, migrations)
    for migration in pending(migrations, current):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while this one waited for the lock.
            if user_version(conn) < migration.number:
                for statement in split_statements(migration.sql, sqlite3.complete_statement):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {migration.number}")
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            raise failed(migration, "SQLite", exc) from exc
        current = migration.number
    return current
