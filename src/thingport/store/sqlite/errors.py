"""SQLite's constraint errors -> the domain errors of the store contract.

SQLite names a violated unique key in its message (``UNIQUE constraint failed: device.tenant_id,
device.name``); the message per key is ThingsBoard's, from ``store.shared.errors``.
"""

from __future__ import annotations

import sqlite3

from thingport.errors import Conflict
from thingport.store.shared.errors import conflict, missing_reference

_PREFIXES = ("UNIQUE constraint failed: ", "PRIMARY KEY constraint failed: ")


def translate(exc: Exception) -> Exception:
    """Turn a constraint violation into the domain error the contract promises."""
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                return _conflict(text.removeprefix(prefix))
        if text.startswith("FOREIGN KEY constraint failed"):
            return missing_reference()
    return exc


def _conflict(constraint: str) -> Conflict:
    """``constraint`` is SQLite's "table.column, table.column" (or an index's name)."""
    tables, columns = set(), []
    for part in constraint.split(", "):
        table, dot, column = part.partition(".")
        if not dot:
            return Conflict(f"Duplicate {constraint}")
        tables.add(table)
        columns.append(column)
    if len(tables) != 1:
        return Conflict(f"Duplicate {constraint}")
    return conflict(tables.pop(), columns)
