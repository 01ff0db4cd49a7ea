"""Many saves committed together (SQLite's group commit): the latest value of each key is its
newest sample, the later save winning a tie, whichever batch and operation carried it."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from thingport.domain.model import DataType, Device, KvEntry
from thingport.store.base import Store
from thingport.store.sqlite import SQLiteStore

from .conftest import MakeDevice


def _batch(rng: random.Random) -> list[tuple[int, list[KvEntry]]]:
    """One to four groups, timestamps in or out of order and often equal, keys repeated."""
    return [
        (rng.randrange(5), [KvEntry(rng.choice("abc"), DataType.LONG, rng.randrange(10**6))
                            for _ in range(rng.randrange(1, 4))])
        for _ in range(rng.choice([1, 1, 2, 4]))
    ]


@pytest.mark.parametrize("store_factory", ["sqlite"], indirect=True)
async def test_concurrent_saves_leave_the_newest_and_last_values(
    store: Store, make_device: MakeDevice
) -> None:
    assert isinstance(store, SQLiteStore)
    devices: list[Device] = [(await make_device(f"d{i}"))[0] for i in range(3)]
    rng = random.Random(7)
    for _ in range(5):
        saves = [(rng.choice(devices), _batch(rng)) for _ in range(300)]
        # Queued in this order (each save queues its operation before its first wait).
        await asyncio.gather(*(store.save_telemetry(d.id, batch) for d, batch in saves))
        latest: dict[tuple[Any, str], tuple[int, int]] = {}
        stored: dict[tuple[Any, str, int], int] = {}
        for device, batch in saves:
            for ts, entries in batch:
                for entry in entries:
                    key = (device.id, entry.key)
                    if key not in latest or ts >= latest[key][0]:
                        latest[key] = (ts, int(entry.value))
                    stored[(device.id, entry.key, ts)] = int(entry.value)
        for device in devices:
            got = {(device.id, e.key): (e.ts, e.value)
                   for e in await store.get_latest_telemetry(device.id)}
            assert got == {k: v for k, v in latest.items() if k[0] == device.id}
            for key in "abc":
                history = await store.get_telemetry(device.id, key, 0, 10, 100)
                assert {(device.id, key, e.ts): e.value for e in history} == {
                    k: v for k, v in stored.items() if k[:2] == (device.id, key)}
