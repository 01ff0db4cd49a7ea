"""One contract for both failure limits (this node's memory, Redis shared by nodes), on the
real clock and, for Redis, a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from tests.live import free_port
from tests.services import REDIS_URL, require_redis
from thingport.services.failure_limit import (
    FailureLimit,
    MemoryFailureLimit,
    RedisFailureLimit,
)

Make = Callable[[int, float], FailureLimit]


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Makes limits of one kind; Redis ones of one test share a key prefix of their own, as
    the nodes of one cluster do."""
    prefix = f"thingport-test:{uuid.uuid4().hex}"
    made: list[FailureLimit] = []

    def factory(max_failures: int, window_s: float) -> FailureLimit:
        limit: FailureLimit
        if request.param == "memory":
            limit = MemoryFailureLimit(max_failures, window_s)
        else:
            require_redis()
            limit = RedisFailureLimit(REDIS_URL, max_failures, window_s, prefix=prefix)
        made.append(limit)
        return limit

    yield factory
    for limit in made:
        await limit.close()


async def test_the_last_allowed_failure_blocks_for_the_window(make: Make) -> None:
    limit = make(3, 60)
    assert not await limit.record_failure("10.0.0.1")
    assert not await limit.record_failure("10.0.0.1")
    assert await limit.retry_after("10.0.0.1") == 0
    assert await limit.record_failure("10.0.0.1")
    assert 59 <= await limit.retry_after("10.0.0.1") <= 60


async def test_addresses_are_counted_separately(make: Make) -> None:
    limit = make(2, 60)
    await limit.record_failure("a")
    assert await limit.record_failure("a")
    assert await limit.retry_after("b") == 0
    assert not await limit.record_failure("b")
    assert await limit.retry_after("b") == 0


async def test_one_failure_allowed_blocks_at_once(make: Make) -> None:
    limit = make(1, 5)
    assert await limit.record_failure("a")
    assert 4 <= await limit.retry_after("a") <= 5


async def test_failures_a_window_old_no_longer_count(make: Make) -> None:
    limit = make(2, 0.3)
    assert not await limit.record_failure("a")
    await asyncio.sleep(0.35)  # the first failure is now more than a window old
    assert not await limit.record_failure("a")
    assert await limit.record_failure("a")  # two within the window


async def test_a_block_ends_with_a_clean_slate(make: Make) -> None:
    limit = make(2, 0.3)
    await limit.record_failure("a")
    assert await limit.record_failure("a")
    assert await limit.retry_after("a") == 1  # rounded up, never 0 while blocked
    await asyncio.sleep(0.35)
    assert await limit.retry_after("a") == 0
    assert not await limit.record_failure("a")  # counting starts over


async def test_nodes_sharing_redis_share_the_count() -> None:
    require_redis()
    prefix = f"thingport-test:{uuid.uuid4().hex}"
    first, second = (RedisFailureLimit(REDIS_URL, 3, 60, prefix=prefix) for _ in range(2))
    try:
        assert not await first.record_failure("a")
        assert not await second.record_failure("a")
        assert await first.record_failure("a")  # the third failure, counting both nodes
        assert await second.retry_after("a") >= 59
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_redis_falls_back_to_this_nodes_memory() -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    limit = RedisFailureLimit(nobody, 2, 60)
    try:
        assert await limit.retry_after("a") == 0
        assert not await limit.record_failure("a")
        assert await limit.record_failure("a")
        assert await limit.retry_after("a") >= 59
    finally:
        await limit.close()
