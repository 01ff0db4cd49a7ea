"""``Subscription`` and ``LocalFanout``: what every bus hands its waiters, small enough for ten
thousand waiting polls."""

from __future__ import annotations

import asyncio
import time

import pytest

from thingport.bus import MemoryBus
from thingport.bus.base import LocalFanout, Subscription


async def test_get_returns_none_once_its_timeout_has_passed() -> None:
    bus = MemoryBus()
    async with bus.subscribe("a") as sub:
        began = time.monotonic()
        assert await sub.get(timeout=0.05) is None
        assert 0.04 <= time.monotonic() - began < 1.0


async def test_a_message_wakes_a_waiting_get_at_once() -> None:
    bus = MemoryBus()
    async with bus.subscribe("a") as sub:
        waiting = asyncio.ensure_future(sub.get(timeout=30))
        await asyncio.sleep(0.01)
        began = time.monotonic()
        await bus.publish("a", b"hello")
        assert await asyncio.wait_for(waiting, 5) == ("a", b"hello")
        assert time.monotonic() - began < 1.0


async def test_messages_queued_before_get_come_in_order() -> None:
    bus = MemoryBus()
    async with bus.subscribe("a", "b") as sub:
        await bus.publish("a", b"1")
        await bus.publish("b", b"2")
        assert await sub.get(timeout=0) == ("a", b"1")
        assert await sub.get(timeout=0) == ("b", b"2")
        assert await sub.get(timeout=0.01) is None


async def test_a_cancelled_get_leaves_the_subscription_usable() -> None:
    bus = MemoryBus()
    async with bus.subscribe("a") as sub:
        waiting = asyncio.ensure_future(sub.get(timeout=30))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await bus.publish("a", b"later")
        assert await sub.get(timeout=1) == ("a", b"later")


async def test_waiting_takes_no_task_of_its_own() -> None:
    # asyncio.wait_for (before Python 3.12) runs what it waits for in a task of its own: one
    # more task, and about a kilobyte, per waiting poll.
    bus = MemoryBus()
    async with bus.subscribe("a") as sub:
        waiting = asyncio.ensure_future(sub.get(timeout=30))
        await asyncio.sleep(0.01)
        assert asyncio.all_tasks() == {asyncio.current_task(), waiting}
        await bus.publish("a", b"x")
        await waiting


def test_a_subscription_has_no_instance_dict() -> None:
    assert not hasattr(Subscription(LocalFanout(), ("a",)), "__dict__")


async def test_one_subscriber_per_channel_is_kept_without_a_set() -> None:
    fanout = LocalFanout()
    first, second = Subscription(fanout, ("a", "b")), Subscription(fanout, ("a",))
    fanout.attach(first)
    assert fanout._subscribers == {"a": first, "b": first}
    fanout.attach(second)
    assert fanout._subscribers["a"] == {first, second}
    assert fanout.subscriber_count == 3
    fanout.fan_out("a", b"1")
    fanout.detach(first)
    assert fanout._subscribers == {"a": second}
    assert not fanout.has_subscribers("b")
    fanout.detach(second)
    assert fanout._subscribers == {} and fanout.subscriber_count == 0
    assert await first.get(0) == ("a", b"1") and await second.get(0) == ("a", b"1")


async def test_broadcast_reaches_every_subscription_once() -> None:
    fanout = LocalFanout()
    both, other = Subscription(fanout, ("a", "b")), Subscription(fanout, ("b",))
    fanout.attach(both)
    fanout.attach(other)
    fanout.broadcast("news", b"up")
    for sub in (both, other):
        assert await sub.get(0) == ("news", b"up")
        assert await sub.get(0) is None


async def test_a_channel_named_twice_is_one_subscription() -> None:
    fanout = LocalFanout()
    twice = Subscription(fanout, ("a", "a"))
    fanout.attach(twice)
    fanout.fan_out("a", b"1")
    assert await twice.get(0) == ("a", b"1")
    assert await twice.get(0) is None
    fanout.detach(twice)
    assert fanout.subscriber_count == 0


async def test_long_waits_share_one_timer_per_slot_and_free_it() -> None:
    bus = MemoryBus()
    subs = [bus.subscribe(f"d{n}") for n in range(50)]
    for sub in subs:
        await sub.__aenter__()
    waits = [asyncio.ensure_future(sub.get(timeout=30)) for sub in subs]
    await asyncio.sleep(0.01)
    slots = bus.local._deadlines._slots  # type: ignore[union-attr]
    assert 1 <= len(slots) <= 2  # started together: one slot (two if a slot edge fell between)
    assert sum(len(waiters) for waiters, _ in slots.values()) == 50
    for n in range(49):
        await bus.publish(f"d{n}", b"x")
    waits[49].cancel()
    done = await asyncio.gather(*waits, return_exceptions=True)
    assert done[:49] == [(f"d{n}", b"x") for n in range(49)]
    assert slots == {}  # nobody waits: no timer is left


async def test_a_long_wait_ends_shortly_after_its_deadline() -> None:
    bus = MemoryBus()
    async with bus.subscribe("a") as sub:
        began = time.monotonic()
        assert await sub.get(timeout=1.0) is None
        assert 0.99 <= time.monotonic() - began < 1.5
