"""Schema migrations: numbered SQL files per dialect, shipped as package data.

``thingport/store/migrations/<dialect>/NNNN_name.sql``, numbered 1, 2, 3, ... without gaps;
migration n brings the schema from version n - 1 to n. A dialect keeps only how it records
the version and applies one file in a transaction (SQLite: ``PRAGMA user_version``, one
``BEGIN IMMEDIATE`` per file; PostgreSQL: a ``schema_migrations`` table under an advisory
lock) and calls, in order::

    migrations = discover("sqlite")
    check_not_newer(current, migrations)       # ConfigError: upgrade thingport
    for m in pending(migrations, current):
        ... run m.sql (split with split_statements if the driver runs one statement at a time)
        ... on failure: raise failed(m, "SQLite", exc) from exc
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from thingport.errors import ConfigError

#: Dialect folder -> the name used in messages.
DIALECT_NAMES: Final = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

_FILE_NAME: Final = re.compile(r"(\d{4})_[A-Za-z0-9_\-]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One shipped migration file."""

    number: int
    name: str
    sql: str


def discover(dialect: str) -> list[Migration]:
    """Every migration shipped for ``dialect`` (a folder under ``store/migrations``), in order.
    ConfigError when the numbers are not 1, 2, 3, ..."""
    root = importlib.resources.files("thingport.store") / "migrations" / dialect
    found: list[Migration] = []
    for entry in root.iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match:
            found.append(
                Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8"))
            )
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(numbers) + 1)):
        label = DIALECT_NAMES.get(dialect, dialect)
        raise ConfigError(f"{label} migrations must be numbered 1, 2, 3, ...; found {numbers}")
    return found


def latest(migrations: Sequence[Migration]) -> int:
    """The schema version the code knows (0 without migrations)."""
    return migrations[-1].number if migrations else 0


def check_not_newer(current: int, migrations: Sequence[Migration]) -> None:
    """ConfigError when the database was migrated by a newer thingport than this one."""
    known = latest(migrations)
    if current > known:
        raise ConfigError(
            f"The database schema is version {current}, newer than this thingport knows "
            f"({known}); upgrade thingport"
        )


def pending(migrations: Sequence[Migration], current: int) -> list[Migration]:
    """The migrations a database at version ``current`` still needs, in order."""
    return [m for m in migrations if m.number > current]


def failed(migration: Migration, dialect_name: str, exc: BaseException) -> ConfigError:
    """The error to raise (``from exc``) when applying ``migration`` failed."""
    return ConfigError(f"{dialect_name} migration {migration.name} failed: {exc}")


def split_statements(script: str, complete: Callable[[str], bool]) -> Iterator[str]:
    """Split a script into statements at line ends where ``complete`` says the text so far is
    whole (SQLite: ``sqlite3.complete_statement``, which keeps triggers' BEGIN ... END bodies
    whole). ConfigError for a statement left unterminated at the end (comments are fine)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if complete(buffer):
            yield buffer.strip()
            buffer = ""
    leftover = "\n".join(
        line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if leftover:
        raise ConfigError(f"Unterminated SQL statement in migration: {leftover[:80]!r}")
