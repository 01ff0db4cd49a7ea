"""What only the SQLite store promises about commands and attribute changes: polls that find
nothing stay off the writer, and a database of the first release is migrated. (Moved out of the
store contract, which every backend must pass.)"""

from __future__ import annotations

import importlib.resources
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.store.test_store_contract_commands import LATER, NOW, SHARED, attr, kv, new_rpc
from thingport.domain.model import ClaimWindow, Device
from thingport.store.base import Store
from thingport.store.sqlite import SQLiteStore

#: The store fixtures (tests/store/conftest.py) on SQLite alone.
SQLITE = pytest.mark.parametrize("store_factory", ["sqlite"], indirect=True)


@pytest.fixture
def sqlite_store(store: Store) -> SQLiteStore:
    assert isinstance(store, SQLiteStore)
    return store


@SQLITE
async def test_sqlite_polls_finding_nothing_stay_off_the_writer(
    sqlite_store: SQLiteStore, device: Device
) -> None:
    before = sqlite_store.stats.operations
    for _ in range(3):
        assert await sqlite_store.take_next_rpc(device.id, NOW) is None
        assert await sqlite_store.take_client_rpc(device.id, NOW) is None
        assert not await sqlite_store.take_attribute_changes(device.id)
    assert sqlite_store.stats.operations == before


async def test_sqlite_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    # A database made by the first release: schema 1 and a device, no rpc_seq column yet.
    path = str(tmp_path / "v1.db")
    init = (
        importlib.resources.files("thingport.store") / "migrations" / "sqlite" / "0001_init.sql"
    ).read_text(encoding="utf-8")
    tenant_id, profile_id, device_id = (str(uuid.uuid4()) for _ in range(3))
    conn = sqlite3.connect(path)
    conn.executescript(init)
    conn.executescript(
        f"""
        INSERT INTO tenant (id, title, created_time) VALUES ('{tenant_id}', 'T', 1);
        INSERT INTO device_profile (id, tenant_id, name, created_time, is_default, type,
            transport_type, provision_type, profile_data)
            VALUES ('{profile_id}', '{tenant_id}', 'default', 1, 1, 'DEFAULT', 'DEFAULT',
            'DISABLED', '{{}}');
        INSERT INTO device (id, tenant_id, name, type, device_profile_id, created_time)
            VALUES ('{device_id}', '{tenant_id}', 'old', 'default', '{profile_id}', 1);
        PRAGMA user_version = 1;
        """
    )
    conn.close()

    store = SQLiteStore(path)
    await store.open()
    try:
        device = await store.get_device(uuid.UUID(device_id))
        assert device is not None and device.name == "old"
        assert (await store.create_rpc(new_rpc(device))).request_id == 1
        await store.open_claim_window(ClaimWindow(device.id, "s", LATER), NOW)
        await store.save_attributes_tracked(device.id, SHARED, [kv("k", 1)], 1)
        assert (await store.take_attribute_changes(device.id)).updated == [attr("k", 1, 1)]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        # Every shipped migration ran (0002 and any later one).
        latest = len([f for f in (importlib.resources.files("thingport.store") / "migrations"
                                  / "sqlite").iterdir() if f.name.endswith(".sql")])
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest >= 2
    finally:
        conn.close()
