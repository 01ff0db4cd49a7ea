"""In-process servers for handler tests: the whole app (its lifespan included) behind httpx's
ASGI transport, on a store of the test's own (``local``), or one app for the session that each
test makes its own devices in (``api``, ``anonymous``: synchronous clients, through
``tests.in_process``). What needs real sockets uses a live server (``live_api``) instead."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_client import Api
from tests.in_process import InProcess, serving
from tests.live import TENANT_ADMIN
from tests.seed import Seed, app_settings, the_seed
from thingport.app import Thingport, create_app
from thingport.services import Services


@dataclass
class Local:
    """The app, its services, and a client logged in as the tenant administrator."""

    app: Thingport
    services: Services
    client: httpx.AsyncClient
    others: list[httpx.AsyncClient] = field(default_factory=list)

    async def create_device(self, name: str | None = None, **params: Any
                            ) -> tuple[dict[str, Any], str]:
        """A new device and its access token."""
        response = await self.client.post(
            "/api/device", json={"name": name or f"device-{uuid.uuid4().hex[:8]}"},
            params=params)
        response.raise_for_status()
        device = response.json()
        credentials = await self.client.get(f"/api/device/{device['id']['id']}/credentials")
        credentials.raise_for_status()
        return device, credentials.json()["credentialsId"]

    async def login(self, username: str, password: str,
                    base_url: str = "http://testserver") -> httpx.AsyncClient:
        """Another client, logged in as someone else (or at another address)."""
        client = await login(self.app, username, password, base_url)
        self.others.append(client)
        return client

    async def customer_user(self, title: str) -> tuple[str, httpx.AsyncClient]:
        """A new customer with an activated user; its id and the user's client."""
        customer = await self.client.post("/api/customer", json={"title": title})
        customer.raise_for_status()
        customer_id = customer.json()["id"]["id"]
        email = f"user-{uuid.uuid4().hex[:8]}@customer.example"
        user = await self.client.post("/api/user", params={"sendActivationMail": "false"},
                                      json={"email": email, "authority": "CUSTOMER_USER",
                                            "customerId": {"entityType": "CUSTOMER",
                                                           "id": customer_id}})
        user.raise_for_status()
        link = await self.client.get(f"/api/user/{user.json()['id']['id']}/activationLink")
        link.raise_for_status()
        activated = await self.client.post("/api/noauth/activate", json={
            "activateToken": link.text.split("activateToken=")[1], "password": "secret-pass"})
        activated.raise_for_status()
        return customer_id, await self.login(email, "secret-pass")


async def login(app: Thingport, username: str, password: str,
                base_url: str = "http://testserver") -> httpx.AsyncClient:
    """A client of ``app`` logged in as ``username``."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
    response = await client.post("/api/auth/login",
                                 json={"username": username, "password": password})
    response.raise_for_status()
    client.headers["X-Authorization"] = f"Bearer {response.json()['token']}"
    return client


def tenant_admin_client(app: Thingport) -> httpx.AsyncClient:
    """A client of ``app``, started on a copy of the seed (``tests.seed.seeded``), logged in as
    the tenant administrator with the seed's token (no login, no argon2 check)."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                               base_url="http://testserver")
    client.headers["X-Authorization"] = f"Bearer {the_seed().tokens[TENANT_ADMIN[0]]}"
    return client


@pytest.fixture
async def local(tmp_path: Path, seed: Seed) -> AsyncIterator[Local]:
    """A fresh in-process server (a copy of the session's seed store) with the tenant
    administrator logged in."""
    app = create_app(app_settings(seed.copy_to(tmp_path)))
    async with app.rest.router.lifespan_context(app.rest):
        client = tenant_admin_client(app)
        try:
            local = Local(app, app.rest.state.services, client)
            yield local
        finally:
            for each in [client, *local.others]:
                await each.aclose()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, seed: Seed) -> Iterator[InProcess]:
    """One in-process app for the session (per xdist worker), on a copy of the seed store."""
    app = create_app(app_settings(seed.copy_to(tmp_path_factory.mktemp("served"))))
    with serving(app) as transport:
        yield transport


@pytest.fixture
def anonymous(served: InProcess) -> Iterator[httpx.Client]:
    """A client of the session's in-process app, without credentials."""
    with Api.over(served).anonymous() as client:
        yield client


@pytest.fixture
def api(served: InProcess) -> Api:
    """The tenant administrator of the session's in-process app (the seed's token: no login)."""
    return logged_in(Api.over(served))


def logged_in(api: Api) -> Api:
    """``api`` as the seed's tenant administrator (the seed's token: no login)."""
    api.token = the_seed().tokens[TENANT_ADMIN[0]]
    api.http.headers["X-Authorization"] = f"Bearer {api.token}"
    return api
