"""One process per SQLite store: the lock file and what a second opener is told."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from thingport.store.shared.errors import StoreMissing
from thingport.store.sqlite import SQLiteStore
from thingport.store.sqlite.lock import StoreInUse, StoreLock, check_free, read_holder


def test_a_held_lock_names_its_holder(tmp_path: Path) -> None:
    database = str(tmp_path / "thingport.db")
    first = StoreLock(database, "thingport serve")
    first.acquire()
    assert read_holder(database) == (os.getpid(), "thingport serve")
    # flock belongs to an open file, so a second lock in this process conflicts as another
    # process's would.
    with pytest.raises(StoreInUse) as refused:
        StoreLock(database, "thingport device create").acquire()
    assert refused.value.pid == os.getpid()
    assert refused.value.holder == "thingport serve"
    assert f"in use by process {os.getpid()} (thingport serve)" in refused.value.message
    first.release()
    assert read_holder(database) == (None, "")
    check_free(database)
    second = StoreLock(database, "thingport device create")
    second.acquire()
    second.release()


def test_check_free_of_a_file_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    check_free(str(tmp_path / "none.db"))
    assert list(tmp_path.iterdir()) == []


async def test_two_stores_on_one_file_cannot_both_be_open(tmp_path: Path) -> None:
    path = str(tmp_path / "thingport.db")
    first = SQLiteStore(path, holder="thingport serve")
    await first.open()
    try:
        with pytest.raises(StoreInUse):
            await SQLiteStore(path).open()
    finally:
        await first.close()
    again = SQLiteStore(path)
    await again.open()
    await again.close()


async def test_open_without_create_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "thingport.db"
    with pytest.raises(StoreMissing, match="there is no store at"):
        await SQLiteStore(str(path)).open(create=False)
    assert list(tmp_path.iterdir()) == []
