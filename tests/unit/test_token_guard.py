"""The wrong-access-token limit: what a blocked address may still do, on a clock of the test's."""

from __future__ import annotations

import uuid

import pytest

from thingport.domain.model import Device
from thingport.errors import TooManyRequests
from thingport.services import token_guard
from thingport.services.failure_limit import MemoryFailureLimit
from thingport.services.token_guard import TokenGuard

NAT, OTHER = "203.0.113.7", "198.51.100.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _device() -> Device:
    return Device(uuid.uuid4(), uuid.uuid4(), "d", "default", uuid.uuid4(), 1)


class Store:
    """The token lookup, counting how often it is asked."""

    def __init__(self, devices: dict[str, Device]) -> None:
        self.devices = devices
        self.lookups = 0

    async def lookup(self, token: str) -> Device | None:
        self.lookups += 1
        return self.devices.get(token)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _guard(clock: Clock, max_failures: int = 3, window_s: float = 60) -> TokenGuard:
    return TokenGuard(MemoryFailureLimit(max_failures, window_s, clock=clock), clock=clock)


async def _block(guard: TokenGuard, store: Store, address: str) -> None:
    for n in range(guard.limit.max_failures):
        assert await guard.unknown(f"guess-{n}", address, store.lookup) is None


async def test_wrong_tokens_block_the_address_before_any_lookup(clock: Clock) -> None:
    guard, store = _guard(clock), Store({})
    await _block(guard, store, NAT)
    assert store.lookups == 3
    with pytest.raises(TooManyRequests) as refused:
        await guard.unknown("guess-4", NAT, store.lookup)
    assert refused.value.retry_after == 60
    assert store.lookups == 3  # refused before the store is asked
    # Another address is not affected.
    assert await guard.unknown("guess-5", OTHER, store.lookup) is None
    # The block ends after the window.
    clock.now += 60
    assert await guard.unknown("guess-6", NAT, store.lookup) is None


async def test_a_token_seen_from_the_blocked_address_still_passes(clock: Clock) -> None:
    neighbour = _device()
    guard, store = _guard(clock), Store({"neighbour-token": neighbour})
    assert await guard.unknown("neighbour-token", NAT, store.lookup) is neighbour
    await _block(guard, store, NAT)
    # Cached and seen from this address before: it goes on working during the block.
    for _ in range(10):
        guard.known("neighbour-token", NAT)


async def test_a_valid_token_from_elsewhere_tells_a_blocked_guesser_nothing(
    clock: Clock,
) -> None:
    guard, store = _guard(clock), Store({"far-token": _device()})
    assert await guard.unknown("far-token", OTHER, store.lookup) is not None
    await _block(guard, store, NAT)
    # The guesser hits a valid, cached token: answered like any guess, 429, not 200.
    with pytest.raises(TooManyRequests):
        guard.known("far-token", NAT)
    # Its owner is not affected.
    guard.known("far-token", OTHER)


async def test_a_valid_token_does_not_reset_the_count(clock: Clock) -> None:
    mine = _device()
    guard, store = _guard(clock), Store({"mine": mine})
    assert await guard.unknown("guess-a", NAT, store.lookup) is None
    assert await guard.unknown("guess-b", NAT, store.lookup) is None
    assert await guard.unknown("mine", NAT, store.lookup) is mine
    assert await guard.unknown("guess-c", NAT, store.lookup) is None
    with pytest.raises(TooManyRequests):
        await guard.unknown("guess-d", NAT, store.lookup)


async def test_a_remote_block_is_learnt_at_the_first_unknown_token(clock: Clock) -> None:
    # Two nodes sharing one limit (as Redis shares it): node B learns of A's block.
    limit = MemoryFailureLimit(3, 60, clock=clock)
    node_a, node_b = TokenGuard(limit, clock=clock), TokenGuard(limit, clock=clock)
    store = Store({"far-token": _device()})
    assert await node_b.unknown("far-token", OTHER, store.lookup) is not None
    await _block(node_a, store, NAT)
    with pytest.raises(TooManyRequests):
        await node_b.unknown("guess", NAT, store.lookup)
    with pytest.raises(TooManyRequests):
        node_b.known("far-token", NAT)


async def test_past_its_size_the_guard_forgets_the_least_recently_seen_token(
        clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_guard, "MAX_SEEN", 2)
    devices = {name: _device() for name in ("busy", "idle", "new")}
    guard, store = _guard(clock), Store(devices)
    assert await guard.unknown("busy", NAT, store.lookup) is devices["busy"]
    assert await guard.unknown("idle", NAT, store.lookup) is devices["idle"]
    guard.known("busy", NAT)  # "idle" is now the least recently seen
    assert await guard.unknown("new", NAT, store.lookup) is devices["new"]
    await _block(guard, store, NAT)
    guard.known("busy", NAT)  # still remembered: it passes the block
    guard.known("new", NAT)
    with pytest.raises(TooManyRequests):
        guard.known("idle", NAT)  # forgotten: it waits like anybody else
