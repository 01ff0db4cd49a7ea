"""Opening SQLite connections (the writer's and the readers'), and reading one page.

The writer's connection runs in WAL mode with ``synchronous = FULL`` (an acknowledged write
survives a power loss) and foreign keys on; each reader thread has its own ``query_only``
connection with ``tp_contains``, the case-insensitive "contains" of text searches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from thingport.domain.model import Page, PageLink
from thingport.errors import ConfigError
from thingport.store.shared.paging import Listing, SqlStyle, page_query, to_page

_T = TypeVar("_T")

#: RETURNING, which the atomic "take" operations use, arrived in SQLite 3.35.
_MIN_SQLITE: Final = (3, 35, 0)
_BUSY_TIMEOUT_MS: Final = 10_000


def check_version() -> None:
    """ConfigError when this Python's SQLite is too old for the store."""
    if sqlite3.sqlite_version_info < _MIN_SQLITE:
        raise ConfigError(
            f"thingport needs SQLite {'.'.join(map(str, _MIN_SQLITE))} or newer (for "
            f"RETURNING); this Python uses SQLite {sqlite3.sqlite_version}"
        )


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (we issue BEGIN/COMMIT ourselves) that waits for locks;
    ConfigError when the file cannot be opened."""
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False only so
        # that close() can close a connection after its thread has stopped; each connection is
        # used by one thread at a time.
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise ConfigError(f"Cannot open the SQLite database {path!r}: {exc}") from exc
    return conn


def configure_writer(conn: sqlite3.Connection, path: str) -> None:
    """Switch the file to WAL and set the writer's durability and cache pragmas."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ConfigError(
            f"SQLite database {path!r} cannot use WAL mode (got {mode!r}); "
            "put it on a local file system"
        )
    # FULL: the WAL is fsynced at every commit, so an acknowledged write survives a
    # power loss, not only a crash of the process.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -32768")
    # Keeps the WAL file from staying huge after a burst.
    conn.execute("PRAGMA journal_size_limit = 67108864")


def connect_reader(path: str) -> sqlite3.Connection:
    """A read-only connection for one reader thread."""
    conn = connect(path)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA cache_size = -16384")
    conn.create_function("tp_contains", 2, _contains, deterministic=True)
    return conn


def _contains(haystack: str | None, folded_needle: str) -> bool:
    # Python's casefold, because SQLite's LIKE and lower() fold ASCII letters only.
    return haystack is not None and folded_needle in haystack.casefold()


#: How SQLite writes a page query: ``?`` placeholders, ``tp_contains`` (see ``_contains``) for
#: the search, NOCASE for text sort keys.
STYLE: Final = SqlStyle(
    placeholder=lambda n: "?",
    contains=lambda column, placeholder: f"tp_contains({column}, {placeholder})",
    text_order=lambda column: f"{column} COLLATE NOCASE",
    fold=str.casefold,
)


def read_page(
    conn: sqlite3.Connection,
    listing: Listing,
    where: list[str],
    params: list[Any],
    link: PageLink,
    make: Callable[[tuple[Any, ...]], _T],
) -> Page[_T]:
    """One page of ``listing`` on a reader connection; ``where`` uses ``?`` for ``params``."""
    query = page_query(listing, where, params, link, STYLE)
    # One read transaction, so the count and the rows come from the same snapshot.
    conn.execute("BEGIN")
    try:
        total = conn.execute(query.count_sql, query.count_params).fetchone()[0]
        found: Sequence[Any] = conn.execute(query.rows_sql, query.rows_params).fetchall()
    finally:
        conn.execute("COMMIT")
    return to_page(found, total, link, make)
