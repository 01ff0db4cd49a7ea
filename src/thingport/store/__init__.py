"""Storage backends, chosen by the URL's scheme; a backend's module is imported only when used."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from urllib.parse import urlparse

from thingport.errors import ConfigError
from thingport.store.base import Store

if TYPE_CHECKING:
    from thingport.settings import Settings


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL; None for another scheme. ConfigError for a
    SQLite URL without a path."""
    if urlparse(url).scheme != "sqlite":
        return None
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
    if not path:
        raise ConfigError(f"THINGPORT_DATABASE_URL: expected sqlite:///path, got {url!r}")
    return path


def store_from_url(
    url: str, settings: Settings | None = None, *, holder: str = "thingport"
) -> Store:
    """A (not yet opened) store for ``sqlite:///path`` or ``postgresql://...``
    (``postgres://`` too), sized and tuned by ``settings`` where it has a say. ``holder`` says
    who has a SQLite store open, to the next process that tries."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from thingport.store.sqlite import SQLiteStore

        return SQLiteStore(cast(str, sqlite_path(url)), holder=holder,
                           ts_ttl_days=settings.ts_ttl_days if settings else 0)
    if scheme in {"postgres", "postgresql"}:
        try:
            import asyncpg  # noqa: F401  (only to tell early that the driver is missing)
        except ImportError:
            raise ConfigError(
                "THINGPORT_DATABASE_URL names PostgreSQL, but its driver is not installed: "
                "pip install 'thingport[postgres]'"
            ) from None
        from thingport.store.postgresql import PostgresStore

        if settings is None:
            return PostgresStore(url)
        return PostgresStore(
            url, pool_size=settings.database_pool_size,
            ts_partitioning=settings.ts_partitioning, ts_ttl_days=settings.ts_ttl_days,
        )
    raise ConfigError(
        f"THINGPORT_DATABASE_URL: unsupported scheme {scheme!r} "
        "(use sqlite:///path or postgresql://user@host:port/database)"
    )
