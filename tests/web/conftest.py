"""The whole app in-process (its lifespan included) behind httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.live import SYSADMIN, TENANT_ADMIN
from tests.seed import seeded
from thingport.app import Thingport, create_app
from thingport.settings import Settings


def make_settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        data_dir=str(tmp_path), jwt_signing_key="k" * 48,
        sysadmin_password=SYSADMIN[1], tenant_admin_password=TENANT_ADMIN[1],
    ).replace(**changes)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Thingport]:
    """A fresh app on a store of the test's own (a copy of the seed's: no first-start
    hashing), started."""
    application = create_app(make_settings(seeded(tmp_path)))
    async with application.rest.router.lifespan_context(application.rest):
        yield application


@pytest.fixture
async def client(app: Thingport) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client of ``app`` (it keeps cookies)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def bare_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that was never started: enough for what needs no store (the shell,
    static files, refusals), and fast, since starting hashes the first passwords."""
    application = create_app(make_settings(tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                 base_url="http://testserver") as http:
        yield http
