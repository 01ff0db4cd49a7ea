#!/usr/bin/env python3
"""Durable ingest on PostgreSQL: thingport on one and two nodes, against the same node on
SQLite and against PostgreSQL's own bulk path (COPY), in one run on one machine.

    python bench/postgres.py [--duration 10] [--connections 64] [--devices 1000]

For each scenario (A: one sample per request, B: 100 samples per request) it measures, with wrk
and ``bench/lua/telemetry.lua`` (the pieces of ``bench/run.py``, imported):

* ``sqlite-1``: one thingport node on SQLite (a fresh data directory), as ``bench/run.py`` does;
* ``pg-1``: the same node on PostgreSQL (``THINGPORT_DATABASE_URL``, a fresh schema);
* ``pg-1-redis``: that node with the Redis bus too (``THINGPORT_REDIS_URL``), as every node of a
  cluster runs: the cost of the bus alone;
* ``pg-2``: two nodes on that PostgreSQL (one schema, one Redis, one JWT key), wrk split in two
  (half the connections each, no proxy hop in between): figures are the sum of both; p50 is the
  request-weighted mean of the two p50s, p90/p99/max the worse of the two;
* ``copy``: PostgreSQL alone: the rows ``pg-1`` acknowledged (same count, same devices and keys
  per request) written into a table of thingport's ``ts_kv`` layout (partitioned by ``ts``,
  primary key ``(entity_id, key, ts)``) with one ``COPY`` (asyncpg ``copy_records_to_table``),
  timed from the start of the COPY to its commit. Generating the rows is not timed. It writes
  history rows only: thingport also upserts the latest value of every key.

Every thingport run is checked as in ``bench/run.py``: every request must answer 200, and the
entries of the counted key must be in the store afterwards (read over REST). CPU of the server
processes and of all ``postgres`` processes during the run is reported (both share the cores).

The PostgreSQL server is the machine's (``THINGPORT_BENCH_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``); every schema the runner creates is named
``thingport_bench_<hex>`` and dropped at the end. Redis: ``THINGPORT_BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/12``). Results: a table, the ratios, and ``bench/results/postgres.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from run import (  # bench/run.py: this script runs as `python bench/postgres.py`
    LUA_DIR,
    NOISE_CPU_PERCENT,
    RESULTS_DIR,
    SCENARIOS,
    BenchError,
    Children,
    Interrupted,
    Result,
    Scenario,
    Thingport,
    WrkRun,
    check_stored,
    cpu_seconds,
    disk_of,
    fill,
    machine,
    min_stored_share,
    run_wrk,
    signals_stop,
    wait_quiet,
)

POSTGRES_URL = os.environ.get("THINGPORT_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("THINGPORT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SYSTEMS = ("sqlite-1", "pg-1", "pg-1-redis", "pg-2")

#: thingport's ts_kv (src/thingport/store/migrations/postgresql/0001_init.sql), for COPY.
TS_KV = """
CREATE TABLE {schema}.ts_kv (
    entity_id uuid NOT NULL,
    key       int NOT NULL,
    ts        bigint NOT NULL,
    bool_v    boolean,
    str_v     varchar(10000000),
    long_v    bigint,
    dbl_v     double precision,
    json_v    json,
    CONSTRAINT ts_kv_pkey PRIMARY KEY (entity_id, key, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE {schema}.ts_kv_indefinite PARTITION OF {schema}.ts_kv DEFAULT;
"""


# -- PostgreSQL ------------------------------------------------------------------------------------
def _sql(sql: str) -> Any:
    import asyncpg

    async def run() -> Any:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


@contextlib.contextmanager
def schema() -> Iterator[str]:
    """A new schema of the runner's own, dropped afterwards."""
    name = f"thingport_bench_{uuid.uuid4().hex[:12]}"
    _sql(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        _sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def schema_url(name: str) -> str:
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}search_path={name}"


def postgres_settings() -> dict[str, str]:
    rows = _sql("SELECT name, setting FROM pg_settings WHERE name IN ('server_version', "
                "'synchronous_commit', 'fsync', 'wal_sync_method', 'shared_buffers', "
                "'max_wal_size', 'commit_delay', 'data_directory')")
    return {row["name"]: row["setting"] for row in rows}


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every process named postgres (the machine's server)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
    return total


def copy_peer(rows_per_request: int, requests: int, devices: int) -> dict[str, Any]:
    """COPY ``requests * rows_per_request`` rows (random devices, keys as thingport numbers
    them, one ts per request) into a fresh ts_kv; the seconds from the COPY to its commit."""
    import asyncpg

    device_ids = [uuid.uuid4() for _ in range(devices)]
    base = int(time.time() * 1000) - 86_400_000
    records = []
    for n in range(requests):
        device = random.choice(device_ids)
        ts = base + n  # distinct per request, as the server's clock is per request
        for key in range(1, rows_per_request + 1):
            records.append((device, key, ts, None, None, None, random.random() * 100, None))

    async def run(name: str) -> tuple[float, float]:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(TS_KV.format(schema=name))
            backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
            cpu_before = cpu_seconds(backend)
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "ts_kv", schema_name=name, records=records,
                columns=["entity_id", "key", "ts", "bool_v", "str_v", "long_v", "dbl_v",
                         "json_v"])
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(backend) - cpu_before
            stored = await conn.fetchval(f"SELECT count(*) FROM {name}.ts_kv")
            if stored != len(records):
                raise BenchError(f"COPY: {stored} rows stored of {len(records)}")
            return elapsed, cpu
        finally:
            await conn.close()

    with schema() as name:
        elapsed, backend_cpu = asyncio.run(run(name))
    return {"rows": len(records), "seconds": round(elapsed, 3),
            "rows_per_s": round(len(records) / elapsed, 1) if elapsed else 0.0,
            "backend_cpu_s": round(backend_cpu, 2)}  # the COPY's own backend process


# -- thingport -------------------------------------------------------------------------------------
@dataclass
class Run:
    """One thingport measurement: bench/run.py's Result plus PostgreSQL's CPU."""

    result: Result
    nodes: int
    store: str
    postgres_cpu_percent: float = 0.0


def run_split(children: Children, script: Path, urls: Sequence[str], script_args: list[str],
              pids: Sequence[int], opts: argparse.Namespace, duration: float) -> WrkRun:
    """wrk against every node at once, the connections split evenly; one combined WrkRun."""
    runs: list[WrkRun | None] = [None] * len(urls)
    failures: list[BaseException] = []
    per_node = max(1, opts.connections // len(urls))

    def one(i: int) -> None:
        try:
            runs[i] = run_wrk(children, script, urls[i], script_args, duration=duration,
                              connections=per_node, threads=1, server_pid=pids[i])
        except BaseException as exc:
            failures.append(exc)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if failures:
        raise failures[0]
    done = [r for r in runs if r is not None]
    total = sum(r.requests for r in done) or 1
    errors: dict[str, int] = {}
    unexpected: dict[str, int] = {}
    for r in done:
        for k, v in r.errors.items():
            errors[k] = errors.get(k, 0) + v
        for k, v in r.unexpected_by_status.items():
            unexpected[k] = unexpected.get(k, 0) + v
    return WrkRun(
        duration_s=max(r.duration_s for r in done), requests=sum(r.requests for r in done),
        responses=sum(r.responses for r in done), unexpected=sum(r.unexpected for r in done),
        unexpected_by_status=unexpected,
        first_unexpected=next((r.first_unexpected for r in done if r.first_unexpected), ""),
        errors=errors,
        latency_us={
            "p50": sum(r.latency_us["p50"] * r.requests for r in done) / total,
            **{q: max(r.latency_us[q] for r in done) for q in ("p90", "p99", "max")},
        },
        wrk_cpu_s=round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2),
        server_cpu_s=round(sum(r.server_cpu_s for r in done), 2),
        server_written_bytes=sum(r.server_written_bytes for r in done),
        machine_cpu_s=done[0].machine_cpu_s,
    )


def bench_nodes(children: Children, root: Path, scenario: Scenario, opts: argparse.Namespace,
                system: str) -> Run:
    """Start the nodes of ``system``, make the devices, warm up, measure, check."""
    nodes_count = 2 if system == "pg-2" else 1
    store = "sqlite" if system == "sqlite-1" else "postgresql"
    result = Result(system, scenario.name, scenario.samples)
    out = Run(result, nodes_count, store)
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if store == "postgresql":
            env["THINGPORT_DATABASE_URL"] = schema_url(stack.enter_context(schema()))
            if nodes_count > 1 or system.endswith("-redis"):
                env.update({"THINGPORT_REDIS_URL": REDIS_URL,
                            "JWT_TOKEN_SIGNING_KEY": secrets.token_hex(32)})
        nodes = [Thingport(children, root / f"node-{i}", env) for i in range(nodes_count)]
        first = nodes[0]
        for node in nodes[1:]:
            stack.callback(node.stop)
        with first.measuring(result):
            for node in nodes:
                node.start()
            started = time.monotonic()
            tokens, ids = first.create_devices(opts.devices)
            print(f"  {system} {scenario.name}: {len(ids)} devices in "
                  f"{time.monotonic() - started:.1f}s (pids "
                  f"{', '.join(str(n.pid) for n in nodes)})", flush=True)
            tokens_file = root / "tokens.txt"
            tokens_file.write_text("\n".join(tokens) + "\n")
            script = LUA_DIR / "telemetry.lua"
            args = [str(tokens_file), str(scenario.samples)]
            urls, pids = [n.url for n in nodes], [n.pid for n in nodes]

            def measure(duration: float) -> WrkRun:
                if nodes_count == 1:
                    return run_wrk(children, script, urls[0], args, duration=duration,
                                   connections=opts.connections, threads=opts.threads,
                                   server_pid=pids[0])
                return run_split(children, script, urls, args, pids, opts, duration)

            result.waited_for_quiet_s = wait_quiet(opts.quiet_wait, first.pid)
            warmup = measure(opts.warmup) if opts.warmup > 0 else None
            pg_before = postgres_cpu_seconds()
            run = measure(opts.duration)
            pg_cpu = postgres_cpu_seconds() - pg_before
            fill(result, warmup, run)
            if store == "postgresql" and run.duration_s:
                out.postgres_cpu_percent = round(100 * pg_cpu / run.duration_s, 1)
                # fill() counts PostgreSQL as "other"; it is part of the system under test.
                result.other_cpu_percent = round(
                    max(0.0, result.other_cpu_percent - out.postgres_cpu_percent), 1)
                result.noisy = result.other_cpu_percent > NOISE_CPU_PERCENT
            for device_id in ids[:20]:
                latest = first.latest(device_id, scenario.thingport_key)
                if latest is not None:
                    result.latest = {"device": device_id, **latest}
                    break
            result.stored = first.count_entries(ids, scenario.thingport_key)
            check_stored(result, min_stored_share(opts.devices, opts.connections))
    return out


# -- report ----------------------------------------------------------------------------------------
def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def table(runs: Sequence[Run], copies: dict[str, dict[str, Any]],
          ratios: dict[str, dict[str, float | None]]) -> str:
    head = (f"{'scenario':<22} {'system':<9} {'req/s':>8} {'samples/s':>10} {'p50 ms':>7} "
            f"{'p99 ms':>7} {'srv CPU':>8} {'PG CPU':>7} {'oth CPU':>8}  status")
    lines = [head, "-" * len(head)]
    for scenario in SCENARIOS:
        title = f"{scenario.name}: {scenario.title}"
        for run in (r for r in runs if r.result.scenario == scenario.name):
            r = run.result
            if r.ok:
                pg = f"{run.postgres_cpu_percent:>6.0f}%" if run.store == "postgresql" else \
                    f"{'-':>7}"
                lines.append(
                    f"{title:<22} {r.system:<9} {r.requests_per_s:>8.0f} {r.samples_per_s:>10.0f}"
                    f" {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.server_cpu_percent:>7.0f}% {pg} "
                    f"{r.other_cpu_percent:>7.0f}%  ok (stored {r.stored}/"
                    f"{r.acknowledged_total}){' NOISY' if r.noisy else ''}")
            else:
                lines.append(f"{title:<22} {r.system:<9} FAILED: {r.failure[:300]}")
        if scenario.name in copies:
            c = copies[scenario.name]
            if "error" in c:
                lines.append(f"{title:<22} {'copy':<9} FAILED: {c['error'][:300]}")
            else:
                lines.append(f"{title:<22} {'copy':<9} {'-':>8} {c['rows_per_s']:>10.0f} "
                             f"{'-':>7} {'-':>7} {'-':>8} {'-':>7} {'-':>8}  {c['rows']} rows "
                             f"in {c['seconds']:.2f}s, one COPY")
        for label, value in ratios.get(scenario.name, {}).items():
            shown = f"{value:.2f}x" if value is not None else "n/a"
            lines.append(f"{title:<22} {'ratio':<9} {shown:>8}  {label}")
    return "\n".join(lines)


def compute_ratios(runs: Sequence[Run], copies: dict[str, dict[str, Any]]
                   ) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for scenario in SCENARIOS:
        by = {r.result.system: r.result for r in runs
              if r.result.scenario == scenario.name and r.result.ok}
        found: dict[str, float | None] = {}
        if "pg-1" in by and "sqlite-1" in by:
            found["pg-1 / sqlite-1 (samples/s; target >= 0.8 for A)"] = ratio(
                by["pg-1"].samples_per_s, by["sqlite-1"].samples_per_s)
        if "pg-1-redis" in by and "pg-1" in by:
            found["pg-1-redis / pg-1 (samples/s: the cost of the Redis bus)"] = ratio(
                by["pg-1-redis"].samples_per_s, by["pg-1"].samples_per_s)
        if "pg-2" in by and "pg-1" in by:
            found["pg-2 / pg-1 (samples/s)"] = ratio(by["pg-2"].samples_per_s,
                                                     by["pg-1"].samples_per_s)
        copy = copies.get(scenario.name, {})
        if "pg-1" in by and copy.get("rows_per_s"):
            found["pg-1 / COPY (samples/s over rows/s)"] = ratio(by["pg-1"].samples_per_s,
                                                                 copy["rows_per_s"])
        if found:
            out[scenario.name] = found
    return out


# -- main ------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of wrk before each")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (one node)")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None,
                        help="THINGPORT_WORKERS of every thingport server (default: its own)")
    parser.add_argument("--scenarios", default="AB", help="A, B or AB")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated, of {', '.join(SYSTEMS)}")
    parser.add_argument("--quiet-wait", type=float, default=30,
                        help="seconds to wait at most before each run for the machine to calm "
                             "down (0: do not wait)")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "postgres.json")
    opts = parser.parse_args(argv)
    opts.systems = [s.strip() for s in opts.systems.split(",") if s.strip()]
    if not set(opts.systems) <= set(SYSTEMS):
        parser.error(f"--systems: of {', '.join(SYSTEMS)}")
    if min(opts.duration, opts.connections, opts.devices, opts.threads) <= 0:
        parser.error("--duration, --connections, --devices and --threads must be positive")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    import run

    run.WORKERS = opts.workers
    if shutil.which("wrk") is None:
        print("missing tool: wrk", file=sys.stderr)
        return 2
    try:
        import asyncpg  # noqa: F401
    except ModuleNotFoundError:
        print("asyncpg is missing: pip install 'thingport[postgres]'", file=sys.stderr)
        return 2
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1"
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="thingport-bench-pg-", dir=opts.tmp_dir)).resolve()
    started = dt.datetime.now(dt.UTC)
    runs: list[Run] = []
    copies: dict[str, dict[str, Any]] = {}
    print(f"thingport PostgreSQL bench: {opts.duration:g}s per run after {opts.warmup:g}s "
          f"warm-up, {opts.connections} connections, {opts.devices} devices, data in {tmp}",
          flush=True)
    try:
        with signals_stop():
            for scenario in SCENARIOS:
                if scenario.name not in opts.scenarios.upper():
                    continue
                for system in opts.systems:
                    root = tmp / f"{system}-{scenario.name}"
                    run = bench_nodes(children, root, scenario, opts, system)
                    runs.append(run)
                    r = run.result
                    print(f"  -> {system} {scenario.name}: "
                          + (f"{r.requests_per_s:.0f} req/s, {r.samples_per_s:.0f} samples/s, "
                             f"p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, server CPU "
                             f"{r.server_cpu_percent:.0f}%, PostgreSQL CPU "
                             f"{run.postgres_cpu_percent:.0f}%, stored "
                             f"{r.stored}/{r.acknowledged_total}" if r.ok
                             else f"FAILED: {r.failure[:300]}"), flush=True)
                    shutil.rmtree(root, ignore_errors=True)
                # The peer: the rows the one PostgreSQL node acknowledged (else the most any
                # thingport run did), with one COPY.
                done = [x.result for x in runs if x.result.scenario == scenario.name
                        and x.result.ok]
                pg1 = next((x for x in done if x.system == "pg-1"), None)
                source = pg1 or max(done, key=lambda x: x.acknowledged_total, default=None)
                requests = source.acknowledged_total if source else 10_000
                try:
                    copies[scenario.name] = copy_peer(scenario.samples, requests, opts.devices)
                except Exception as exc:
                    copies[scenario.name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"  -> copy {scenario.name}: {copies[scenario.name]}", flush=True)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); stopping", file=sys.stderr)
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        return 130
    finally:
        children.stop_all()
    shutil.rmtree(tmp, ignore_errors=True)

    found = compute_ratios(runs, copies)
    print()
    print(table(runs, copies, found))
    report = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {"duration_s": opts.duration, "warmup_s": opts.warmup,
                     "connections": opts.connections, "wrk_threads": opts.threads,
                     "devices": opts.devices, "systems": opts.systems},
        "machine": {**machine(), "disk": disk_of(tmp)},
        "postgresql": postgres_settings(),
        "results": [{**asdict(r.result), "nodes": r.nodes, "store": r.store,
                     "postgres_cpu_percent": r.postgres_cpu_percent} for r in runs],
        "copy": copies,
        "ratios": found,
    }
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {opts.output}")
    ok = all(r.result.ok for r in runs) and all("error" not in c for c in copies.values())
    return 0 if runs and ok else 1


if __name__ == "__main__":
    sys.exit(main())
