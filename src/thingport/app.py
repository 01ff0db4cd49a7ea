"""``create_app(settings)``: the store, services and both HTTP faces, wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from thingport import web
from thingport.admin import socket_path
from thingport.admin.listener import Listener
from thingport.api import metrics as metrics_api
from thingport.api import routes, ws
from thingport.api.errors import exception_handlers
from thingport.bus import Bus, bus_from_url
from thingport.domain.kv_json import ConverterConfig
from thingport.errors import ConfigError, StoreUnavailable
from thingport.http.asgi import Receive, Scope, Send
from thingport.http.drain import UNAUTHENTICATED_DRAIN_BYTES, DrainUnreadBody
from thingport.lifecycle import Lifecycle
from thingport.metrics import Metrics, count_bus_messages, registry
from thingport.services import Services
from thingport.services.failure_limit import Primary
from thingport.services.users import FirstLogin
from thingport.settings import Settings
from thingport.store import sqlite_path, store_from_url
from thingport.store.base import Store
from thingport.transport.device_api import PREFIX, DeviceApi

if TYPE_CHECKING:
    from thingport.workers import Workers

log = logging.getLogger("thingport")


def jwt_key(settings: Settings) -> str:
    """The configured signing key, else one generated once and kept in the data directory
    (so tokens survive a restart)."""
    if settings.jwt_signing_key:
        return settings.jwt_signing_key
    path = Path(settings.data_dir) / "jwt-signing-key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def build_services(settings: Settings, *, holder: str = "thingport serve",
                   store: Store | None = None, bus: Bus | None = None,
                   primary: Primary | None = None) -> Services:
    """Services over the configured (not yet opened) store; ``holder`` names this process in
    a SQLite store's lock. A worker process passes its own ``store``, ``bus`` and
    ``primary``."""
    if settings.store_url.startswith("sqlite:"):
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return Services.build(
        store or store_from_url(settings.store_url, settings, holder=holder),
        bus or bus_from_url(settings.redis_url), settings, jwt_key(settings), primary=primary,
    )


#: How often expired RPCs are finished and expired client requests forgotten.
SWEEP_INTERVAL_S = 1.0


async def sweep(services: Services) -> None:
    """Run for the server's lifetime: finish what has expired (every node may do this; each
    change is a compare-and-set in the store)."""
    unavailable = False  # the store cannot write now (a full disk): said once, not each time
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            await services.rpc.expire()
            await services.client_rpc.forget_expired()
            await services.ota.sweep()
        except StoreUnavailable as exc:
            if not unavailable:
                log.warning("expiry sweep failed (%s); it runs again once the store can "
                            "write", exc)
            unavailable = True
        except Exception:
            log.exception("expiry sweep failed; trying again")
        else:
            if unavailable:
                log.warning("expiry sweep works again")
            unavailable = False


#: How often the store's upkeep runs (partitions ahead, retention); it also runs at open.
MAINTAIN_INTERVAL_S = 3600.0


async def maintain(services: Services) -> None:
    """Run for the server's lifetime: the store's periodic upkeep, on every node (the store
    makes that safe)."""
    while True:
        try:
            await services.store.maintain()
        except StoreUnavailable as exc:  # a full disk, say: expected, no traceback
            log.warning("store maintenance failed (%s); trying again in an hour", exc)
        except Exception:
            log.exception("store maintenance failed; trying again in an hour")
        await asyncio.sleep(MAINTAIN_INTERVAL_S)


async def bootstrap(services: Services, settings: Settings) -> list[FirstLogin]:
    """Create the first administrators on an empty store."""
    return await services.users.bootstrap(
        settings.sysadmin_email, settings.sysadmin_password,
        settings.tenant_admin_email, settings.tenant_admin_password,
    )


def announce(created: list[FirstLogin]) -> None:
    """Print the logins created on first start: the only time a generated password is shown."""
    if not created:
        return
    lines = ["", "thingport: first start, created these logins:"]
    for login in created:
        shown = login.password if login.generated else "(the password you configured)"
        lines.append(f"  {login.authority.value:<13} {login.email}  password: {shown}")
    lines.append("")
    # stderr: a command's own output (a token) stays clean for $(thingport device create x).
    print("\n".join(lines), file=sys.stderr, flush=True)


class Thingport:
    """The ASGI app: the device API on ``/api/v1/``; the REST and WebSocket APIs and the UI
    in the Starlette app."""

    def __init__(self, device_api: DeviceApi, rest: Starlette, rest_max_payload: int,
                 workers: Workers | None = None) -> None:
        self.device_api = device_api
        self.workers = workers
        self.rest = rest
        self.lifecycle = device_api.lifecycle
        # The REST app counted, and any body it leaves unread drained before its answer: up to
        # twice what a REST body may be, so that a proxy relays the 413 (or the 401 of a
        # request without a login) and nobody gets the server to read more for nothing.
        self._rest = metrics_api.CountRequests(
            DrainUnreadBody(rest, max(UNAUTHENTICATED_DRAIN_BYTES, 2 * rest_max_payload)),
            device_api.metrics,
        )

    @property
    def startup_error(self) -> ConfigError | None:
        """The setting that stopped the lifespan's start, if one did."""
        return getattr(self.rest.state, "startup_error", None)

    async def stop_waiting(self) -> None:
        """The server is stopping: answer the waiting polls, close the WebSockets (and tell
        the other workers to do the same)."""
        if self.workers is not None:
            self.workers.terminate()
        await self.lifecycle.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.device_api(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.rest(scope, receive, self._lifespan_send(send))
        else:
            await self._rest(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def sending(message: Any) -> None:
            if message["type"] == "lifespan.startup.failed" and self.startup_error is not None:
                # A bad setting is one line (thingport.server prints it), not a traceback.
                message = {**message, "message": ""}
            await send(message)

        return sending


@contextlib.contextmanager
def remember_startup_error(state: Any) -> Iterator[None]:
    """Keep a ConfigError raised while starting on ``state`` (then re-raise it), for
    ``Thingport.startup_error``."""
    try:
        yield
    except ConfigError as exc:
        state.startup_error = exc
        raise


def create_app(settings: Settings | None = None, *, store: Store | None = None,
               bus: Bus | None = None, control: bool = True,
               workers: Workers | None = None, primary: Primary | None = None) -> Thingport:
    """The whole server as one ASGI app; its lifespan opens and closes the store. A worker
    process passes the ``store``, ``bus`` and ``primary`` (its failure limits) that reach the
    primary, and no ``control`` (the primary takes the CLI's commands); the primary passes its
    other ``workers``, started once the store is open and stopped before it closes."""
    settings = settings or Settings.from_env()
    services = build_services(settings, store=store, bus=bus, primary=primary)
    converter = ConverterConfig(settings.json_type_cast, settings.json_max_string_length,
                                settings.json_max_json_length, settings.max_data_points)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with remember_startup_error(app.state):
            await services.store.open()
        tasks: list[asyncio.Task[None]] = []
        database = sqlite_path(settings.store_url)
        listener = Listener(services, socket_path(database)) if database and control else None
        try:
            with remember_startup_error(app.state):
                await services.bus.start()
            # Tenants need a profile before the first one is made; the device API its limits.
            await services.tenant_profiles.default_profile()
            await services.rate_limits.refresh()
            tasks.append(asyncio.create_task(services.rate_limits.run()))
            announce(await bootstrap(services, settings))
            if listener is not None:
                # The CLI's commands reach this process's services here, not the file.
                await listener.start()
            tasks.append(asyncio.create_task(services.devices.forget_changed_devices()))
            tasks.append(asyncio.create_task(sweep(services)))
            tasks.append(asyncio.create_task(maintain(services)))
            # Cancelled with the others, it stores the activity still pending before the
            # store closes.
            tasks.append(asyncio.create_task(services.activity.run()))
            if workers is not None:
                await workers.start(services)
            yield
        finally:
            if workers is not None:
                await workers.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if listener is not None:
                await listener.close()
            await services.close_limits()
            await services.auth.close()
            await services.bus.stop()
            await services.store.close()

    lifecycle, metrics = Lifecycle(), Metrics()
    count_bus_messages(services.bus, metrics)
    rest = Starlette(
        routes=[*routes(), *ws.routes(), *web.routes(),
                *(metrics_api.routes if settings.metrics_enabled else [])],
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    rest.state.services = services
    rest.state.settings = settings
    rest.state.converter = converter
    rest.state.lifecycle = lifecycle
    rest.state.metrics = metrics
    rest.state.metrics_registry = registry(metrics, lifecycle, services)
    device_api = DeviceApi(
        services, settings.payload_limits, converter,
        settings.request_timeout_ms, settings.max_request_timeout_ms, lifecycle, metrics,
    )
    return Thingport(device_api, rest, settings.rest_max_payload, workers)
