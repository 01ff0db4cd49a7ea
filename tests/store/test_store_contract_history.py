"""Aggregated history against a model of the samples, on every backend, after every kind of
change: writes, overwrites (a later write at an equal timestamp), history written late,
deletions, uploads. Intervals and starts are chosen on and off whole minutes, the SQLite
store's rollup granule, so that buckets begin and end inside minutes and cover many of them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

import pytest

from thingport.domain.model import Aggregation, DataType, Device, KvEntry, TsKvEntry
from thingport.store.base import Store

MINUTE = 60_000
#: Well in the past (the SQLite store rolls up minutes that ended a minute ago), off a minute.
T0 = 1_000_000_000_123
AGGREGATIONS = (Aggregation.COUNT, Aggregation.MIN, Aggregation.MAX, Aggregation.AVG,
                Aggregation.SUM)
NUMERIC = (DataType.LONG, DataType.DOUBLE)
LONG_MAX = 2**63 - 1

#: The model: ts -> (type, value) of one key.
Samples = dict[int, tuple[DataType, object]]


def expected(samples: Samples, start: int, end: int, interval: int,
             aggregation: Aggregation) -> list[tuple[int, DataType, object]]:
    """ThingsBoard's buckets of ``samples`` computed the plain way."""
    buckets: dict[int, list[tuple[DataType, object]]] = {}
    for ts in sorted(samples):
        if start <= ts < end:
            buckets.setdefault((ts - start) // interval, []).append(samples[ts])
    out: list[tuple[int, DataType, object]] = []
    for k in sorted(buckets):
        lo = start + k * interval
        mid = lo + (min(lo + interval, end) - lo) // 2
        rows = buckets[k]
        if aggregation is Aggregation.COUNT:
            out.append((mid, DataType.LONG, len(rows)))
            continue
        numbers = [(t, v) for t, v in rows if t in NUMERIC]
        if not numbers:
            continue
        doubles = any(t is DataType.DOUBLE for t, _ in numbers)
        longs = sum(int(v) for t, v in numbers if t is DataType.LONG)  # type: ignore[call-overload]
        floats = sum(float(v) for t, v in numbers if t is DataType.DOUBLE)  # type: ignore[arg-type]
        if aggregation is Aggregation.AVG:
            out.append((mid, DataType.DOUBLE, (longs + floats) / len(numbers)))
        elif aggregation is Aggregation.SUM:
            if doubles:
                out.append((mid, DataType.DOUBLE, float(longs) + floats))
            elif -LONG_MAX - 1 <= longs <= LONG_MAX:
                out.append((mid, DataType.LONG, longs))
            else:
                out.append((mid, DataType.DOUBLE, float(longs)))
        else:
            pick = min if aggregation is Aggregation.MIN else max
            best = pick(v for _, v in numbers)  # type: ignore[type-var]
            out.append((mid, DataType.DOUBLE, float(best)) if doubles  # type: ignore[arg-type]
                       else (mid, DataType.LONG, int(best)))  # type: ignore[call-overload]
    return out


def same(got: Sequence[TsKvEntry], want: Sequence[tuple[int, DataType, object]],
         label: str) -> None:
    assert len(got) == len(want), f"{label}: {len(got)} buckets, expected {len(want)}"
    for entry, (ts, data_type, value) in zip(got, want, strict=True):
        assert (entry.ts, entry.type) == (ts, data_type), f"{label}: {entry} vs {ts, value}"
        if data_type is DataType.DOUBLE:
            # Sums of doubles may be added up in another order: the last bits may differ.
            assert math.isclose(entry.value, value, rel_tol=1e-12, abs_tol=1e-9), label  # type: ignore[arg-type]
            assert isinstance(entry.value, float), label
        else:
            assert entry.value == value and type(entry.value) is int, label


async def check(store: Store, device: Device, samples: Samples,
                queries: Iterable[tuple[int, int, int]]) -> None:
    for start, end, interval in queries:
        for aggregation in AGGREGATIONS:
            got = await store.aggregate_telemetry(
                device.id, "v", start, end, interval, aggregation)
            same(got, expected(samples, start, end, interval, aggregation),
                 f"{aggregation} [{start}, {end}) by {interval}")


def queries(first: int, last: int) -> list[tuple[int, int, int]]:
    """Ranges and intervals on and off whole minutes around ``first..last``."""
    aligned = first - first % MINUTE
    span = last - aligned + 1
    return [
        (aligned, last + 1, MINUTE),  # one bucket per granule
        (aligned - 7_777, last + 5_000, 61_000),  # never aligned
        (first + 13, last, 150_001),  # inside the data, off minutes
        (aligned, aligned + span, 7 * MINUTE),  # several whole minutes per bucket
        (aligned + 30_000, last + 1, 7_000),  # narrower than a minute
        (first - 1, last + 2, span + 10),  # one bucket over everything
        (aligned + MINUTE, aligned + 4 * MINUTE, 2 * MINUTE + 1),  # the last bucket cut
    ]


def entries(samples: Samples, stamps: Iterable[int]) -> list[tuple[int, list[KvEntry]]]:
    return [(ts, [KvEntry("v", *samples[ts])]) for ts in sorted(stamps)]  # type: ignore[arg-type]


def random_value(rnd: random.Random) -> tuple[DataType, object]:
    roll = rnd.random()
    if roll < 0.45:
        return DataType.DOUBLE, round(rnd.uniform(-1000, 1000), 3)
    if roll < 0.85:
        return DataType.LONG, rnd.randint(-10**6, 10**6)
    if roll < 0.92:
        return DataType.STRING, f"s{rnd.randint(0, 99)}"
    if roll < 0.97:
        return DataType.BOOLEAN, rnd.random() < 0.5
    return DataType.JSON, '{"a":1}'


def workload(rnd: random.Random) -> Samples:
    """About 20 minutes of samples: dense minutes, sparse ones, empty ones, every type."""
    samples: Samples = {}
    for minute in range(20):
        if minute in (5, 6, 13):
            continue  # empty minutes
        base = T0 - T0 % MINUTE + minute * MINUTE
        count = 400 if minute in (2, 9) else rnd.randint(1, 12)
        for ts in rnd.sample(range(base, base + MINUTE), count):
            samples[ts] = random_value(rnd)
    # Only strings and booleans in one minute: no numeric value there.
    base = T0 - T0 % MINUTE + 16 * MINUTE
    for ts in range(base, base + MINUTE, 10_000):
        samples[ts] = (DataType.STRING, "text")
    return samples


async def test_aggregations_match_the_samples_through_every_change(
    store: Store, device: Device
) -> None:
    rnd = random.Random(20261201)
    samples = workload(rnd)
    stamps = sorted(samples)
    for i in range(0, len(stamps), 700):
        await store.save_telemetry(device.id, entries(samples, stamps[i:i + 700]))
    first, last = stamps[0], stamps[-1]
    plan = queries(first, last)
    await check(store, device, samples, plan)

    # Overwrites: a later write at an equal timestamp replaces the value, and may change its
    # type (a number becomes text, text a number).
    changed = rnd.sample(stamps, 300)
    for ts in changed:
        samples[ts] = random_value(rnd)
    await store.save_telemetry(device.id, entries(samples, changed))
    await check(store, device, samples, plan)

    # History written late, into minutes already written, and into an empty one.
    empty = T0 - T0 % MINUTE + 5 * MINUTE
    late = [ts for ts in (rnd.randint(first, last) for _ in range(200)) if ts not in samples]
    late += [empty + 1, empty + 59_999]
    for ts in late:
        samples[ts] = random_value(rnd)
    for ts in late:  # one sample per save, as devices send them
        await store.save_telemetry(device.id, entries(samples, [ts]))
    await check(store, device, samples, plan)

    # A deletion cutting into two minutes, one of whole minutes, one open at the start.
    for lo, hi in ((first + 90_123, first + 200_456), (empty - MINUTE, empty + 2 * MINUTE),
                   (None, first + 30_000)):
        await store.delete_telemetry(device.id, ["v"], lo, hi)
        for ts in [t for t in samples if (lo is None or t >= lo) and t < hi]:
            del samples[ts]
        await check(store, device, samples, plan)

    # One upload (a save larger than a transaction takes), over and into what is there.
    base = T0 - T0 % MINUTE + 8 * MINUTE
    upload = list(range(base - 3_000, base + 3_000))
    for ts in upload:
        samples[ts] = (DataType.LONG, ts % 1000) if ts % 3 else (DataType.DOUBLE, ts / 7)
    await store.save_telemetry(device.id, entries(samples, upload))
    await check(store, device, samples, plan)

    # Everything after a point in time goes.
    cut = base + 1_234
    await store.delete_telemetry(device.id, ["v"], cut, None)
    for ts in [t for t in samples if t >= cut]:
        del samples[ts]
    await check(store, device, samples, plan)


async def test_long_sums_beyond_64_bits_are_doubles_per_bucket(
    store: Store, device: Device
) -> None:
    big = 2**62
    samples: Samples = {T0 + i * 1000: (DataType.LONG, big) for i in range(4)}  # one minute
    samples[T0 + 3_001] = (DataType.LONG, big)  # in the same 10 ms as the one before
    later = T0 - T0 % MINUTE + 3 * MINUTE
    samples.update({later + i: (DataType.LONG, -big) for i in range(3)})
    samples[later + 10 * MINUTE] = (DataType.LONG, 5)
    await store.save_telemetry(device.id, entries(samples, samples))
    start = T0 - T0 % MINUTE
    # Whole minutes, minutes cut (raw rows), and buckets of 10 ms (too many to read one by
    # one: the SQLite store groups the raw rows instead).
    for lo, interval in ((start, MINUTE), (start, 2 * MINUTE + 7), (start, 30 * MINUTE),
                         (T0 + 500, 7 * MINUTE), (T0 - 5, 10)):
        hi = start + 30 * MINUTE if interval > 10 else T0 + 60_005  # 6,000 buckets
        for aggregation in (Aggregation.SUM, Aggregation.AVG):
            got = await store.aggregate_telemetry(device.id, "v", lo, hi, interval, aggregation)
            same(got, expected(samples, lo, hi, interval, aggregation),
                 f"{aggregation} by {interval}")
    (whole,) = await store.aggregate_telemetry(
        device.id, "v", start, start + MINUTE, MINUTE, Aggregation.SUM)
    assert whole.type is DataType.DOUBLE and whole.value == float(5 * big)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
async def test_a_bucket_of_one_millisecond_at_the_edge_of_a_minute(
    store: Store, device: Device, aggregation: Aggregation
) -> None:
    edge = T0 - T0 % MINUTE + MINUTE
    samples: Samples = {edge - 1: (DataType.LONG, 1), edge: (DataType.DOUBLE, 2.5),
                        edge + MINUTE - 1: (DataType.LONG, 3)}
    await store.save_telemetry(device.id, entries(samples, samples))
    for start, end, interval in ((edge - 1, edge + 1, 1), (edge, edge + MINUTE, MINUTE),
                                 (edge - 1, edge + MINUTE, MINUTE + 1)):
        got = await store.aggregate_telemetry(device.id, "v", start, end, interval, aggregation)
        same(got, expected(samples, start, end, interval, aggregation), f"{start}..{end}")
