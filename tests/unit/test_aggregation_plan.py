"""How the SQLite store cuts ThingsBoard's buckets into rollup and raw pieces
(``store/sqlite/aggregation.plan``): every bucket covered exactly once, rollups only for whole
minutes inside the bucket that are not dirty, raw reads only where no rollup can serve."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from thingport.store.sqlite.aggregation import RAW, ROLLUP, plan
from thingport.store.sqlite.rollups import GRANULE_MS

G = GRANULE_MS


def test_a_bucket_over_minutes_is_its_edges_raw_and_the_minutes_between_rolled_up() -> None:
    start = 10 * G + 500
    assert plan(start, start + 3 * G, 3 * G, []) == [
        (0, RAW, start, 11 * G), (0, ROLLUP, 11, 13), (0, RAW, 13 * G, start + 3 * G)]


def test_dirty_minutes_are_read_raw_with_the_edges_next_to_them() -> None:
    assert plan(10 * G, 15 * G, 5 * G, [10, 12, 14]) == [
        (0, RAW, 10 * G, 11 * G), (0, ROLLUP, 11, 12), (0, RAW, 12 * G, 13 * G),
        (0, ROLLUP, 13, 14), (0, RAW, 14 * G, 15 * G)]


def test_buckets_narrower_than_a_minute_are_raw_and_the_last_is_cut_at_the_end() -> None:
    assert plan(0, 25_000, 10_000, []) == [
        (0, RAW, 0, 10_000), (1, RAW, 10_000, 20_000), (2, RAW, 20_000, 25_000)]


def test_too_many_pieces_is_none() -> None:
    assert plan(0, 10_000, 1, []) is None
    assert plan(0, 100 * G, G // 2, [], limit=150) is None
    assert plan(0, 100 * G, 2 * G, [], limit=150) is not None


@settings(max_examples=400, deadline=None)
@given(
    start=st.integers(-5 * G, 5 * G),
    length=st.integers(1, 40 * G),
    interval=st.integers(1, 12 * G),
    dirty=st.lists(st.integers(-6, 46), unique=True),
)
def test_pieces_cover_each_bucket_exactly(start: int, length: int, interval: int,
                                          dirty: list[int]) -> None:
    end = start + length
    if -(-length // interval) > 2000:
        return
    dirty.sort()
    pieces = plan(start, end, interval, dirty, limit=10**6)
    assert pieces is not None
    covered: dict[int, list[tuple[int, int]]] = {}
    for k, kind, lo, hi in pieces:
        assert lo < hi
        if kind == ROLLUP:
            assert not set(range(lo, hi)) & set(dirty)
            lo, hi = lo * G, hi * G
        else:
            # A whole clean minute inside the bucket is never read raw.
            bucket_lo = start + k * interval
            bucket_hi = min(bucket_lo + interval, end)
            for g in range(-(-lo // G), hi // G):
                assert g in dirty or g * G < bucket_lo or (g + 1) * G > bucket_hi
        covered.setdefault(k, []).append((lo, hi))
    for k in range(-(-length // interval)):
        bucket_lo = start + k * interval
        spans = covered[k]
        assert spans[0][0] == bucket_lo and spans[-1][1] == min(bucket_lo + interval, end)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
