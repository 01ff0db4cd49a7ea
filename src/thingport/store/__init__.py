"""Storage backends, chosen by the URL's scheme; a backend's module is imported only when used."""

from __future__ import annotations

from urllib.parse import urlparse

from thingport.errors import ConfigError
from thingport.store.base import Store


def store_from_url(url: str) -> Store:
    """A (not yet opened) store for ``sqlite:///path``."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from thingport.store.sqlite import SQLiteStore

        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"THINGPORT_DATABASE_URL: expected sqlite:///path, got {url!r}")
        return SQLiteStore(path)
    if scheme in {"postgres", "postgresql"}:
        raise ConfigError(
            "THINGPORT_DATABASE_URL: the PostgreSQL store is not part of this version yet; "
            "use sqlite:///path"
        )
    raise ConfigError(
        f"THINGPORT_DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:///path)"
    )
