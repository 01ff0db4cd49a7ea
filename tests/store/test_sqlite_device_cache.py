"""The SQLite writer's device cache: bounded, least recently used first, and the map it
publishes to the event loop never holds more than it does."""

from __future__ import annotations

import sqlite3
import uuid
from uuid import UUID

import pytest

from thingport.store.sqlite import tx as tx_module
from thingport.store.sqlite.tx import Tx


@pytest.fixture
def devices() -> list[UUID]:
    return [uuid.uuid4() for _ in range(3)]


@pytest.fixture
def conn(devices: list[UUID]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE device (seq INTEGER PRIMARY KEY, id TEXT NOT NULL)")
    conn.executemany("INSERT INTO device (seq, id) VALUES (?, ?)",
                     [(seq, str(device)) for seq, device in enumerate(devices, 1)])
    return conn


def test_the_least_recently_used_device_is_forgotten_and_unpublished(
        monkeypatch: pytest.MonkeyPatch, conn: sqlite3.Connection, devices: list[UUID]) -> None:
    monkeypatch.setattr(tx_module, "_DEVICE_CACHE_LIMIT", 2)
    published: dict[UUID, int] = {}
    tx = Tx(conn, {}, published)
    one, two, three = devices
    assert tx.device_seq(one) == 1
    assert tx.device_seq(two) == 2
    tx.publish()
    assert published == {one: 1, two: 2}
    assert tx.device_seq(one) == 1  # used again: "two" is the least recently used
    assert tx.device_seq(three) == 3
    assert published == {one: 1}  # "two" left the writer's cache, so the loop's map too
    tx.publish()
    assert published == {one: 1, three: 3}
    conn.execute("UPDATE device SET seq = 20 WHERE seq = 2")  # proves "two" is read again
    assert tx.device_seq(two) == 20
    tx.publish()
    assert published == {three: 3, two: 20}


def test_forgetting_a_device_drops_it_from_both_maps(
        conn: sqlite3.Connection, devices: list[UUID]) -> None:
    published: dict[UUID, int] = {}
    tx = Tx(conn, {}, published)
    tx.device_seq(devices[0])
    tx.publish()
    tx.forget_device(devices[0])
    assert published == {}
    conn.execute("UPDATE device SET seq = 10 WHERE seq = 1")
    assert tx.device_seq(devices[0]) == 10
