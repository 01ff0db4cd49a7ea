#!/usr/bin/env python3
"""History queries of thingport against InfluxDB 1.x, over HTTP, in one run.

    python bench/history.py [--points 1000000] [--step-ms 1000] [--buckets 500] [--repeat 9]

Starts a fresh thingport (SQLite, fresh data directory) and a fresh InfluxDB as
``bench/run.py`` does (its ``Thingport`` and ``Influx`` classes), loads the same points into
both, checks that both hold all of them and give the same answers, then times each query on
both, alternating the systems, and prints the median times and the ratios:

* the points: ``--points`` values (random doubles) of one key of one device, ``--step-ms``
  apart, the last one a minute before the start of the run. thingport gets them through the
  device API (``POST /api/v1/{token}/telemetry``, arrays of ``{"ts", "values"}`` objects,
  100,000 per body, THINGPORT_MAX_DATA_POINTS_PER_REQUEST's default), InfluxDB through
  ``POST /write?precision=ms`` (line protocol ``h,device=d1 value=<v> <ts>``, as many per body).
  A second device gets 100 keys once (``{"k0":..,"k99":..}`` / 100 lines ``k<i>,device=d2``).
* aggregated: the whole range in ``--buckets`` buckets of ``ceil(range / buckets)`` ms, for
  AVG, MIN, MAX, SUM and COUNT: thingport ``GET /api/plugins/telemetry/DEVICE/{id}/values/
  timeseries?keys=h&startTs&endTs&interval&agg&limit&orderBy=ASC&useStrictDataTypes=true``,
  InfluxDB ``SELECT mean|min|max|sum|count("value") FROM "h" WHERE "device"='d1' AND time >=
  start AND time < end GROUP BY time(interval, start mod interval) fill(none)`` (the same
  buckets: InfluxDB's start at the epoch plus the offset). Target: thingport's median no more
  than InfluxDB's, for each.
* raw page: the newest ``--page`` (10,000) points of the range (thingport ``agg=NONE``,
  ``limit``; InfluxDB ``ORDER BY time DESC LIMIT``). Target: faster than InfluxDB.
* latest: the latest value of each of the 100 keys (thingport without ``startTs``; InfluxDB
  ``SELECT last("value") FROM "k0",..,"k99" WHERE "device"='d2'``, for comparison only).
  Target: thingport's median under 5 ms.

Every query runs ``--warm`` times on each system first (not timed), then ``--repeat`` rounds,
each round both systems one after the other (the first alternating). A time is from sending
the request to having read the whole body. Each system gets ``--connections`` (4) keep-alive
connections, used in turn: with worker processes (``--workers``, the server's default is one
per CPU) each connection is served by one of them, so the figures mix both kinds. Before
the queries the runner waits until both servers are idle (merges, compactions) and the rest of
the machine is quiet; other processes' CPU during the timed rounds is reported, and the run is
marked NOISY above 25 % of a core. Results: a table, the ratios, and
``bench/results/history.json``. Exit status 1 when a target is missed or the data differ, 2
when a tool is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from run import (  # bench/run.py: this script runs as `python bench/history.py`
    HOST,
    INFLUX_DB,
    NOISE_CPU_PERCENT,
    RESULTS_DIR,
    BenchError,
    Children,
    Influx,
    Interrupted,
    Thingport,
    cpu_seconds,
    machine,
    machine_cpu,
    signals_stop,
    wait_quiet,
)

#: THINGPORT_MAX_DATA_POINTS_PER_REQUEST's default: the most points one body may carry.
POINTS_PER_BODY = 100_000
AGGREGATIONS = {"AVG": "mean", "MIN": "min", "MAX": "max", "SUM": "sum", "COUNT": "count"}
LATEST_KEYS = 100
LATEST_TARGET_MS = 5.0
SERIES_KEY = "h"


@dataclass
class Query:
    """One query, as each system is asked it, and its timings (ms)."""

    name: str
    target: str  # "ratio<=1", "ratio<1" or "<5ms"
    thingport: Callable[[httpx.Client], httpx.Response]
    influx: Callable[[httpx.Client], httpx.Response]
    thingport_ms: list[float] = field(default_factory=list)
    influx_ms: list[float] = field(default_factory=list)

    def medians(self) -> tuple[float, float]:
        return statistics.median(self.thingport_ms), statistics.median(self.influx_ms)

    def passed(self) -> bool:
        ours, theirs = self.medians()
        if self.target == "<5ms":
            return ours < LATEST_TARGET_MS
        return ours <= theirs if self.target == "ratio<=1" else ours < theirs


# -- loading -------------------------------------------------------------------------------------
def make_points(count: int, step_ms: int, seed: int) -> tuple[list[int], list[float]]:
    """``count`` timestamps ``step_ms`` apart, the last a minute ago (on a whole second), and
    a random double for each."""
    last = (int(time.time() * 1000) - 60_000) // 1000 * 1000
    first = last - (count - 1) * step_ms
    rnd = random.Random(seed)
    return ([first + i * step_ms for i in range(count)],
            [round(rnd.uniform(-50.0, 150.0), 6) for _ in range(count)])


def load_thingport(server: Thingport, token: str, stamps: Sequence[int],
                   values: Sequence[float]) -> float:
    """Post the points through the device API, POINTS_PER_BODY per body; seconds taken."""
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=600) as client:
        for lo in range(0, len(stamps), POINTS_PER_BODY):
            body = json.dumps([{"ts": ts, "values": {SERIES_KEY: v}}
                               for ts, v in zip(stamps[lo:lo + POINTS_PER_BODY],
                                                values[lo:lo + POINTS_PER_BODY], strict=True)])
            answer = client.post(f"/api/v1/{token}/telemetry", content=body,
                                 headers={"Content-Type": "application/json"})
            if answer.status_code != 200:
                raise BenchError(f"thingport upload: {answer.status_code} {answer.text[:300]}")
    return time.perf_counter() - started


def load_influx(server: Influx, stamps: Sequence[int], values: Sequence[float]) -> float:
    """Write the points with line protocol, POINTS_PER_BODY per body; seconds taken."""
    started = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=600) as client:
        for lo in range(0, len(stamps), POINTS_PER_BODY):
            body = "\n".join(f"{SERIES_KEY},device=d1 value={v!r} {ts}"
                             for ts, v in zip(stamps[lo:lo + POINTS_PER_BODY],
                                              values[lo:lo + POINTS_PER_BODY], strict=True))
            answer = client.post("/write", params={"db": INFLUX_DB, "precision": "ms"},
                                 content=body)
            if answer.status_code != 204:
                raise BenchError(f"InfluxDB write: {answer.status_code} {answer.text[:300]}")
    return time.perf_counter() - started


def load_latest(thingport: Thingport, token: str, influx: Influx, ts: int) -> dict[str, float]:
    """The 100 keys of the second device, once on each system; their values."""
    latest = {f"k{i}": round(random.Random(i).uniform(0, 100), 6) for i in range(LATEST_KEYS)}
    answer = httpx.post(f"{thingport.url}/api/v1/{token}/telemetry", timeout=60,
                        json={"ts": ts, "values": latest})
    if answer.status_code != 200:
        raise BenchError(f"thingport latest: {answer.status_code} {answer.text[:300]}")
    body = "\n".join(f"{k},device=d2 value={v!r} {ts}" for k, v in latest.items())
    answer = httpx.post(f"{influx.url}/write", params={"db": INFLUX_DB, "precision": "ms"},
                        content=body, timeout=60)
    if answer.status_code != 204:
        raise BenchError(f"InfluxDB latest: {answer.status_code} {answer.text[:300]}")
    return latest


def wait_idle(pid: int, timeout: float = 120, below: float = 0.05) -> float:
    """Wait until the process (with its children) uses less than ``below`` of a core for two
    half-second samples in a row; seconds waited."""
    started = time.monotonic()
    calm = 0
    while time.monotonic() - started < timeout and calm < 2:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        calm = calm + 1 if cpu_seconds(pid) - before < below * 0.5 else 0
    return round(time.monotonic() - started, 1)


# -- the queries ---------------------------------------------------------------------------------
def influx_query(q: str) -> Callable[[httpx.Client], httpx.Response]:
    return lambda client: client.get("/query", params={"db": INFLUX_DB, "epoch": "ms", "q": q})


def thingport_get(path: str, params: dict[str, str | int]) -> Callable[[httpx.Client],
                                                                       httpx.Response]:
    return lambda client: client.get(path, params=params)


def build_queries(device_id: str, latest_id: str, start: int, end: int, interval: int,
                  page: int) -> list[Query]:
    where = f""""device"='d1' AND time >= {start}ms AND time < {end}ms"""
    offset = start % interval
    series = f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries"
    queries = []
    for agg, function in AGGREGATIONS.items():
        params: dict[str, str | int] = {
            "keys": SERIES_KEY, "startTs": start, "endTs": end, "interval": interval,
            "agg": agg, "limit": math.ceil((end - start) / interval), "orderBy": "ASC",
            "useStrictDataTypes": "true"}
        queries.append(Query(
            agg, "ratio<=1", thingport_get(series, params),
            influx_query(f'SELECT {function}("value") FROM "{SERIES_KEY}" WHERE {where} '
                         f"GROUP BY time({interval}ms, {offset}ms) fill(none)")))
    raw: dict[str, str | int] = {"keys": SERIES_KEY, "startTs": start, "endTs": end,
                                 "agg": "NONE", "limit": page, "useStrictDataTypes": "true"}
    queries.append(Query(
        f"raw {page}", "ratio<1", thingport_get(series, raw),
        influx_query(f'SELECT "value" FROM "{SERIES_KEY}" WHERE {where} '
                     f"ORDER BY time DESC LIMIT {page}")))
    keys = [f"k{i}" for i in range(LATEST_KEYS)]
    latest = f"/api/plugins/telemetry/DEVICE/{latest_id}/values/timeseries"
    queries.append(Query(
        f"latest {LATEST_KEYS} keys", "<5ms",
        lambda client: client.get(latest, params={"keys": ",".join(keys),
                                                  "useStrictDataTypes": "true"}),
        influx_query("SELECT last(\"value\") FROM " + ",".join(f'"{k}"' for k in keys)
                     + " WHERE \"device\"='d2'")))
    return queries


def influx_rows(answer: httpx.Response) -> list[list[Any]]:
    answer.raise_for_status()
    statement = answer.json()["results"][0]
    if "error" in statement:
        raise BenchError(f"InfluxDB: {statement['error']}")
    return [row for s in statement.get("series") or [] for row in s["values"]]


def check_answers(queries: Sequence[Query], tp: httpx.Client, ix: httpx.Client, start: int,
                  end: int, interval: int, points: int, latest: dict[str, float]) -> list[str]:
    """Both systems' answers to every query, compared; the differences found."""
    problems = []
    for query in queries:
        ours = query.thingport(tp)
        ours.raise_for_status()
        got: dict[str, list[dict[str, Any]]] = ours.json()
        theirs = influx_rows(query.influx(ix))
        if query.name.startswith("latest"):
            found = {k: v[0]["value"] for k, v in got.items()}
            if found != latest:
                problems.append(f"{query.name}: thingport has other values than were sent")
            continue
        entries = got.get(SERIES_KEY, [])
        if len(entries) != len(theirs):
            problems.append(f"{query.name}: thingport {len(entries)} rows, InfluxDB "
                            f"{len(theirs)}")
            continue
        for entry, (when, value) in zip(entries, theirs, strict=True):
            if query.name in AGGREGATIONS:  # InfluxDB stamps a bucket with its start
                when = when + (min(when + interval, end) - when) // 2
            close = (entry["value"] == value if query.name in ("COUNT", "MIN", "MAX")
                     or query.name.startswith("raw")
                     else math.isclose(entry["value"], value, rel_tol=1e-9, abs_tol=1e-9))
            if entry["ts"] != when or not close:
                problems.append(f"{query.name}: thingport {entry} InfluxDB {[when, value]}")
                break
        if query.name == "COUNT":
            for system, total in (("thingport", sum(e["value"] for e in entries)),
                                  ("InfluxDB", sum(row[1] for row in theirs))):
                if total != points:
                    problems.append(f"{system} holds {total} points, not {points}")
    return problems


def timed(send: Callable[[httpx.Client], httpx.Response], client: httpx.Client) -> float:
    started = time.perf_counter()
    answer = send(client)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise BenchError(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")
    return 1000 * elapsed


def measure(queries: Sequence[Query], tp: Sequence[httpx.Client], ix: Sequence[httpx.Client],
            warm: int, repeat: int) -> None:
    """Each query ``warm`` times untimed, then ``repeat`` timed rounds of both systems, the
    first alternating; the n-th request of a system goes over its n-th connection (a server
    with worker processes serves each connection in one of them)."""
    for query in queries:
        for n in range(warm):
            timed(query.thingport, tp[n % len(tp)])
            timed(query.influx, ix[n % len(ix)])
        for n in range(repeat):
            order = ((query.thingport, tp[n % len(tp)], query.thingport_ms),
                     (query.influx, ix[n % len(ix)], query.influx_ms))
            for send, client, into in order if n % 2 == 0 else reversed(order):
                into.append(timed(send, client))


# -- report --------------------------------------------------------------------------------------
def table(queries: Sequence[Query]) -> str:
    head = (f"{'query':<16} {'thingport ms':>13} {'(min..max)':>16} {'InfluxDB ms':>12} "
            f"{'(min..max)':>16} {'ratio':>7}  target")
    lines = [head, "-" * len(head)]
    for q in queries:
        ours, theirs = q.medians()
        ratio = f"{ours / theirs:.2f}x"
        target = {"ratio<=1": "<= 1.00x", "ratio<1": "< 1.00x", "<5ms": "< 5 ms"}[q.target]
        lines.append(
            f"{q.name:<16} {ours:>13.2f} "
            f"{f'({min(q.thingport_ms):.1f}..{max(q.thingport_ms):.1f})':>16} "
            f"{theirs:>12.2f} "
            f"{f'({min(q.influx_ms):.1f}..{max(q.influx_ms):.1f})':>16} {ratio:>7}  "
            f"{target} {'ok' if q.passed() else 'MISSED'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--step-ms", type=int, default=1000, help="time between points")
    parser.add_argument("--buckets", type=int, default=500)
    parser.add_argument("--page", type=int, default=10_000, help="points of the raw page")
    parser.add_argument("--warm", type=int, default=3, help="untimed runs of each query first")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs of each query")
    parser.add_argument("--connections", type=int, default=4,
                        help="keep-alive connections per system, used in turn")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None,
                        help="THINGPORT_WORKERS of the thingport server (default: its own)")
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="seconds to wait at most for other processes to calm down")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "history.json")
    opts = parser.parse_args(argv)
    if min(opts.points, opts.step_ms, opts.buckets, opts.page, opts.repeat,
           opts.connections) <= 0 or opts.warm < 0:
        parser.error("--points, --step-ms, --buckets, --page, --repeat and --connections "
                     "must be positive")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    import run

    run.WORKERS = opts.workers
    if shutil.which("influxd") is None:
        print("missing tool: influxd", file=sys.stderr)
        return 2
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = HOST
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="thingport-bench-history-", dir=opts.tmp_dir)).resolve()
    started = dt.datetime.now(dt.UTC)
    try:
        with signals_stop():
            return _run(opts, children, tmp, started)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); stopping", file=sys.stderr)
        return 130
    except (BenchError, httpx.HTTPError) as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def _run(opts: argparse.Namespace, children: Children, tmp: Path,
         started: dt.datetime) -> int:
    stamps, values = make_points(opts.points, opts.step_ms, opts.seed)
    start, end = stamps[0], stamps[-1] + 1
    interval = math.ceil((end - start) / opts.buckets)
    print(f"history bench: {opts.points} points {opts.step_ms} ms apart "
          f"({(end - start) / 86_400_000:.2f} days), {opts.buckets} buckets of {interval} ms, "
          f"data in {tmp}", flush=True)
    thingport = Thingport(children, tmp / "thingport")
    influx = Influx(children, tmp / "influxdb")
    thingport.start()
    influx.start()
    influx.create_database()
    (token, latest_token), (device_id, latest_id) = thingport.create_devices(2)
    loaded = {"thingport_s": round(load_thingport(thingport, token, stamps, values), 2),
              "influxdb_s": round(load_influx(influx, stamps, values), 2)}
    latest = load_latest(thingport, latest_token, influx, stamps[-1])
    print(f"  loaded: thingport {loaded['thingport_s']} s, InfluxDB {loaded['influxdb_s']} s",
          flush=True)
    queries = build_queries(device_id, latest_id, start, end, interval, opts.page)
    headers = thingport.login()
    with contextlib.ExitStack() as stack:
        tp = [stack.enter_context(httpx.Client(base_url=thingport.url, headers=headers,
                                               timeout=120)) for _ in range(opts.connections)]
        ix = [stack.enter_context(httpx.Client(base_url=influx.url, timeout=120))
              for _ in range(opts.connections)]
        # The first answer (thingport merges what it was sent first, and rolls it up), then
        # both compared, then both left alone.
        first_ms = {"thingport": round(timed(queries[-3].thingport, tp[0]), 1),
                    "influxdb": round(timed(queries[-3].influx, ix[0]), 1)}
        problems = check_answers(queries, tp[0], ix[0], start, end, interval, opts.points,
                                 latest)
        idle = {"thingport_s": wait_idle(thingport.pid), "influxdb_s": wait_idle(influx.pid)}
        waited = wait_quiet(opts.quiet_wait, os.getpid())
        # This process's tree holds both servers.
        machine_before, own_before = machine_cpu()["busy"], cpu_seconds(os.getpid())
        measuring = time.monotonic()
        measure(queries, tp, ix, opts.warm, opts.repeat)
        seconds = time.monotonic() - measuring
        own = cpu_seconds(os.getpid()) - own_before
        other = max(0.0, 100 * (machine_cpu()["busy"] - machine_before - own) / seconds)
    noisy = other > NOISE_CPU_PERCENT
    print(f"first COUNT query after the load: thingport {first_ms['thingport']} ms (it merges "
          f"what is left of the log first), InfluxDB {first_ms['influxdb']} ms")
    print(table(queries))
    print(f"other processes: {other:.0f}% of a core during the timed rounds"
          + (" NOISY" if noisy else "") + f"; waited {waited:.0f}s for quiet, servers idle "
          f"after {idle}")
    for problem in problems:
        print(f"DATA DIFFER: {problem}")
    missed = [q.name for q in queries if not q.passed()]
    print("targets: " + ("all met" if not missed else "MISSED: " + ", ".join(missed))
          + ("" if not problems else "; the answers differ"))
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps({
        "started": started.isoformat(timespec="seconds"), "machine": machine(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
        "range": {"start": start, "end": end, "interval": interval}, "loaded": loaded,
        "first_query_ms": first_ms, "other_cpu_percent": round(other, 1), "noisy": noisy,
        "problems": problems,
        "queries": [{**{k: v for k, v in asdict(q).items() if k not in ("thingport", "influx")},
                     "median_ms": q.medians(), "passed": q.passed()} for q in queries],
    }, indent=2) + "\n")
    return 0 if not missed and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
