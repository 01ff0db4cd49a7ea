#!/usr/bin/env python3
"""Durable write throughput of thingport against InfluxDB 1.x, driven by wrk.

    python bench/run.py [--duration 15] [--connections 64] [--devices 1000] [--skip-influx]

For each scenario (A: one sample per request, B: 100 samples per request) and each system, the
runner starts a fresh server on 127.0.0.1 with a fresh data directory, prepares it (thingport:
N devices with chosen access tokens; InfluxDB: a database), warms it up with a short wrk run,
measures with wrk, then checks that every acknowledged write is stored:

* thingport: ``POST /api/v1/{token}/telemetry``, a random device token per request (from a
  tokens file). A: ``{"temperature":<float>}``. B: one flat object with 100 keys
  ``{"k0":<float>,...,"k99":<float>}`` (100 time-series entries sharing the server's timestamp).
  Every response must be 200. Afterwards the latest value of a device is read over REST, and the
  entries of one key (``temperature`` / ``k0``) are counted over REST for every device.
* InfluxDB: ``POST /write?db=bench``, line protocol, a random device per request.
  A: ``temperature,device=dN value=<float>``. B: 100 lines ``k<i>,device=dN value=<float>``
  (the same series per device and key as thingport stores). Every response must be 204, with
  ``wal-fsync-delay = "0s"`` (the WAL is fsynced before the 204). Afterwards
  ``SELECT count(value)`` of ``temperature`` / ``k0`` must cover every acknowledged request.

A run with any unexpected status, socket error, timeout or missing data is reported as FAILED,
without figures in the ratio. Results are printed as a table and written to
``bench/results/latest.json``. Every process the runner starts is stopped when it ends, also on
Ctrl-C, SIGTERM or an error (and killed by the kernel if the runner itself is killed). Only
127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
LUA_DIR = BENCH_DIR / "lua"
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"
#: THINGPORT_WORKERS of the servers started (--workers); None leaves the server's default.
WORKERS: int | None = None
#: Each wrk connection waits this long (ms) after every answer before its next request
#: (--pace-ms; 0: none): a lower, steady rate, to read the latency there.
PACE_MS = 0

TENANT_EMAIL = "tenant@thingsboard.org"
TENANT_PASSWORD = "bench-tenant-pass"
SYSADMIN_PASSWORD = "bench-sysadmin-pass"
INFLUX_DB = "bench"



def min_stored_share(devices: int, connections: int) -> float:
    """The share of acknowledged requests thingport must have stored, at least.

    thingport keys an entry by (device, key, millisecond), as ThingsBoard does: two requests for
    one device stamped in the same millisecond make one entry (the last value wins). At worst
    all ``connections`` in-flight requests are stamped in the same millisecond; of ``c`` random
    picks among ``D`` devices, ``D * (1 - (1 - 1/D) ** c)`` are distinct on average. A 1 % margin
    on top of that worst case; anything below is lost data.
    """
    c, d = connections, devices
    return 0.99 * d * (1 - (1 - 1 / d) ** c) / c


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    samples: int  # samples (key-values / points) per request
    thingport_key: str  # the key counted after the run
    influx_measurement: str


SCENARIOS = (
    Scenario("A", "1 sample/request", 1, "temperature", "temperature"),
    Scenario("B", "100 samples/request", 100, "k0", "k0"),
)


class BenchError(Exception):
    """A failure that stops the runner (a server that does not start, a missing tool ...)."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: stop like on Ctrl-C."""


# -- processes -------------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the runner dies (Linux), so nothing is left."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


class Children:
    """Every process the runner starts, to stop them all whatever happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], *, env: dict[str, str] | None = None,
              log: Path | None = None, capture: bool = False) -> subprocess.Popen[bytes]:
        if log is not None:
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    list(args), env=env, stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
        else:
            process = subprocess.Popen(
                list(args), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        self.processes.append(process)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; by the process's own id only."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(5)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                self.stop(process)
        self.processes.clear()


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(f"signal {signum}")


def free_port(taken: set[int] | None = None) -> int:
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = int(s.getsockname()[1])
        if not taken or port not in taken:
            return port


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float,
              ok: Sequence[int] = (200, 204)) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{url}: process exited with {process.returncode}\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code in ok:
                return
        time.sleep(0.1)
    raise BenchError(f"{url}: no answer in {timeout:.0f}s\n{tail(log)}")


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (a server's workers), as running now."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, ()))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process and its children (all their threads), in
    seconds."""
    total = 0.0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_cpu() -> dict[str, float]:
    """Seconds of CPU time of the whole machine so far, summed over cores: busy, iowait, steal."""
    try:
        values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return {"busy": 0.0, "iowait": 0.0, "steal": 0.0}
    user, nice, system, _idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return {"busy": (user + nice + system + irq + softirq) / tick, "iowait": iowait / tick,
            "steal": steal / tick}


#: Busy CPU of other processes (in % of one core) above which a machine is not quiet, and a run
#: during which they used more is marked noisy. Kernel threads doing the server's own disk
#: writes take a few %.
NOISE_CPU_PERCENT = 25.0


def wait_quiet(max_wait: float, own_pid: int) -> float:
    """Wait until the rest of the machine is idle (other processes below NOISE_CPU_PERCENT over
    a second; other users of this machine may be running tests), at most ``max_wait`` seconds.
    Returns the seconds waited."""
    started = time.monotonic()
    announced = False
    while True:
        before, own_before = machine_cpu()["busy"], cpu_seconds(own_pid)
        time.sleep(1)
        other = machine_cpu()["busy"] - before - (cpu_seconds(own_pid) - own_before)
        waited = time.monotonic() - started
        if 100 * other < NOISE_CPU_PERCENT or waited >= max_wait:
            if announced:
                state = "quiet" if 100 * other < NOISE_CPU_PERCENT else "still busy, going on"
                print(f"  ... {state} after {waited:.0f}s", flush=True)
            return round(waited, 1)
        if not announced:
            print(f"  machine busy (other processes use {100 * other:.0f}% CPU); waiting up to "
                  f"{max_wait:.0f}s for it to calm down", flush=True)
            announced = True


def written_bytes(pid: int) -> int:
    """Bytes the process and its children have caused to be written to storage so far."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/io").read_text().splitlines():
                if line.startswith("write_bytes:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


# -- wrk -------------------------------------------------------------------------------------------
@dataclass
class WrkRun:
    duration_s: float
    requests: int
    responses: int
    unexpected: int
    unexpected_by_status: dict[str, int]
    first_unexpected: str
    errors: dict[str, int]
    latency_us: dict[str, float]
    wrk_cpu_s: float
    server_cpu_s: float
    server_written_bytes: int
    machine_cpu_s: dict[str, float]

    @property
    def socket_errors(self) -> int:
        return sum(v for k, v in self.errors.items() if k != "status")

    @property
    def acknowledged(self) -> int:
        return self.responses - self.unexpected


def run_wrk(children: Children, script: Path, url: str, script_args: Sequence[str], *,
            duration: float, connections: int, threads: int, server_pid: int) -> WrkRun:
    args = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "10s", "-s", str(script), url, "--", *script_args,
    ]
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_server = cpu_seconds(server_pid)
    before_written = written_bytes(server_pid)
    before_machine = machine_cpu()
    env = {**os.environ, "BENCH_PACE_MS": str(PACE_MS)} if PACE_MS else None
    process = children.start(args, capture=True, env=env)
    try:
        out, err = process.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        Children.stop(process, 2)
        raise BenchError(f"wrk did not finish in {duration + 60:.0f}s: {' '.join(args)}") from None
    server_cpu = cpu_seconds(server_pid) - before_server
    server_written = written_bytes(server_pid) - before_written
    after_machine = machine_cpu()
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after_children.ru_utime - before_children.ru_utime
               + after_children.ru_stime - before_children.ru_stime)
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({process.returncode}): {' '.join(args)}\n{stdout}\n{stderr}")
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
    return WrkRun(
        duration_s=data["duration_us"] / 1e6, requests=data["requests"],
        responses=data["responses"], unexpected=data["unexpected"],
        unexpected_by_status=data["unexpected_by_status"],
        first_unexpected=data["first_unexpected"], errors=data["errors"],
        latency_us=data["latency_us"], wrk_cpu_s=round(wrk_cpu, 2),
        server_cpu_s=round(server_cpu, 2), server_written_bytes=server_written,
        machine_cpu_s={k: round(after_machine[k] - before_machine[k], 2) for k in after_machine},
    )


# -- results ---------------------------------------------------------------------------------------
@dataclass
class Result:
    system: str
    scenario: str
    samples_per_request: int
    round: int = 1
    ok: bool = False
    failure: str = ""
    requests: int = 0
    duration_s: float = 0.0
    requests_per_s: float = 0.0
    samples_per_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu_percent: float = 0.0  # of one core, during the measured run
    wrk_cpu_percent: float = 0.0
    # The rest of the machine's busy CPU (other processes, kernel threads), and the time the
    # hypervisor gave the cores to someone else, during the measured run: noise indicators.
    other_cpu_percent: float = 0.0
    steal_percent: float = 0.0
    iowait_percent: float = 0.0
    noisy: bool = False  # other processes used more than NOISE_CPU_PERCENT during the run
    waited_for_quiet_s: float = 0.0
    server_write_mb_per_s: float = 0.0  # storage writes of the server during the measured run
    written_bytes_per_sample: float = 0.0
    acknowledged_total: int = 0  # warm-up + measured requests answered with the expected status
    stored: int = 0  # entries of the counted key found afterwards
    stored_share: float = 0.0  # stored / acknowledged_total
    latest: Any = None
    errors: dict[str, Any] = field(default_factory=dict)
    #: thingport's writer during the measured run (``writer_stats``): its transactions and
    #: the longest of them, which every write queued meanwhile waits for.
    writer: dict[str, Any] = field(default_factory=dict)


def fill(result: Result, warmup: WrkRun | None, run: WrkRun) -> Result:
    result.requests = run.requests
    result.duration_s = round(run.duration_s, 3)
    rate = run.requests / run.duration_s if run.duration_s else 0.0
    result.requests_per_s = round(rate, 1)
    result.samples_per_s = round(rate * result.samples_per_request, 1)
    result.p50_ms = round(run.latency_us["p50"] / 1000, 2)
    result.p90_ms = round(run.latency_us["p90"] / 1000, 2)
    result.p99_ms = round(run.latency_us["p99"] / 1000, 2)
    result.max_ms = round(run.latency_us["max"] / 1000, 2)
    if run.duration_s:
        result.server_cpu_percent = round(100 * run.server_cpu_s / run.duration_s, 1)
        result.wrk_cpu_percent = round(100 * run.wrk_cpu_s / run.duration_s, 1)
        result.server_write_mb_per_s = round(run.server_written_bytes / run.duration_s / 1e6, 1)
        other = run.machine_cpu_s["busy"] - run.server_cpu_s - run.wrk_cpu_s
        result.other_cpu_percent = round(max(0.0, 100 * other / run.duration_s), 1)
        result.noisy = result.other_cpu_percent > NOISE_CPU_PERCENT
        result.steal_percent = round(100 * run.machine_cpu_s["steal"] / run.duration_s, 1)
        result.iowait_percent = round(100 * run.machine_cpu_s["iowait"] / run.duration_s, 1)
    if run.requests:
        result.written_bytes_per_sample = round(
            run.server_written_bytes / (run.requests * result.samples_per_request), 1)
    runs = [r for r in (warmup, run) if r is not None]
    result.acknowledged_total = sum(r.acknowledged for r in runs)
    problems = []
    for label, r in (("warm-up", warmup), ("run", run)):
        if r is None:
            continue
        if r.unexpected:
            problems.append(f"{label}: {r.unexpected} unexpected responses "
                            f"{r.unexpected_by_status}, first: {r.first_unexpected!r}")
        if r.socket_errors:
            problems.append(f"{label}: socket errors {r.errors}")
        if r.responses != r.requests:
            problems.append(f"{label}: wrk counted {r.requests} requests, "
                            f"the script {r.responses} responses")
    result.errors = {"run": run.errors, "unexpected_by_status": run.unexpected_by_status}
    if problems:
        result.failure = "; ".join(problems)
    return result


def check_stored(result: Result, min_share: float = 1.0) -> None:
    if result.failure:
        return
    need = result.acknowledged_total * min_share
    if result.acknowledged_total:
        result.stored_share = round(result.stored / result.acknowledged_total, 4)
    if result.stored < need:
        result.failure = (f"stored {result.stored} entries of the counted key for "
                          f"{result.acknowledged_total} acknowledged requests")
    elif result.latest is None:
        result.failure = "no latest value read back"
    else:
        result.ok = True


# -- thingport -------------------------------------------------------------------------------------
class Server:
    """A server process the runner started: its pid, its log, and a way to stop it."""

    name: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @contextlib.contextmanager
    def measuring(self, result: Result) -> Iterator[None]:
        """Run one measurement against this server: a failure is recorded in ``result`` (not
        raised), the server is always stopped, and its log is shown when the run failed."""
        try:
            yield
        except (BenchError, httpx.HTTPError, TimeoutError) as exc:
            result.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.stop()
        if not result.ok and self.log.exists():
            log = tail(self.log)
            if log:
                print(f"  {self.name} log ({self.log}):\n{log}", flush=True)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            Children.stop(self.process)


class Thingport(Server):
    name = "thingport"
    def __init__(self, children: Children, root: Path,
                 env: dict[str, str] | None = None) -> None:
        self.children = children
        self.root = root
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.data_dir = root / "data"
        self.log = root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: Settings on top of the runner's (bench/postgres.py: the PostgreSQL store, Redis).
        self.extra_env = dict(env or {})

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True)
        env = {
            **os.environ,
            "THINGPORT_DATA_DIR": str(self.data_dir),
            "THINGPORT_SYSADMIN_PASSWORD": SYSADMIN_PASSWORD,
            "THINGPORT_TENANT_ADMIN_EMAIL": TENANT_EMAIL,
            "THINGPORT_TENANT_ADMIN_PASSWORD": TENANT_PASSWORD,
            "HTTP_BIND_ADDRESS": HOST,
            "HTTP_BIND_PORT": str(self.port),
            "THINGPORT_LOG_LEVEL": "warning",
            **({"THINGPORT_WORKERS": str(WORKERS)} if WORKERS is not None else {}),
        }
        env.pop("THINGPORT_DATABASE_URL", None)  # the SQLite file in the fresh data dir ...
        env.update(self.extra_env)  # ... unless the caller names a store
        self.process = self.children.start(
            [sys.executable, "-m", "thingport", "serve"], env=env, log=self.log)
        wait_http(self.url + "/api/noauth/health", self.process, self.log, timeout)

    def login(self) -> dict[str, str]:
        answer = httpx.post(self.url + "/api/auth/login", timeout=30,
                            json={"username": TENANT_EMAIL, "password": TENANT_PASSWORD})
        answer.raise_for_status()
        return {"X-Authorization": "Bearer " + answer.json()["token"]}

    def create_devices(self, count: int, concurrency: int = 32,
                       timeout: float = 300) -> tuple[list[str], list[str]]:
        """``count`` devices with access tokens ``bench-tok-<i>``; their tokens and ids."""
        headers = self.login()
        tokens = [f"bench-tok-{i}" for i in range(1, count + 1)]

        async def create_all() -> list[str]:
            limits = httpx.Limits(max_connections=concurrency)
            async with httpx.AsyncClient(base_url=self.url, headers=headers, limits=limits,
                                         timeout=60) as client:
                gate = asyncio.Semaphore(concurrency)

                async def create(i: int, token: str) -> str:
                    async with gate:
                        answer = await client.post("/api/device", params={"accessToken": token},
                                                   json={"name": f"bench-{i}"})
                    if answer.status_code != 200:
                        raise BenchError(f"create device {i}: {answer.status_code} {answer.text}")
                    return str(answer.json()["id"]["id"])

                # The first device alone: the server creates the tenant's default device
                # profile on first use, and before commit 11c6065 concurrent first creations
                # raced on it (a 400 "Device profile with such name already exists!").
                first = await create(1, tokens[0])
                rest = await asyncio.gather(
                    *(create(i, t) for i, t in enumerate(tokens[1:], start=2)))
                return [first, *rest]

        ids = asyncio.run(asyncio.wait_for(create_all(), timeout))
        return tokens, ids

    def latest(self, device_id: str, key: str) -> Any:
        answer = httpx.get(
            f"{self.url}/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
            params={"keys": key}, headers=self.login(), timeout=30)
        answer.raise_for_status()
        entries = answer.json().get(key) or []
        return entries[0] if entries and entries[0].get("value") is not None else None

    def count_entries(self, device_ids: Sequence[str], key: str, concurrency: int = 16,
                      timeout: float = 300) -> int:
        """How many entries of ``key`` all the devices have, read over REST."""
        headers = self.login()
        end = int(time.time() * 1000) + 3_600_000

        async def count_all() -> int:
            async with httpx.AsyncClient(base_url=self.url, headers=headers,
                                         timeout=120) as client:
                gate = asyncio.Semaphore(concurrency)

                async def count(device_id: str) -> int:
                    async with gate:
                        answer = await client.get(
                            f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
                            params={"keys": key, "startTs": 0, "endTs": end,
                                    "limit": 1_000_000_000, "orderBy": "ASC"})
                    answer.raise_for_status()
                    return len(answer.json().get(key) or [])

                return sum(await asyncio.gather(*(count(d) for d in device_ids)))

        return asyncio.run(asyncio.wait_for(count_all(), timeout))


#: The writer's histograms in thingport's /metrics: its transactions of writes, and the merges
#: of the sample log into the history table (SQLite), each holding the writer while it runs.
WRITER_HISTOGRAMS = {"commit": "thingport_store_commit_duration_seconds",
                     "merge": "thingport_store_merge_duration_seconds"}


def writer_histograms(url: str) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts (upper bound in s -> count) of ``WRITER_HISTOGRAMS``."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics", timeout=30).text
    buckets: dict[str, dict[float, float]] = {name: {} for name in WRITER_HISTOGRAMS}
    names = {metric: name for name, metric in WRITER_HISTOGRAMS.items()}
    for family in text_string_to_metric_families(text):
        name = names.get(family.name)
        for sample in family.samples if name else ():
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[name][bound] = buckets[name].get(bound, 0) + sample.value
    return buckets


def writer_stats(before: dict[str, dict[float, float]],
                 after: dict[str, dict[float, float]]) -> dict[str, Any]:
    """For each histogram, over the measured run: how many, the bucket holding the 99th
    percentile and the bucket of the longest (upper bounds in ms)."""
    stats: dict[str, Any] = {}
    for name, buckets in after.items():
        counts = sorted((bound, count - before.get(name, {}).get(bound, 0))
                        for bound, count in buckets.items())
        total = counts[-1][1] if counts else 0
        if not total:
            stats[name] = {"count": 0}
            continue
        p99 = next(bound for bound, count in counts if count >= 0.99 * total)
        longest = next(bound for bound, count in counts if count >= total)
        stats[name] = {"count": int(total), "p99_le_ms": p99 * 1000, "max_le_ms": longest * 1000}
    return stats


def bench_thingport(children: Children, root: Path, scenario: Scenario,
                    opts: argparse.Namespace, profile_dir: Path | None) -> Result:
    result = Result("thingport", scenario.name, scenario.samples)
    server = Thingport(children, root)
    with server.measuring(result):
        server.start()
        started = time.monotonic()
        tokens, ids = server.create_devices(opts.devices)
        print(f"  thingport {scenario.name}: {len(ids)} devices created in "
              f"{time.monotonic() - started:.1f}s (pid {server.pid}, {server.url})", flush=True)
        tokens_file = root / "tokens.txt"
        tokens_file.write_text("\n".join(tokens) + "\n")
        script = LUA_DIR / "telemetry.lua"
        script_args = [str(tokens_file), str(scenario.samples)]
        result.waited_for_quiet_s = wait_quiet(opts.quiet_wait, server.pid)
        warmup = None
        if opts.warmup > 0:
            warmup = run_wrk(children, script, server.url, script_args, duration=opts.warmup,
                             connections=opts.connections, threads=opts.threads,
                             server_pid=server.pid)
        profiler = start_profiler(children, server.pid, opts, profile_dir, root.name)
        writer_before = writer_histograms(server.url)
        run = run_wrk(children, script, server.url, script_args, duration=opts.duration,
                      connections=opts.connections, threads=opts.threads, server_pid=server.pid)
        if profiler is not None:
            raw = profile_dir is not None and opts.profile_format == "raw"
            finish_profiler(profiler, profile_dir / f"{root.name}.txt"
                            if raw and profile_dir else None)
        result.writer = writer_stats(writer_before, writer_histograms(server.url))
        fill(result, warmup, run)
        # The latest value of the first device (of the first 20) that got a request.
        for device_id in ids[:20]:
            result.latest = server.latest(device_id, scenario.thingport_key)
            if result.latest is not None:
                result.latest = {"device": device_id, **result.latest}
                break
        result.stored = server.count_entries(ids, scenario.thingport_key)
        check_stored(result, min_stored_share(opts.devices, opts.connections))
    return result


# -- InfluxDB --------------------------------------------------------------------------------------
INFLUX_CONFIG = """\
reporting-enabled = false
bind-address = "{host}:{rpc_port}"

[meta]
  dir = "{root}/meta"
  logging-enabled = false

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "{host}:{http_port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false
"""


class Influx(Server):
    name = "influxd"
    def __init__(self, children: Children, root: Path) -> None:
        self.children = children
        self.root = root
        self.http_port = free_port()
        self.rpc_port = free_port({self.http_port})
        self.url = f"http://{HOST}:{self.http_port}"
        self.log = root / "influxd.log"
        self.config = root / "influxdb.conf"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(INFLUX_CONFIG.format(
            host=HOST, root=self.root, rpc_port=self.rpc_port, http_port=self.http_port))
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        self.process = self.children.start(
            ["influxd", "run", "-config", str(self.config)], env=env, log=self.log)
        wait_http(self.url + "/ping", self.process, self.log, timeout)

    def query(self, q: str, method: str = "GET") -> dict[str, Any]:
        answer = httpx.request(method, self.url + "/query",
                               params={"q": q, "db": INFLUX_DB}, timeout=120)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        for statement in data.get("results", []):
            if "error" in statement:
                raise BenchError(f"InfluxDB: {q}: {statement['error']}")
        return data

    def create_database(self) -> None:
        self.query(f"CREATE DATABASE {INFLUX_DB}", method="POST")

    def count(self, measurement: str) -> int:
        data = self.query(f'SELECT count("value") FROM "{measurement}"')
        series = data["results"][0].get("series") or []
        return int(series[0]["values"][0][1]) if series else 0

    def latest(self, measurement: str) -> Any:
        data = self.query(f'SELECT last("value") FROM "{measurement}" GROUP BY "device" LIMIT 1')
        series = data["results"][0].get("series") or []
        if not series:
            return None
        return {"device": series[0].get("tags", {}).get("device"),
                "time": series[0]["values"][0][0], "value": series[0]["values"][0][1]}


def bench_influx(children: Children, root: Path, scenario: Scenario,
                 opts: argparse.Namespace) -> Result:
    result = Result("influxdb", scenario.name, scenario.samples)
    server = Influx(children, root)
    with server.measuring(result):
        server.start()
        server.create_database()
        print(f"  influxdb  {scenario.name}: database created (pid {server.pid}, {server.url})",
              flush=True)
        script = LUA_DIR / "influx.lua"
        script_args = [str(opts.devices), str(scenario.samples), INFLUX_DB]
        result.waited_for_quiet_s = wait_quiet(opts.quiet_wait, server.pid)
        warmup = None
        if opts.warmup > 0:
            warmup = run_wrk(children, script, server.url, script_args, duration=opts.warmup,
                             connections=opts.connections, threads=opts.threads,
                             server_pid=server.pid)
        run = run_wrk(children, script, server.url, script_args, duration=opts.duration,
                      connections=opts.connections, threads=opts.threads, server_pid=server.pid)
        fill(result, warmup, run)
        result.latest = server.latest(scenario.influx_measurement)
        result.stored = server.count(scenario.influx_measurement)
        check_stored(result)
    return result


# -- profiling (optional) --------------------------------------------------------------------------
def start_profiler(children: Children, pid: int, opts: argparse.Namespace,
                   profile_dir: Path | None, name: str) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` on the thingport server during the measured run (with --profile)."""
    if profile_dir is None:
        return None
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    profile_dir.mkdir(parents=True, exist_ok=True)
    raw = opts.profile_format == "raw"
    out = profile_dir / f"{name}.{'txt' if raw else 'svg'}"
    print(f"  py-spy -> {out}", flush=True)
    args = [py_spy, "record", "--nonblocking", "--threads", "--subprocesses", "-d",
            str(max(1, round(opts.duration))), "-f", opts.profile_format, "-o", str(out),
            "--pid", str(pid)]
    return children.start(args, log=profile_dir / f"{name}.py-spy.log")


def finish_profiler(profiler: subprocess.Popen[bytes], out: Path | None) -> None:
    """Wait for py-spy; with raw output, print where the samples are."""
    try:
        profiler.wait(30)
    except subprocess.TimeoutExpired:
        Children.stop(profiler, 5)
    if out is None or not out.exists():
        return
    summary = profile_summary(out.read_text(errors="replace"))
    out.with_suffix(".top.txt").write_text(summary + "\n")
    print(summary, flush=True)


def profile_summary(collapsed: str, top: int = 25) -> str:
    """Per thread: its share of the samples, and the functions with most self and total time,
    from py-spy's raw (collapsed stack) output."""
    threads: dict[str, int] = {}
    self_time: dict[str, int] = {}
    total_time: dict[str, int] = {}
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        threads[thread] = threads.get(thread, 0) + count
        calls = [f for f in frames if not f.startswith(("thread", "process"))]
        if calls:
            self_time[calls[-1]] = self_time.get(calls[-1], 0) + count
        for frame in set(calls):
            total_time[frame] = total_time.get(frame, 0) + count
    if not samples:
        return "  (no samples)"
    lines = [f"  {samples} samples (active threads only)"]
    for thread, count in sorted(threads.items(), key=lambda x: -x[1]):
        lines.append(f"  {100 * count / samples:5.1f}%  {thread}")
    lines.append("  self time:")
    for frame, count in sorted(self_time.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"  {100 * count / samples:5.1f}%  {frame}")
    lines.append("  total time:")
    for frame, count in sorted(total_time.items(), key=lambda x: -x[1])[:top]:
        lines.append(f"  {100 * count / samples:5.1f}%  {frame}")
    return "\n".join(lines)


# -- report ----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        match = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = match.group(1).strip() if match else ""
    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(OSError):
        info["mem_total"] = Path("/proc/meminfo").read_text().splitlines()[0].split(":")[1].strip()
    for tool, args in (("wrk", ["wrk", "--version"]), ("influxd", ["influxd", "version"])):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(args, capture_output=True, timeout=10, text=True)
            info[tool] = (done.stdout + done.stderr).strip().splitlines()[0]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"],
                              capture_output=True, timeout=10, text=True)
        info["thingport_commit"] = done.stdout.strip()
        done = subprocess.run(["git", "-C", str(BENCH_DIR.parent), "status", "--porcelain",
                               "--", "src"], capture_output=True, timeout=10, text=True)
        info["thingport_src_changed"] = bool(done.stdout.strip())  # uncommitted edits in src/
    return info


def disk_of(path: Path) -> dict[str, Any]:
    """The filesystem and block device holding ``path``, and whether it is rotational."""
    best = ("", "", "")
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if str(path).startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[1]):
                best = (device, mount, fstype)
    info: dict[str, Any] = {"path": str(path), "device": best[0], "mount": best[1],
                            "fstype": best[2]}
    name = Path(best[0]).name
    with contextlib.suppress(OSError):
        info["rotational"] = Path(f"/sys/block/{name}/queue/rotational").read_text().strip() == "1"
    return info


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarize(results: Sequence[Result]) -> dict[str, dict[str, Any]]:
    """Per scenario and system, over the rounds: the median figures, and the range of req/s.

    ``ok`` is false when any round failed; the figures are of the rounds that passed. When both
    systems have quiet rounds in a scenario (no other busy process on the machine), only those
    count, so that the ratio compares like with like; ``noisy`` says a noisy round counted.
    """
    out: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        by_system = {system: [r for r in results
                              if r.scenario == scenario.name and r.system == system]
                     for system in ("thingport", "influxdb")}
        by_system = {k: v for k, v in by_system.items() if v}
        quiet_everywhere = all(any(r.ok and not r.noisy for r in runs)
                               for runs in by_system.values())
        for system, runs in by_system.items():
            passed = [r for r in runs if r.ok]
            used = [r for r in passed if not r.noisy] if quiet_everywhere else passed
            rates = [r.requests_per_s for r in used]
            out.setdefault(scenario.name, {})[system] = {
                "ok": len(passed) == len(runs), "rounds": len(runs), "passed": len(passed),
                "median_of": len(used), "noisy": any(r.noisy for r in used),
                "requests_per_s": round(_median(rates), 1),
                "samples_per_s": round(_median([r.samples_per_s for r in used]), 1),
                "p50_ms": round(_median([r.p50_ms for r in used]), 2),
                "p99_ms": round(_median([r.p99_ms for r in used]), 2),
                "requests_per_s_min": min(rates, default=0.0),
                "requests_per_s_max": max(rates, default=0.0),
            }
    return out


def ratios(results: Sequence[Result]) -> dict[str, float | None]:
    """thingport / InfluxDB requests/s (= samples/s) per scenario, of the medians over the
    rounds; None when a run of the scenario failed."""
    out: dict[str, float | None] = {}
    for name, systems in summarize(results).items():
        ours, theirs = systems.get("thingport"), systems.get("influxdb")
        if ours is None or theirs is None:
            continue
        ok = ours["ok"] and theirs["ok"] and theirs["requests_per_s"] > 0
        out[name] = round(ours["requests_per_s"] / theirs["requests_per_s"], 3) if ok else None
    return out


def ratios_per_round(results: Sequence[Result]) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {}
    for scenario in SCENARIOS:
        rounds = sorted({r.round for r in results if r.scenario == scenario.name})
        for n in rounds:
            found = ratios([r for r in results if r.round == n])
            if scenario.name in found:
                out.setdefault(scenario.name, []).append(found[scenario.name])
    return out


def table(results: Sequence[Result]) -> str:
    titles = {s.name: f"{s.name}: {s.title}" for s in SCENARIOS}
    many = len({r.round for r in results}) > 1
    head = (f"{'scenario':<24} {'system':<10} {'req/s':>9} {'samples/s':>11} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'srv CPU':>8} {'wrk CPU':>8} {'oth CPU':>8} {'MB/s wr':>8} "
            f"{'B/smpl':>7}  status")
    lines = [head, "-" * len(head)]
    summary = summarize(results)
    found = ratios(results)
    per_round = ratios_per_round(results)
    for scenario in SCENARIOS:
        for r in (x for x in results if x.scenario == scenario.name):
            label = f"{r.system} #{r.round}" if many else r.system
            if r.ok:
                lines.append(
                    f"{titles[r.scenario]:<24} {label:<10} {r.requests_per_s:>9.0f} "
                    f"{r.samples_per_s:>11.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
                    f"{r.server_cpu_percent:>7.0f}% {r.wrk_cpu_percent:>7.0f}% "
                    f"{r.other_cpu_percent:>7.0f}% "
                    f"{r.server_write_mb_per_s:>8.1f} {r.written_bytes_per_sample:>7.0f}  ok "
                    f"(stored {r.stored}/{r.acknowledged_total})"
                    + (" NOISY: other processes were busy" if r.noisy else ""))
            else:
                lines.append(f"{titles[r.scenario]:<24} {label:<10} {'-':>9} {'-':>11} "
                             f"{'-':>8} {'-':>8} {'-':>8} {'-':>8} {'-':>8} {'-':>8} {'-':>7}  "
                             f"FAILED: {r.failure[:400]}")
        if many:
            for system, m in summary.get(scenario.name, {}).items():
                lines.append(
                    f"{titles[scenario.name]:<24} {system[:6] + ' med':<10} "
                    f"{m['requests_per_s']:>9.0f} {m['samples_per_s']:>11.0f} "
                    f"{m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f}  median of {m['median_of']} "
                    f"{'runs, some NOISY' if m['noisy'] else 'quiet runs'} "
                    f"(req/s {m['requests_per_s_min']:.0f}..{m['requests_per_s_max']:.0f})"
                    + ("" if m["ok"] else f", {m['rounds'] - m['passed']} FAILED"))
        if scenario.name in found:
            value = found[scenario.name]
            shown = f"{value:.2f}x" if value is not None else "n/a (a run failed)"
            if value is not None and any(m["noisy"] for m in summary[scenario.name].values()):
                shown += " NOISY"
            rounds = ""
            if many:
                rounds = ", per round: " + " ".join(
                    f"{x:.2f}" if x is not None else "-" for x in per_round[scenario.name])
            lines.append(f"{titles[scenario.name]:<24} {'ratio':<10} {shown:>9}  "
                         f"(thingport / InfluxDB, requests/s = samples/s{rounds})")
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=15, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3,
                        help="seconds of wrk before each measured run (0: none)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None,
                        help="THINGPORT_WORKERS of the thingport server (default: its own, "
                             "one per CPU)")
    parser.add_argument("--scenarios", default="AB", help="which scenarios: A, B or AB")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of everything; the ratio is then of the medians")
    parser.add_argument("--skip-influx", action="store_true", help="thingport only")
    parser.add_argument("--skip-thingport", action="store_true", help="InfluxDB only")
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="seconds to wait at most, before each run, for other processes "
                             "to stop using the CPU (0: do not wait)")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="where the data directories go (default: the system temp dir); "
                             "put it on the disk you want to measure")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy record the thingport server during each measured run "
                             "(files in bench/results/; figures then include py-spy's cost)")
    parser.add_argument("--profile-format", choices=("raw", "flamegraph", "speedscope"),
                        default="raw", help="py-spy output; raw is also summarised (top "
                        "functions) on the console and in <name>.top.txt")
    parser.add_argument("--pace-ms", type=int, default=0,
                        help="each wrk connection waits this many ms after every answer: a "
                             "steady lower rate (about connections x 1000 / (pace + latency) "
                             "requests/s), for the latency at part load; 0: as fast as it goes")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.json")
    opts = parser.parse_args(argv)
    if opts.quiet_wait < 0:
        parser.error("--quiet-wait must be zero or more")
    if min(opts.duration, opts.connections, opts.devices, opts.threads, opts.repeat) <= 0:
        parser.error("--duration, --connections, --devices, --threads and --repeat must be "
                     "positive")
    if opts.connections < opts.threads:
        parser.error("--connections must be at least --threads")
    if not set(opts.scenarios.upper()) <= {s.name for s in SCENARIOS}:
        parser.error("--scenarios: letters A and B")
    return opts


@contextlib.contextmanager
def signals_stop() -> Iterator[None]:
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C also when started from a shell that had SIGINT ignored (`cmd &` in a script).
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    global WORKERS, PACE_MS
    WORKERS = opts.workers
    PACE_MS = opts.pace_ms
    needed = ["wrk"] + ([] if opts.skip_influx else ["influxd"])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = HOST  # talk to 127.0.0.1 directly
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="thingport-bench-", dir=opts.tmp_dir)).resolve()
    started = dt.datetime.now(dt.UTC)
    results: list[Result] = []
    profile_dir = RESULTS_DIR if opts.profile else None
    print(f"thingport bench: {opts.duration:g}s per run after {opts.warmup:g}s warm-up, "
          f"wrk -t{opts.threads} -c{opts.connections}, {opts.devices} devices, data in {tmp}",
          flush=True)
    try:
        with signals_stop():
            for n in range(1, opts.repeat + 1):
                for scenario in SCENARIOS:
                    if scenario.name not in opts.scenarios.upper():
                        continue
                    # Odd rounds thingport first, even rounds InfluxDB first: a drift of the
                    # machine during a round does not always favour the same system.
                    systems = ["thingport", "influxdb"]
                    if n % 2 == 0:
                        systems.reverse()
                    for system in systems:
                        if system == "thingport" and not opts.skip_thingport:
                            root = tmp / f"thingport-{scenario.name}-{n}"
                            result = bench_thingport(children, root, scenario, opts, profile_dir)
                        elif system == "influxdb" and not opts.skip_influx:
                            root = tmp / f"influxdb-{scenario.name}-{n}"
                            result = bench_influx(children, root, scenario, opts)
                        else:
                            continue
                        result.round = n
                        results.append(result)
                        print(f"  -> {summary_line(result)}", flush=True)
                        if not opts.keep:
                            shutil.rmtree(root, ignore_errors=True)
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); stopping", file=sys.stderr)
        children.stop_all()
        cleanup(tmp, opts.keep)
        return 130
    finally:
        children.stop_all()
    cleanup(tmp, opts.keep)

    print()
    print(table(results))
    report = {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {"duration_s": opts.duration, "warmup_s": opts.warmup,
                     "connections": opts.connections, "wrk_threads": opts.threads,
                     "devices": opts.devices, "repeat": opts.repeat, "profiled": opts.profile},
        "payloads": {
            "thingport": {"A": '{"temperature":<float>}',
                          "B": 'one flat object {"k0":<float>,...,"k99":<float>}'},
            "influxdb": {"A": "temperature,device=dN value=<float>",
                         "B": "100 lines k<i>,device=dN value=<float>, i = 0..99"},
        },
        "machine": {**machine(), "disk": disk_of(tmp)},
        "results": [asdict(r) for r in results],
        "summary": summarize(results),
        "ratio_thingport_over_influxdb": ratios(results),
        "ratio_per_round": ratios_per_round(results),
    }
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {opts.output}")
    return 0 if results and all(r.ok for r in results) else 1


def summary_line(r: Result) -> str:
    if not r.ok:
        return f"{r.system} {r.scenario}#{r.round}: FAILED: {r.failure[:400]}"
    return (f"{r.system} {r.scenario}#{r.round}: {r.requests_per_s:.0f} req/s, "
            f"{r.samples_per_s:.0f} samples/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, "
            f"server CPU {r.server_cpu_percent:.0f}%, writes {r.server_write_mb_per_s:.1f} MB/s "
            f"({r.written_bytes_per_sample:.0f} B/sample), "
            f"other CPU {r.other_cpu_percent:.0f}%, stored {r.stored}/{r.acknowledged_total}"
            + (" NOISY" if r.noisy else "")
            + "".join(f"; {name}s {w['count']}" + (
                f" (p99 <= {w['p99_le_ms']:g} ms, longest <= {w['max_le_ms']:g} ms)"
                if w["count"] else "") for name, w in r.writer.items()))


def cleanup(tmp: Path, keep: bool) -> None:
    if keep:
        print(f"data kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
