"""How fast thingport starts, and how much memory it holds while idle.

    python bench/startup.py [--runs 7] [--workers 1,2]

For each worker count (``THINGPORT_WORKERS``) and run, starts ``thingport serve`` on a free
127.0.0.1 port, twice: on a fresh data directory (an empty store: it is created, migrated and
its first tenant made) and then again on that same directory (a restart). Each start is timed
from just before the ``exec`` of the console script to the first 200 of
``GET /api/noauth/health`` (asked every 5 ms on a new connection), and then until every worker
process serves (one connection after another until each has answered one). Once the server has
been idle for a second (its processes together under 5 % of a core), the memory of the whole
process tree is read from ``/proc/PID/smaps_rollup``: the sum of RSS (shared pages counted in
every process) and of PSS (each shared page split among the processes that map it). Prints the
median, lowest and highest of each figure and writes them all to ``bench/results/startup.json``.

The server may write its bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped from its
environment), and one start before the measured ones does: an installed server has its
``.pyc`` files from the installation, and compiling the modules changed since would otherwise
be counted in every start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from longpoll import free_port, holders, tree_memory, until_idle  # bench/longpoll.py

HERE = Path(__file__).resolve().parent
#: The issue's targets.
TARGET_START_S = 1.0
TARGET_IDLE_MB = 60


def command() -> list[str]:
    """``thingport serve`` as installed (the console script beside this Python), else the
    module."""
    script = Path(sys.executable).with_name("thingport")
    return [str(script), "serve"] if script.exists() else [sys.executable, "-m", "thingport",
                                                            "serve"]


def health_status(port: int) -> tuple[int, int]:
    """The status of one health check on a new connection (0 when refused), and the client
    port it used."""
    with socket.socket() as sock:
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return 0, 0
        client_port = sock.getsockname()[1]
        sock.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: bench\r\n\r\n")
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return 0, client_port
            head += chunk
        return int(head.split(b" ", 2)[1]), client_port


def every_worker_serves(port: int, pid: int, workers: int, timeout: float = 30) -> None:
    """Return once a health check has been answered by each of ``workers`` processes."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {workers} workers answered")
        with socket.socket() as sock:
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: bench\r\n\r\n")
            if sock.recv(4096).split(b" ", 2)[1] == b"200":
                owner = holders(pid, port, [sock.getsockname()[1]])[0]
                if owner:
                    seen.add(owner)
        time.sleep(0.005)


def start_once(data: Path, workers: int) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "THINGPORT_DATA_DIR": str(data), "HTTP_BIND_ADDRESS": "127.0.0.1",
           "HTTP_BIND_PORT": str(port), "THINGPORT_LOG_LEVEL": "warning",
           "THINGPORT_WORKERS": str(workers)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    began = time.perf_counter()
    server = subprocess.Popen(command(), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        while True:
            status, _ = health_status(port)
            if status == 200:
                break
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: {server.stderr.read()[-2000:]!r}"
                                   if server.stderr else "the server exited")
            if time.perf_counter() - began > 60:
                raise RuntimeError("no 200 within 60 s")
            time.sleep(0.005)
        first_200 = time.perf_counter() - began
        every_worker_serves(port, server.pid, workers)
        all_serving = time.perf_counter() - began
        asyncio.run(until_idle(server.pid))
        memory = tree_memory(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {"first_200_s": round(first_200, 3), "all_workers_serving_s": round(all_serving, 3),
            **memory}


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": min(values),
            "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--workers", default="1,2",
                        help="worker counts to run (THINGPORT_WORKERS)")
    args = parser.parse_args()
    results: dict[str, Any] = {"command": " ".join(command()), "runs": args.runs, "by_workers": {}}
    ok = True
    for workers in (int(w) for w in args.workers.split(",")):
        runs: dict[str, list[dict[str, Any]]] = {"fresh": [], "restart": []}
        warm_up = Path(tempfile.mkdtemp(prefix="thingport-startup-"))
        try:
            start_once(warm_up, workers)  # writes the bytecode; not counted
        finally:
            shutil.rmtree(warm_up, ignore_errors=True)
        for _ in range(args.runs):
            data = Path(tempfile.mkdtemp(prefix="thingport-startup-"))
            try:
                runs["fresh"].append(start_once(data, workers))
                runs["restart"].append(start_once(data, workers))
            finally:
                shutil.rmtree(data, ignore_errors=True)
        figures: dict[str, Any] = {}
        for kind, measured in runs.items():
            figures[kind] = {key: summary([m[key] for m in measured]) for key in
                             ("first_200_s", "all_workers_serving_s", "rss_mb", "pss_mb")}
            figures[kind]["processes"] = measured[-1]["processes"]
            figures[kind]["each"] = measured
        results["by_workers"][str(workers)] = figures
        for kind in ("fresh", "restart"):
            f = figures[kind]
            met = (f["first_200_s"]["median"] < TARGET_START_S
                   and f["rss_mb"]["median"] < TARGET_IDLE_MB)
            ok = ok and met
            print(f"workers={workers} {kind:7s}: first 200 after {f['first_200_s']['median']:.3f}"
                  f" s (min {f['first_200_s']['min']:.3f}, max {f['first_200_s']['max']:.3f}), "
                  f"every worker serving after {f['all_workers_serving_s']['median']:.3f} s; "
                  f"idle RSS {f['rss_mb']['median']:.1f} MB, PSS {f['pss_mb']['median']:.1f} MB "
                  f"in {f['processes']} processes" + ("" if met else "  NOT met"), flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "startup.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"targets (first 200 under {TARGET_START_S} s, idle RSS under {TARGET_IDLE_MB} MB, "
          "medians):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
