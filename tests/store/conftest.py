"""Fixtures of the store contract suite: every test runs once per backend.

A backend is a name in ``BACKENDS`` and a factory in ``_FACTORIES``. A factory gets the test's
temporary directory and returns a context manager giving a function that makes a new, unopened
store on the same storage each time it is called, so a test can close a store and open it again
to check what survived.

PostgreSQL (the machine's server, ``tests.services.POSTGRES_URL``): each test gets a schema of
its own in that database, dropped after the test; the stores reach it through ``search_path``
in the URL. Without a server the PostgreSQL runs are skipped, or fail under CI=true.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.services import POSTGRES_URL, require_postgres
from thingport.domain.model import (
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceProfile,
    Tenant,
)
from thingport.store.base import Store
from thingport.store.sqlite import SQLiteStore

StoreFactory = Callable[[], Store]


@contextlib.asynccontextmanager
async def _sqlite(tmp_path: Path) -> AsyncIterator[StoreFactory]:
    path = str(tmp_path / "thingport.db")
    yield lambda: SQLiteStore(path)


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A new, empty schema in the test database (dropped afterwards) and the URL of a store
    that lives in it."""
    require_postgres()
    import asyncpg

    schema = f"thingport_test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        separator = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{separator}search_path={schema}"
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


@contextlib.asynccontextmanager
async def _postgresql(tmp_path: Path) -> AsyncIterator[StoreFactory]:
    from thingport.store.postgresql import PostgresStore

    async with postgres_schema() as url:
        yield lambda: PostgresStore(url, pool_size=4)


BACKENDS = ["sqlite", "postgresql"]
_FACTORIES: dict[str, Callable[[Path], contextlib.AbstractAsyncContextManager[StoreFactory]]] = {
    "sqlite": _sqlite, "postgresql": _postgresql,
}


@pytest.fixture(params=BACKENDS)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Makes unopened stores of one backend, all on this test's own storage."""
    async with _FACTORIES[request.param](tmp_path) as factory:
        yield factory


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    """An open, empty store, closed after the test."""
    opened = store_factory()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def tenant(store: Store) -> Tenant:
    """A saved tenant."""
    saved = Tenant(id=uuid.uuid4(), title="Tenant", created_time=now_ms())
    await store.save_tenant(saved)
    return saved


@pytest.fixture
async def profile(store: Store, tenant: Tenant) -> DeviceProfile:
    """The tenant's saved default device profile."""
    saved = DeviceProfile(
        id=uuid.uuid4(), tenant_id=tenant.id, name="default", created_time=now_ms(), default=True
    )
    await store.save_device_profile(saved)
    return saved


MakeDevice = Callable[..., Awaitable[tuple[Device, DeviceCredentials]]]


@pytest.fixture
def make_device(store: Store, tenant: Tenant, profile: DeviceProfile) -> MakeDevice:
    """Creates a device of the tenant with an access token (both derived from the name unless
    given) and returns it with its credentials."""

    async def make(
        name: str, *, token: str | None = None, type: str = "default",
        label: str | None = None, created_time: int | None = None, **fields: object,
    ) -> tuple[Device, DeviceCredentials]:
        device = Device(
            id=uuid.uuid4(), tenant_id=tenant.id, name=name, type=type,
            device_profile_id=profile.id,
            created_time=created_time if created_time is not None else now_ms(),
            label=label, **fields,  # type: ignore[arg-type]
        )
        credentials = DeviceCredentials(
            id=uuid.uuid4(), device_id=device.id, created_time=device.created_time,
            credentials_type=DeviceCredentialsType.ACCESS_TOKEN,
            credentials_id=token if token is not None else f"token-{name}",
        )
        await store.create_device(device, credentials)
        return device, credentials

    return make


@pytest.fixture
async def device(make_device: MakeDevice) -> Device:
    """A saved device."""
    return (await make_device("device-1"))[0]
