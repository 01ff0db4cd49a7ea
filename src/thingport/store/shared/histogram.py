"""Fixed-bucket histograms of the stores' commits (batch sizes, durations), for Prometheus.

The writer adds each commit to a ``Buckets``: one bisect and two additions into lists made once,
so the cost per commit is constant and nothing grows. ``snapshot`` gives an immutable copy for
the stats objects; ``Histogram.cumulative`` is what a Prometheus histogram's ``le`` buckets
count.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

#: Operations per committed transaction.
BATCH_SIZE_BOUNDS: Final[tuple[float, ...]] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: Seconds a transaction held the writer (or a lane): BEGIN to the end of COMMIT.
COMMIT_SECONDS_BOUNDS: Final[tuple[float, ...]] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Histogram:
    """Observations counted per bucket: ``counts[i]`` of them were at most ``bounds[i]`` (and
    above ``bounds[i - 1]``); ``counts[-1]`` were above the last bound. ``total`` is their
    sum."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        """How many observations there were."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """Prometheus' buckets: (upper bound, observations at most that), ending with +Inf."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


class Buckets:
    """A histogram being counted (by one thread); ``snapshot`` is safe from another."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def snapshot(self) -> Histogram:
        """The counts so far (the list is copied in one step under the GIL)."""
        return Histogram(self.bounds, tuple(self.counts), self.total)


def combined(histograms: Iterable[Histogram], bounds: Sequence[float]) -> Histogram:
    """The sum of histograms with the same ``bounds`` (a store's lanes, say)."""
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for histogram in histograms:
        for i, n in enumerate(histogram.counts):
            counts[i] += n
        total += histogram.total
    return Histogram(tuple(bounds), tuple(counts), total)
