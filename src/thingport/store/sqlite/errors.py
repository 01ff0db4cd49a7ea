"""SQLite's errors -> the domain errors of the store contract.

SQLite names a violated unique key in its message (``UNIQUE constraint failed: device.tenant_id,
device.name``); the message per key is ThingsBoard's, from ``store.shared.errors``. A full
disk, an I/O error or a database another process keeps locked is StoreUnavailable (a 503): the
request was fine, the store could not take it now.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from thingport.errors import Conflict, StoreUnavailable
from thingport.store.shared.errors import conflict, missing_reference

_PREFIXES = ("UNIQUE constraint failed: ", "PRIMARY KEY constraint failed: ")
# Primary result codes (the low byte of an extended one) and what they mean to a caller.
_UNAVAILABLE: Final = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_IOERR: "the disk failed to read or write",
    sqlite3.SQLITE_BUSY: "another process holds the database's lock",
    sqlite3.SQLITE_LOCKED: "another process holds the database's lock",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
}


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    """StoreUnavailable when ``exc`` says the store cannot work now, else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    reason = _UNAVAILABLE.get(code & 0xFF)
    if reason is None:
        return None
    return StoreUnavailable(f"The store cannot serve this request now: {reason} ({exc}). "
                            "Try again later.")


def translate(exc: Exception) -> Exception:
    """Turn a constraint violation into the domain error the contract promises, and a full
    disk or an I/O error into StoreUnavailable."""
    failed = unavailable(exc)
    if failed is not None:
        return failed
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
