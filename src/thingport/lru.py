"""A bounded cache that forgets the least recently used entry first.

Built on ``OrderedDict`` (its ``move_to_end`` is C code) rather than ``cachetools.LRUCache``,
because some of these caches are read on every device API request: a hit here costs a dict
lookup and a ``move_to_end``, less than half of a ``cachetools.LRUCache`` hit (whose lookups
go through several Python methods).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``maxsize`` entries; a new one beyond that pushes out the least recently used
    (``on_evict(key, value)`` is told). Values are never None: ``get`` answers None for
    "not cached"."""

    __slots__ = ("_data", "_on_evict", "maxsize")

    def __init__(self, maxsize: int,
                 on_evict: Callable[[K, V], object] | None = None) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._on_evict = on_evict

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def peek(self, key: K) -> V | None:
        """The value of ``key``, or None, without counting as a use."""
        return self._data.get(key)

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.maxsize:
            old_key, old_value = data.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict(old_key, old_value)

    def pop(self, key: K) -> V | None:
        """Forget ``key``; its value, or None when it was not cached."""
        return self._data.pop(key, None)

    def clear(self) -> None:
        """Forget everything (``on_evict`` is not told)."""
        self._data.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        """The keys, least recently used first."""
        return iter(self._data)
