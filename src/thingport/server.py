"""Run the app under uvicorn with the configured listener (and TLS, when enabled)."""

from __future__ import annotations

import logging

import uvicorn

from thingport.app import create_app
from thingport.settings import Settings


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration for ``settings``: no body limit of its own (the app enforces
    ThingsBoard's), no access log on the hot path."""
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=60,
        timeout_graceful_shutdown=5,
    )


def run(settings: Settings) -> None:
    """Serve until interrupted."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.Server(uvicorn_config(settings)).run()
