"""The in-memory failure limit, on a clock the tests move by hand (the rules both
implementations share are in tests/bus/test_failure_limit_contract.py)."""

from __future__ import annotations

import pytest

from thingport.services.failure_limit import MemoryFailureLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_blocks_after_max_failures_until_the_window_passes(clock: Clock) -> None:
    limiter = MemoryFailureLimit(3, 60, clock)
    assert not await limiter.record_failure("a")
    clock.now += 10
    assert not await limiter.record_failure("a")
    assert await limiter.retry_after("a") == 0
    clock.now += 10
    assert await limiter.record_failure("a")  # the third one blocks
    assert await limiter.retry_after("a") == 60
    clock.now += 59.5
    assert await limiter.retry_after("a") == 1  # rounded up, never 0 while blocked
    clock.now += 0.5
    assert await limiter.retry_after("a") == 0
    # A clean slate afterwards: one failure does not block again.
    assert not await limiter.record_failure("a")
    assert await limiter.retry_after("a") == 0


async def test_failures_older_than_the_window_are_forgotten(clock: Clock) -> None:
    limiter = MemoryFailureLimit(3, 60, clock)
    await limiter.record_failure("a")
    await limiter.record_failure("a")
    clock.now += 60  # both now exactly one window old: out
    assert not await limiter.record_failure("a")
    assert not await limiter.record_failure("a")
    assert await limiter.record_failure("a")


async def test_addresses_are_counted_separately(clock: Clock) -> None:
    limiter = MemoryFailureLimit(2, 60, clock)
    await limiter.record_failure("a")
    assert await limiter.record_failure("a")
    assert await limiter.retry_after("a") == 60
    assert await limiter.retry_after("b") == 0
    assert not await limiter.record_failure("b")


async def test_one_failure_allowed_means_blocked_at_once(clock: Clock) -> None:
    limiter = MemoryFailureLimit(1, 5, clock)
    assert await limiter.record_failure("a")
    assert await limiter.retry_after("a") == 5


async def test_memory_stays_bounded_and_stale_entries_go_first(clock: Clock) -> None:
    limiter = MemoryFailureLimit(2, 60, clock, max_addresses=100)
    await limiter.record_failure("old")
    await limiter.record_failure("old")  # blocked until 1060
    clock.now += 30
    for i in range(99):
        await limiter.record_failure(f"10.0.0.{i}")
    assert len(limiter) == 100  # full
    clock.now += 31  # the block of "old" is over: it is stale, the others are not
    await limiter.record_failure("new")
    assert len(limiter) == 100
    assert await limiter.retry_after("old") == 0
    # Making room took the stale entry, not a live one: every other failure still counts.
    assert all([await limiter.record_failure(f"10.0.0.{i}") for i in range(99)])
    # A flood of fresh addresses: the least recently seen are dropped, one at a time.
    for i in range(1000):
        await limiter.record_failure(f"flood-{i}")
        assert len(limiter) <= 100
    assert await limiter.record_failure("flood-999")  # its second failure: the newest are kept
    assert await limiter.retry_after("flood-999") == 60
    assert await limiter.retry_after("10.0.0.0") == 0  # forgotten in the flood


async def test_an_address_is_forgotten_a_window_after_its_last_failure(clock: Clock) -> None:
    limiter = MemoryFailureLimit(3, 60, clock)
    await limiter.record_failure("a")
    clock.now += 50
    await limiter.record_failure("a")
    clock.now += 50  # the first failure is out of the window, the second is not
    assert len(limiter) == 1
    assert not await limiter.record_failure("a")
    assert await limiter.record_failure("a")  # the second, this one and the next: three
    clock.now += 60  # the block is over: nothing left to remember
    assert len(limiter) == 0


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        MemoryFailureLimit(0, 60)
    with pytest.raises(ValueError):
        MemoryFailureLimit(5, 0)
