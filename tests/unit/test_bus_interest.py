"""The registry of which announced channels other nodes listen to."""

from __future__ import annotations

from thingport.bus import interest
from thingport.bus.interest import Interest


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_and_last_subscriptions_are_what_is_announced() -> None:
    mine = Interest("a")
    assert mine.add(["ts:1", "ts:2"]) == ["ts:1", "ts:2"]
    assert mine.add(["ts:1"]) == []  # a second subscriber: nothing new to tell
    assert mine.remove(["ts:1"]) == []
    assert mine.remove(["ts:1", "ts:2"]) == ["ts:1", "ts:2"]
    assert not mine.mine


def test_other_nodes_entries_follow_their_messages_and_expire() -> None:
    clock = Clock()
    registry = Interest("a", clock)
    registry.heard("+", "a", ["ts:own"])  # its own echo is no other node
    assert not registry.anyone_else("ts:own")
    registry.heard("+", "b", ["ts:1", "ts:2"])
    registry.heard("+", "c", ["ts:1"])
    registry.heard("-", "b", ["ts:1"])
    assert registry.anyone_else("ts:1") and registry.anyone_else("ts:2")
    registry.heard("=", "c", ["ts:3"])  # c's whole set now: it left ts:1
    assert not registry.anyone_else("ts:1") and registry.anyone_else("ts:3")
    clock.now += interest.EXPIRE_S + 1  # b and c went silent (died)
    assert not registry.anyone_else("ts:2") and not registry.anyone_else("ts:3")


def test_control_messages_round_trip() -> None:
    assert interest.decode(interest.encode("=", "n1", ["ts:a", "attr:b"])) == (
        "=", "n1", ["ts:a", "attr:b"])
    assert interest.decode(interest.encode("?", "n1", [])) == ("?", "n1", [])
