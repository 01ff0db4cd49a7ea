"""Run the app under uvicorn with the configured listener (and TLS, when enabled)."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from thingport.app import create_app
from thingport.settings import Settings
from thingport.tls import TlsConfig, build_ssl_context


class ThingportConfig(uvicorn.Config):
    """uvicorn's configuration with the SSL context built by ``thingport.tls`` (uvicorn's own
    options take only PEM file paths; ThingsBoard's variables also allow keystores)."""

    def __init__(self, app: Any, *, tls: TlsConfig, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        # Keep the config, not a context: uvicorn pickles its config into worker processes.
        self.tls = tls if tls.enabled else None

    def load(self) -> None:
        super().load()
        if self.tls is not None:
            self.ssl = build_ssl_context(self.tls)


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration for ``settings``: no body limit of its own (the app enforces
    ThingsBoard's), no access log on the hot path."""
    return ThingportConfig(
        create_app(settings),
        tls=settings.tls,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        # Forwarded headers are believed only from configured proxies: anyone else could
        # claim any address (and dodge the per-address provisioning limit).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or "",
        timeout_keep_alive=60,
        # WebSocket keepalive as ThingsBoard's: by default a ping every 10 s, closed after 30 s
        # without a pong. The frame limit is checked by the session too (with ThingsBoard's
        # 1009); this one keeps a larger frame from being buffered at all.
        ws_ping_interval=settings.ws_ping_timeout_ms / 3000,
        ws_ping_timeout=settings.ws_ping_timeout_ms / 1000,
        ws_max_size=65536,
        timeout_graceful_shutdown=5,
    )


def run(settings: Settings) -> None:
    """Serve until interrupted. A bad TLS setting stops here, before anything listens."""
    if settings.tls.enabled:
        build_ssl_context(settings.tls)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    uvicorn.Server(uvicorn_config(settings)).run()
