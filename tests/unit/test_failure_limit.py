"""The per-address failure limiter, on a clock the tests move by hand."""

from __future__ import annotations

import pytest

from thingport.services.failure_limit import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_blocks_after_max_failures_until_the_window_passes(clock: Clock) -> None:
    limiter = FailureLimiter(3, 60, clock)
    assert not limiter.record_failure("a")
    clock.now += 10
    assert not limiter.record_failure("a")
    assert limiter.retry_after("a") == 0
    clock.now += 10
    assert limiter.record_failure("a")  # the third one blocks
    assert limiter.retry_after("a") == 60
    clock.now += 59.5
    assert limiter.retry_after("a") == 1  # rounded up, never 0 while blocked
    clock.now += 0.5
    assert limiter.retry_after("a") == 0
    # A clean slate afterwards: one failure does not block again.
    assert not limiter.record_failure("a")
    assert limiter.retry_after("a") == 0


def test_failures_older_than_the_window_are_forgotten(clock: Clock) -> None:
    limiter = FailureLimiter(3, 60, clock)
    limiter.record_failure("a")
    limiter.record_failure("a")
    clock.now += 60  # both now exactly one window old: out
    assert not limiter.record_failure("a")
    assert not limiter.record_failure("a")
    assert limiter.record_failure("a")


def test_addresses_are_counted_separately(clock: Clock) -> None:
    limiter = FailureLimiter(2, 60, clock)
    limiter.record_failure("a")
    assert limiter.record_failure("a")
    assert limiter.retry_after("a") == 60
    assert limiter.retry_after("b") == 0
    assert not limiter.record_failure("b")


def test_one_failure_allowed_means_blocked_at_once(clock: Clock) -> None:
    limiter = FailureLimiter(1, 5, clock)
    assert limiter.record_failure("a")
    assert limiter.retry_after("a") == 5


def test_memory_stays_bounded_and_stale_entries_go_first(clock: Clock) -> None:
    limiter = FailureLimiter(2, 60, clock, max_addresses=100)
    limiter.record_failure("old")
    limiter.record_failure("old")  # blocked
    clock.now += 61  # its block and its failures are stale now
    for i in range(99):
        limiter.record_failure(f"10.0.0.{i}")
    assert len(limiter) == 100
    limiter.record_failure("new")
    assert len(limiter) <= 100
    assert limiter.retry_after("old") == 0
    # A flood of fresh addresses: the oldest are dropped, a tenth at a time.
    for i in range(1000):
        limiter.record_failure(f"flood-{i}")
        assert len(limiter) <= 100
    assert limiter.record_failure("flood-999")  # its second failure: the newest are kept
    assert limiter.retry_after("flood-999") == 60


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        FailureLimiter(0, 60)
    with pytest.raises(ValueError):
        FailureLimiter(5, 0)
