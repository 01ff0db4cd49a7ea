"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from thingport.bus import MemoryBus
from thingport.services import Services
from thingport.settings import Settings
from thingport.store.sqlite import SQLiteStore


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Services]:
    """Every service over a fresh SQLite store and the in-process bus, started: the rules
    without HTTP."""
    services = Services.build(SQLiteStore(str(tmp_path / "services.db")), MemoryBus(),
                              Settings(), "k" * 32)
    await services.store.open()
    await services.bus.start()
    try:
        yield services
    finally:
        await services.bus.stop()
        await services.store.close()
