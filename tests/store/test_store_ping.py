"""The lifecycle contract's ``ping``, on every backend: it answers while the store is open and
raises once it is closed (a health check must never report a closed store as reachable)."""

from __future__ import annotations

import pytest

from tests.store.conftest import StoreFactory
from thingport.store.base import Store


async def test_ping_answers_while_open(store: Store) -> None:
    await store.ping()
    await store.ping()


async def test_ping_raises_before_open_and_after_close(store_factory: StoreFactory) -> None:
    store = store_factory()
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own error
        await store.ping()
    await store.open()
    await store.ping()
    await store.close()
    with pytest.raises(Exception):  # noqa: B017
        await store.ping()
