"""Helpers of the login-security tests: apps with settings of the test's own, clients at a
chosen client address, logins that return the raw response."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.live import SYSADMIN, TENANT_ADMIN
from tests.seed import seeded
from thingport.app import Thingport, create_app
from thingport.domain.model import Authority, User
from thingport.services import Services
from thingport.settings import Settings

PASSWORD = "right-password"


@contextlib.asynccontextmanager
async def running(data_dir: Path, **overrides: Any) -> AsyncIterator[Thingport]:
    """An app (lifespan started) with the tests' administrators and ``overrides``."""
    if "database_url" not in overrides:
        seeded(data_dir)  # the administrators exist: no first-start hashing
    settings = Settings(
        data_dir=str(data_dir), jwt_signing_key="k" * 48,
        sysadmin_password=SYSADMIN[1], tenant_admin_password=TENANT_ADMIN[1], **overrides,
    )
    app = create_app(settings)
    async with app.rest.router.lifespan_context(app.rest):
        yield app


def services_of(app: Thingport) -> Services:
    services: Services = app.rest.state.services
    return services


def client(app: Thingport, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client whose requests come from ``address``."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://testserver")


async def login(app: Thingport, email: str, password: str,
                address: str = "127.0.0.1") -> httpx.Response:
    async with client(app, address) as c:
        return await c.post("/api/auth/login", json={"username": email, "password": password})


@contextlib.asynccontextmanager
async def logged_in(app: Thingport, email: str, password: str,
                    address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client with the access token of ``email``."""
    response = await login(app, email, password, address)
    response.raise_for_status()
    async with client(app, address) as c:
        c.headers["X-Authorization"] = f"Bearer {response.json()['token']}"
        yield c


async def new_user(app: Thingport, password: str = PASSWORD) -> User:
    """Another administrator of the default tenant, with ``password``."""
    users = services_of(app).users
    tenant = await users.default_tenant()
    user, _ = await users.create_user(tenant.id, None, f"u-{uuid.uuid4().hex[:8]}@x.io",
                                      Authority.TENANT_ADMIN, password=password)
    return user


async def set_max_failed(app: Thingport, attempts: int | None) -> None:
    """The sysadmin's security settings with this lockout threshold."""
    async with logged_in(app, *SYSADMIN) as admin:
        settings = (await admin.get("/api/admin/securitySettings")).json()
        settings["maxFailedLoginAttempts"] = attempts
        (await admin.post("/api/admin/securitySettings", json=settings)).raise_for_status()


def message(response: httpx.Response) -> str:
    body = response.json()
    text: str = body["message"]
    return text
