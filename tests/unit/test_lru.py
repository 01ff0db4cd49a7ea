"""The bounded least-recently-used cache behind the token, trust and writer caches."""

from __future__ import annotations

import pytest

from thingport.lru import LruCache


def test_the_least_recently_used_goes_first() -> None:
    evicted: list[tuple[str, int]] = []
    cache: LruCache[str, int] = LruCache(2, lambda key, value: evicted.append((key, value)))
    cache["a"] = 1
    cache["b"] = 2
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache["c"] = 3
    assert evicted == [("b", 2)]
    assert list(cache) == ["a", "c"]
    assert len(cache) == 2
    assert "b" not in cache and cache.get("b") is None


def test_storing_again_counts_as_a_use() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 10
    cache["c"] = 3
    assert list(cache) == ["a", "c"]
    assert cache.get("a") == 10


def test_peek_is_not_a_use() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache["a"] = 1
    cache["b"] = 2
    assert cache.peek("a") == 1
    cache["c"] = 3
    assert "a" not in cache
    assert cache.peek("b") == 2 and cache.peek("a") is None


def test_pop_and_clear_tell_nobody() -> None:
    evicted: list[str] = []
    cache: LruCache[str, int] = LruCache(3, lambda key, value: evicted.append(key))
    cache["a"] = 1
    cache["b"] = 2
    assert cache.pop("a") == 1
    assert cache.pop("a") is None
    cache.clear()
    assert len(cache) == 0 and evicted == []


def test_a_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LruCache(0)
