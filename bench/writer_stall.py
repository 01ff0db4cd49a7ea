#!/usr/bin/env python3
"""Can one device stall everybody's writes? The largest bodies from one device, while another
device's 1-sample writes are timed.

    python bench/writer_stall.py [--store sqlite|postgresql] [--scenarios attack,values,samples]
                                 [--duration 20] [--no-value-limits]

A fresh server (``python -m thingport serve``, free port, fresh data directory; on PostgreSQL a
fresh schema of the machine's server, as ``bench/postgres.py`` makes) gets two devices. For each
scenario a "heavy" thread posts bodies from device A back to back, for ``--duration`` seconds
(at least one body), while a "probe" thread posts ``{"probe": n}`` from device B every 20 ms and
times each answer. Scenarios (device API, ``POST /api/v1/{token}/telemetry``):

* ``attack``: one 10 MB string value at a timestamp a day ahead, then arrays of 20,000 samples
  of the same key, each array's timestamps later than the last but still before the big value
  (what an attacker sent). With the default value limits the 10 MB value is refused (400);
  ``--no-value-limits`` (JSON_MAX_STRING_VALUE_LENGTH=0 and the JSON limit 0) stores it.
* ``values``: bodies just under the device API's payload limit (50 MiB by default) made of
  string values of the largest allowed length (1 MiB by default), 49 keys per body.
* ``samples``: bodies of small samples (``[{"ts":..,"values":{"k":n}},...]``), as many as one
  request may carry (100,000, THINGPORT_MAX_DATA_POINTS_PER_REQUEST), or with
  ``--no-value-limits`` as many as fit under the payload limit (about 1.1 million per body).

It prints, per scenario, the heavy bodies sent (statuses, seconds each) and the probe's count,
statuses, p50, p99 and max latency, and checks that every probe answered 200 is stored (read
over REST). Results also go to ``bench/results/writer_stall.json``. Every process it starts is
stopped at the end (see ``bench/run.py``); only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from run import (  # bench/run.py: this script runs as `python bench/writer_stall.py`
    RESULTS_DIR,
    BenchError,
    Children,
    Interrupted,
    Thingport,
    machine,
    signals_stop,
)

#: The device API's default body limit (HTTP_TRANSPORT_MAX_PAYLOAD_SIZE_LIMIT_CONFIGURATION).
BODY_LIMIT = 52_428_800
#: The default longest string value (JSON_MAX_STRING_VALUE_LENGTH).
VALUE_LIMIT = 1_048_576
#: THINGPORT_MAX_DATA_POINTS_PER_REQUEST's default: the most samples a body may carry.
POINTS_LIMIT = 100_000
PROBE_INTERVAL_S = 0.02
SCENARIOS = ("attack", "values", "samples")
DAY_MS = 86_400_000


@dataclass
class Outcome:
    """One scenario on one store."""

    scenario: str
    store: str
    heavy_statuses: dict[str, int] = field(default_factory=dict)
    heavy_seconds: list[float] = field(default_factory=list)
    heavy_bytes: int = 0
    probe_statuses: dict[str, int] = field(default_factory=dict)
    probe_ms: list[float] = field(default_factory=list)
    stored_probes: int = 0
    failure: str = ""

    def percentile(self, share: float) -> float:
        ordered = sorted(self.probe_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self) -> str:
        if self.failure:
            return f"{self.store} {self.scenario}: FAILED: {self.failure}"
        heavy = ", ".join(f"{k}x{v}" for k, v in sorted(self.heavy_statuses.items()))
        probes = ", ".join(f"{k}x{v}" for k, v in sorted(self.probe_statuses.items()))
        mean = statistics.fmean(self.heavy_seconds) if self.heavy_seconds else 0.0
        return (f"{self.store} {self.scenario}: heavy {len(self.heavy_seconds)} bodies "
                f"({self.heavy_bytes / 2**20:.0f} MiB, {heavy}, {mean:.1f} s each); probe "
                f"{len(self.probe_ms)} writes ({probes}): p50 {self.percentile(0.5):.1f} ms, "
                f"p99 {self.percentile(0.99):.1f} ms, max {max(self.probe_ms, default=0):.1f} "
                f"ms; stored {self.stored_probes}")


# -- bodies ----------------------------------------------------------------------------------------
def attack_bodies(now_ms: int) -> Iterator[bytes]:
    """The 10 MB value a day ahead, then 20,000-sample arrays creeping up towards it."""
    big_ts = now_ms + DAY_MS
    yield json.dumps({"ts": big_ts, "values": {"k": "x" * 10_000_000}}).encode()
    start = now_ms - DAY_MS
    n = 0
    while True:
        yield json.dumps([{"ts": start + n * 20_000 + i, "values": {"k": i}}
                          for i in range(20_000)]).encode()
        n += 1


def value_bodies(limit: int, value_length: int) -> Iterator[bytes]:
    """Flat objects of ``value_length``-character strings, as many as fit under ``limit``."""
    per_body = (limit - 64) // (value_length + 16)
    body = json.dumps({f"s{i}": chr(97 + i % 26) * value_length
                       for i in range(per_body)}).encode()
    assert len(body) <= limit
    while True:
        yield body


def sample_bodies(limit: int, most: int) -> Iterator[bytes]:
    """Arrays of small samples with their own timestamps, as many as fit under ``limit`` and
    ``most`` (THINGPORT_MAX_DATA_POINTS_PER_REQUEST; 0: no bound)."""
    ts = int(time.time() * 1000) - DAY_MS
    while True:
        parts: list[bytes] = []
        size = 2
        while not most or len(parts) < most:
            part = b'{"ts":%d,"values":{"k":%d}}' % (ts, ts % 1000)
            if size + len(part) + 1 > limit:
                break
            parts.append(part)
            size += len(part) + 1
            ts += 1
        yield b"[" + b",".join(parts) + b"]"


# -- the run ---------------------------------------------------------------------------------------
def _count(statuses: dict[str, int], status: int) -> None:
    statuses[str(status)] = statuses.get(str(status), 0) + 1


def heavy_writer(url: str, token: str, bodies: Iterator[bytes], duration: float,
                 outcome: Outcome, done: threading.Event) -> None:
    deadline = time.monotonic() + duration
    try:
        with httpx.Client(base_url=url, timeout=900) as client:
            while True:
                body = next(bodies)
                started = time.perf_counter()
                answer = client.post(f"/api/v1/{token}/telemetry", content=body,
                                     headers={"content-type": "application/json"})
                outcome.heavy_seconds.append(time.perf_counter() - started)
                outcome.heavy_bytes += len(body)
                _count(outcome.heavy_statuses, answer.status_code)
                if time.monotonic() >= deadline:
                    break
    except httpx.HTTPError as exc:
        outcome.failure = f"heavy writer: {type(exc).__name__}: {exc}"
    finally:
        done.set()


def prober(url: str, token: str, outcome: Outcome, done: threading.Event) -> None:
    n = 0
    with httpx.Client(base_url=url, timeout=900) as client:
        while not done.is_set():
            started = time.perf_counter()
            try:
                answer = client.post(f"/api/v1/{token}/telemetry", json={"probe": n})
            except httpx.HTTPError as exc:
                _count(outcome.probe_statuses, 0)
                outcome.failure = outcome.failure or f"probe: {type(exc).__name__}: {exc}"
                continue
            outcome.probe_ms.append(1000 * (time.perf_counter() - started))
            _count(outcome.probe_statuses, answer.status_code)
            n += 1
            time.sleep(PROBE_INTERVAL_S)


def stored_entries(server: Thingport, device_id: str, key: str) -> int:
    answer = httpx.get(
        f"{server.url}/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
        params={"keys": key, "startTs": 0, "endTs": int(time.time() * 1000) + 60_000,
                "limit": 1_000_000_000},
        headers=server.login(), timeout=900)
    answer.raise_for_status()
    return len(answer.json().get(key) or [])


def run_scenario(children: Children, root: Path, scenario: str, store: str,
                 env: dict[str, str], opts: argparse.Namespace) -> Outcome:
    outcome = Outcome(scenario, store)
    server = Thingport(children, root, env)
    try:
        server.start()
        tokens, ids = server.create_devices(2)
        value_length = VALUE_LIMIT
        points_limit = 0 if opts.no_value_limits else POINTS_LIMIT
        bodies: Iterator[bytes] = {
            "attack": lambda: attack_bodies(int(time.time() * 1000)),
            "values": lambda: value_bodies(BODY_LIMIT, value_length),
            "samples": lambda: sample_bodies(BODY_LIMIT, points_limit),
        }[scenario]()
        done = threading.Event()
        threads = [
            threading.Thread(target=heavy_writer, daemon=True,
                             args=(server.url, tokens[0], bodies, opts.duration, outcome, done)),
            threading.Thread(target=prober, daemon=True,
                             args=(server.url, tokens[1], outcome, done)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcome.stored_probes = stored_entries(server, ids[1], "probe")
        acknowledged = outcome.probe_statuses.get("200", 0)
        if outcome.stored_probes < acknowledged:
            outcome.failure = (f"{acknowledged} probes acknowledged, "
                               f"{outcome.stored_probes} stored")
    except (BenchError, httpx.HTTPError) as exc:
        outcome.failure = f"{type(exc).__name__}: {exc}"
    finally:
        server.stop()
    return outcome


@contextlib.contextmanager
def store_env(store: str) -> Iterator[dict[str, str]]:
    """The server's store settings: the fresh data directory's SQLite file, or a fresh
    PostgreSQL schema (dropped afterwards)."""
    if store == "sqlite":
        yield {}
        return
    from postgres import schema, schema_url  # bench/postgres.py

    with schema() as name:
        yield {"THINGPORT_DATABASE_URL": schema_url(name)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of heavy bodies per scenario (at least one body)")
    parser.add_argument("--no-value-limits", action="store_true",
                        help="run the server with JSON_MAX_STRING_VALUE_LENGTH=0, "
                             "THINGPORT_JSON_MAX_JSON_VALUE_LENGTH=0 and "
                             "THINGPORT_MAX_DATA_POINTS_PER_REQUEST=0 (no value limits)")
    parser.add_argument("--tmp-dir", default=None)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "writer_stall.json")
    opts = parser.parse_args(argv)
    chosen = [s.strip() for s in opts.scenarios.split(",") if s.strip()]
    if not chosen or not set(chosen) <= set(SCENARIOS):
        parser.error("--scenarios: " + ", ".join(SCENARIOS))
    opts.scenarios = chosen
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1"
    env: dict[str, str] = {}
    if opts.no_value_limits:
        env.update({"JSON_MAX_STRING_VALUE_LENGTH": "0",
                    "THINGPORT_JSON_MAX_JSON_VALUE_LENGTH": "0",
                    "THINGPORT_MAX_DATA_POINTS_PER_REQUEST": "0"})
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="thingport-stall-", dir=opts.tmp_dir)).resolve()
    outcomes: list[Outcome] = []
    try:
        with signals_stop():
            for scenario in opts.scenarios:
                print(f"{opts.store} {scenario}: {opts.duration:g}s of heavy bodies ...",
                      flush=True)
                with store_env(opts.store) as store_settings:
                    outcome = run_scenario(children, tmp / scenario, scenario, opts.store,
                                           {**env, **store_settings}, opts)
                outcomes.append(outcome)
                print("  -> " + outcome.line(), flush=True)
                shutil.rmtree(tmp / scenario, ignore_errors=True)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); stopping", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "outcomes": [{**asdict(o), "p50_ms": o.percentile(0.5), "p99_ms": o.percentile(0.99),
                      "max_ms": max(o.probe_ms, default=0.0)} for o in outcomes],
    }
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {opts.output}")
    return 0 if outcomes and not any(o.failure for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
