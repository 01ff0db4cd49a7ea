"""Storage backends, chosen by the URL's scheme; drivers are imported only when used."""

from __future__ import annotations

from urllib.parse import urlparse

from thingport.errors import ConfigError
from thingport.store.base import Store


def store_from_url(url: str) -> Store:
    """A (not yet opened) store for ``sqlite:///path`` or ``postgresql://...``."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from thingport.store.sqlite import SQLiteStore

        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"THINGPORT_DATABASE_URL: expected sqlite:///path, got {url!r}")
        return SQLiteStore(path)
    if scheme in {"postgres", "postgresql"}:
        try:
            from thingport.store.postgres import PostgresStore  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ConfigError(
                "THINGPORT_DATABASE_URL: PostgreSQL needs the driver: "
                f"pip install 'thingport[postgres]' ({exc})"
            ) from None
        return PostgresStore(url)  # type: ignore[no-any-return]
    raise ConfigError(
        f"THINGPORT_DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)"
    )
