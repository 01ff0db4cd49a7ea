"""``create_app(settings)``: the store, services and both HTTP faces, wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette

from thingport import web
from thingport.api import exception_handlers, routes, ws
from thingport.bus import bus_from_url
from thingport.domain.kv_json import ConverterConfig
from thingport.services import Services
from thingport.services.users import FirstLogin
from thingport.settings import Settings
from thingport.store import store_from_url
from thingport.transport.asgi import Receive, Scope, Send
from thingport.transport.device_api import PREFIX, DeviceApi

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


def build_services(settings: Settings) -> Services:
    """Services over the configured (not yet opened) store."""
    if settings.store_url.startswith("sqlite:"):
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return Services.build(
        store_from_url(settings.store_url), bus_from_url(settings.redis_url), settings,
        jwt_key(settings),
    )


#: How often expired RPCs are finished and expired client requests forgotten.
SWEEP_INTERVAL_S = 1.0


async def sweep(services: Services) -> None:
    """Run for the server's lifetime: finish what has expired (every node may do this; each
    change is a compare-and-set in the store)."""
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            await services.rpc.expire()
            await services.client_rpc.forget_expired()
            await services.ota.sweep()
        except Exception:
            log.exception("expiry sweep failed; trying again")


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

    def __init__(self, device_api: DeviceApi, rest: Starlette) -> None:
        self.device_api = device_api
        self.rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.device_api(scope, receive, send)
        else:
            await self.rest(scope, receive, send)


def create_app(settings: Settings | None = None) -> Thingport:
    """The whole server as one ASGI app; its lifespan opens and closes the store."""
    settings = settings or Settings.from_env()
    services = build_services(settings)
    converter = ConverterConfig(settings.json_type_cast, settings.json_max_string_length)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.store.open()
        tasks: list[asyncio.Task[None]] = []
        try:
            await services.bus.start()
            announce(await bootstrap(services, settings))
            tasks.append(asyncio.create_task(services.devices.forget_changed_devices()))
            tasks.append(asyncio.create_task(sweep(services)))
            # Cancelled with the others, it stores the activity still pending before the
            # store closes.
            tasks.append(asyncio.create_task(services.activity.run()))
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await services.bus.stop()
            await services.store.close()

    rest = Starlette(
        routes=[*routes(), *ws.routes(), *web.routes()],
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    rest.state.services = services
    rest.state.settings = settings
    rest.state.converter = converter
    device_api = DeviceApi(
        services, settings.payload_limits, converter,
        settings.request_timeout_ms, settings.max_request_timeout_ms,
    )
    return Thingport(device_api, rest)
