"""Per-key locks: one holder per key at a time, nothing kept once released."""

from __future__ import annotations

import asyncio

from thingport.services.keyed_locks import KeyedLocks


async def test_one_holder_per_key_and_other_keys_run_alongside() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("a"):
            order.append("first in")
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with locks.hold("a"):
            order.append("second in")

    async def other() -> None:
        async with locks.hold("b"):
            order.append("other in")

    tasks = [asyncio.create_task(first())]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(second()), asyncio.create_task(other())]
    await asyncio.sleep(0)
    assert order == ["first in", "other in"]
    assert len(locks) == 1  # "a", held and awaited; "b" already gone
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "other in", "first out", "second in"]
    assert len(locks) == 0


async def test_released_on_error() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with locks.hold("a"):
        assert len(locks) == 1
