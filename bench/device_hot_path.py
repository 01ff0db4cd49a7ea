#!/usr/bin/env python3
"""CPU cost of one device API telemetry request, in-process: a development tool.

    python bench/device_hot_path.py [--shapes 1,10,100,ts,array] [--requests 30000]
                                    [--concurrency 64] [--repeat 3]
                                    [--profile cprofile|writer|py-spy] [--gil]
                                    [--profile-out FILE]

The whole app (``create_app``, its lifespan, a real SQLite store in a temporary directory,
``synchronous=FULL``) is driven as ASGI, without HTTP: ``--concurrency`` coroutines post
``POST /api/v1/{token}/telemetry`` bodies back to back, spread over ``--devices`` devices, and
every answer must be 200. Per body shape and round it prints, per request, the wall time and
the CPU time of the process, of the event loop's thread (our request handling) and of the
SQLite writer thread (which shares the GIL with the loop), and the median of the rounds; and,
for reference, the same driver against an ASGI app that only reads the body and answers 200
(what the harness itself costs).

Shapes: ``1`` ``{"temperature":21.5}`` (``bench/run.py``'s scenario A); ``10`` ten keys of
mixed types; ``100`` a hundred keys of decimals (scenario B); ``ts``
``{"ts":<now>,"values":{...3 keys}}``; ``array`` 100 ``{"ts","values"}`` samples of one key
(a tenth of ``--requests`` of these two).

This is not the comparison with InfluxDB (``bench/run.py`` is): there is no HTTP parsing, no
socket and no client here, and its figures are for before/after comparisons of our own code on
one machine (CPU times are steadier than wall times on a busy machine). ``--profile`` adds a
round of each shape, not counted, under a profiler: ``cprofile`` (the event loop's thread; top
functions by own time, or the stats written to ``--profile-out``), ``writer`` (cProfile in the
SQLite writer thread; its ``execute`` calls' time is SQLite's, mostly without the GIL), or
``py-spy`` (every thread, ``--gil``: only the one holding the GIL; collapsed stacks written to
``--profile-out``, by default ``bench/results/hot_path-<shape>.txt``, and a summary).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
#: The SQLite store's writer thread (``store/sqlite/writer.py``).
WRITER_THREAD = "thingport-sqlite-writer"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]


def bodies(shape: str, now_ms: int) -> bytes:
    """The request body of a shape."""
    if shape == "1":
        return b'{"temperature":21.5}'
    if shape == "10":
        return (b'{"temperature":21.5,"humidity":40,"pressure":1013.25,"on":true,'
                b'"mode":"auto","rssi":-71,"battery":"97","uptime":123456,'
                b'"firmware":"1.2.3","voltage":3.3}')
    if shape == "100":  # bench/run.py's scenario B
        return ("{" + ",".join(f'"k{i}":{i * 0.731:.3f}' for i in range(100)) + "}").encode()
    if shape == "ts":
        return (b'{"ts":%d,"values":{"temperature":21.5,"humidity":40,"on":true}}' % now_ms)
    if shape == "array":
        return ("[" + ",".join(f'{{"ts":{now_ms - 100 + i},"values":{{"temperature":{i}.5}}}}'
                               for i in range(100)) + "]").encode()
    raise SystemExit(f"unknown shape {shape!r}: one of 1, 10, 100, ts, array")


def scope_of(token: str, length: int) -> Scope:
    """What uvicorn passes for a POST of ``length`` bytes to a device's telemetry."""
    path = f"/api/v1/{token}/telemetry"
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench"),
                    (b"accept", b"*/*"), (b"content-type", b"application/json"),
                    (b"content-length", str(length).encode())],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080), "state": {},
    }


async def drive(app: App, scopes: list[Scope], body: bytes, requests: int,
                concurrency: int) -> None:
    """``requests`` POSTs of ``body`` through ``app``, ``concurrency`` at a time."""
    message = {"type": "http.request", "body": body, "more_body": False}
    forever = asyncio.Event()
    failures: list[int] = []

    async def one(scope: Scope) -> None:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return message
            await forever.wait()  # no disconnect: the request is answered first
            raise AssertionError("unreachable")

        async def send(msg: Message) -> None:
            if msg["type"] == "http.response.start" and msg["status"] != 200:
                failures.append(msg["status"])

        await app(dict(scope), receive, send)

    async def worker(first: int) -> None:
        for i in range(first, requests, concurrency):
            await one(scopes[i % len(scopes)])

    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    if failures:
        raise SystemExit(f"{len(failures)} answers were not 200, e.g. {failures[0]}")


async def floor_app(scope: Scope, receive: Callable[[], Awaitable[Message]],
                    send: Callable[[Message], Awaitable[None]]) -> None:
    """Reads the body, answers 200 with nothing: what the harness costs by itself."""
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def writer_clock() -> int | None:
    """The CPU clock of the SQLite writer thread, if it runs."""
    for thread in threading.enumerate():
        if thread.name == WRITER_THREAD and thread.ident is not None:
            return time.pthread_getcpuclockid(thread.ident)
    return None


class Measured:
    """Wall time, the process's CPU time, the CPU time of this thread (the event loop) and of
    the writer thread over a block, in µs per request."""

    def __init__(self, requests: int) -> None:
        self.requests = requests
        self.wall = self.cpu = self.loop_cpu = self.writer_cpu = 0.0
        self._writer = writer_clock()

    def _now(self) -> tuple[float, float, float, float]:
        writer = time.clock_gettime(self._writer) if self._writer is not None else 0.0
        return time.perf_counter(), time.process_time(), time.thread_time(), writer

    def __enter__(self) -> Measured:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        n = self.requests / 1e6
        self.wall, self.cpu, self.loop_cpu, self.writer_cpu = (
            (end - start) / n for start, end in zip(self._start, self._now(), strict=True))


class PySpy:
    """py-spy sampling this process (every thread) while entered."""

    def __init__(self, out: Path, gil: bool) -> None:
        self.out = out
        self.gil = gil

    def __enter__(self) -> PySpy:
        exe = shutil.which("py-spy")
        if exe is None:
            raise SystemExit("py-spy is not installed (pip install py-spy)")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [exe, "record", "--pid", str(os.getpid()), "--threads", "--nonblocking",
             "--rate", "500", "--format", "raw", "--output", str(self.out),
             *(["--gil"] if self.gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let it attach
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        print(f"  py-spy stacks: {self.out}")
        summarize(self.out)


def summarize(stacks: Path, top: int = 25) -> None:
    """Share of samples per thread and the functions with the most own samples."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        total += int(samples)
        threads[frames[0]] += int(samples)
        own[frames[-1]] += int(samples)
    if not total:
        return
    for name, count in threads.most_common():
        print(f"  {count / total:6.1%}  {name}")
    for name, count in own.most_common(top):
        print(f"  {count / total:6.1%}  own  {name}")


async def profiled_round(args: argparse.Namespace, shape: str, services: Any,
                         work: Callable[[], Awaitable[None]]) -> None:
    """``work()`` under the profiler of ``--profile``; prints or writes what it found."""
    if args.profile == "py-spy":
        with PySpy(Path(args.profile_out or RESULTS_DIR / f"hot_path-{shape}.txt"), args.gil):
            await work()
        return
    profiler = cProfile.Profile()
    if args.profile == "writer":
        # Switched on and off in the writer thread itself, by operations it runs.
        await services.store._write(lambda _: profiler.enable())
        await work()
        await services.store._write(lambda _: profiler.disable())
    else:
        profiler.enable()
        await work()
        profiler.disable()
    stats = pstats.Stats(profiler)
    if args.profile_out:
        stats.dump_stats(args.profile_out)
        print(f"  cProfile stats: {args.profile_out}")
    else:
        stats.sort_stats("tottime").print_stats(args.top)


def report(shape: str, body: bytes, floor: Measured, rounds: list[Measured]) -> None:
    print(f"shape {shape:>5} ({len(body)} B): harness floor {floor.wall:6.1f} wall, "
          f"{floor.cpu:6.1f} CPU")
    for m in rounds:
        print(f"  {m.wall:7.1f} wall  {m.cpu:7.1f} CPU  {m.loop_cpu:7.1f} loop  "
              f"{m.writer_cpu:7.1f} writer  ({1e6 / m.wall:,.0f} req/s)")
    if rounds:
        medians = [statistics.median(getattr(m, name) for m in rounds)
                   for name in ("wall", "cpu", "loop_cpu", "writer_cpu")]
        print("  median {:7.1f} wall  {:7.1f} CPU  {:7.1f} loop  {:7.1f} writer"
              .format(*medians))


async def started(settings: Any) -> tuple[Any, asyncio.Queue[Message], asyncio.Task[None]]:
    """The app with its lifespan started; the queue to stop it, and the lifespan's task."""
    from thingport.app import create_app

    app: Any = create_app(settings)
    lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
    lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
    await lifespan_in.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                       lifespan_in.get, lifespan_out.put))
    answer = await lifespan_out.get()
    if answer["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the app did not start: {answer}")
    return app, lifespan_in, lifespan


async def run(args: argparse.Namespace) -> None:
    from thingport.clock import now_ms
    from thingport.settings import Settings

    data_dir = tempfile.mkdtemp(prefix="thingport-hot-path-")
    try:
        app, lifespan_in, lifespan = await started(Settings.from_env(
            data_dir=data_dir, sysadmin_password="bench-sysadmin",
            tenant_admin_password="bench-tenant", workers=1))
        services = app.rest.state.services
        tenant = await services.store.get_user_by_email("tenant@thingsboard.org")
        tokens = [f"hot-path-{i}" for i in range(args.devices)]
        for i, token in enumerate(tokens):
            await services.devices.create(tenant.tenant_id, f"d{i}", access_token=token)
        print(f"{args.requests} requests per round, {args.concurrency} at a time, "
              f"{args.devices} devices; µs per request: wall time, CPU time of the process, of the "
              "event loop's thread and of the writer thread")
        for shape in args.shapes:
            body = bodies(shape, now_ms())
            requests = args.requests // 10 if shape in ("100", "array") else args.requests
            scopes = [scope_of(token, len(body)) for token in tokens]

            async def work(n: int = requests, s: list[Scope] = scopes, b: bytes = body) -> None:
                await drive(app, s, b, n, args.concurrency)

            await drive(app, scopes, body, min(requests, 3000), args.concurrency)  # warm-up
            with Measured(requests) as floor:
                await drive(floor_app, scopes, body, requests, args.concurrency)
            if args.profile:  # a round of its own: its figures include the profiler's cost
                await profiled_round(args, shape, services, work)
            rounds: list[Measured] = []
            for _ in range(args.repeat):
                with Measured(requests) as measured:
                    await work()
                rounds.append(measured)
            report(shape, body, floor, rounds)
        await lifespan_in.put({"type": "lifespan.shutdown"})
        await lifespan
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="1,10,100,ts,array",
                        help="comma-separated body shapes: 1, 10, 100, ts, array")
    parser.add_argument("--requests", type=int, default=30000,
                        help="requests per round (the shapes 100 and array take a tenth)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="measured rounds per shape")
    parser.add_argument("--profile", choices=["cprofile", "writer", "py-spy"])
    parser.add_argument("--profile-out", help="where the profile goes")
    parser.add_argument("--gil", action="store_true",
                        help="py-spy samples only the thread holding the GIL")
    parser.add_argument("--top", type=int, default=40, help="cProfile functions printed")
    parser.add_argument("--no-uvloop", action="store_true", help="asyncio's own event loop")
    args = parser.parse_args(argv)
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if args.no_uvloop:
        asyncio.run(run(args))
        return
    import uvloop

    uvloop.run(run(args))


if __name__ == "__main__":
    main()
