#!/usr/bin/env python3
"""How fast telemetry reaches WebSocket subscribers, with many sockets open on one node.

    python bench/ws_latency.py [--sockets 1000] [--probes 500] [--background 200]

Starts thingport on a free 127.0.0.1 port with a fresh data directory, creates one device per
socket, opens the sockets (ThingsBoard's legacy path, ``tsSubCmds`` with ``scope:
"LATEST_TELEMETRY"``, one device each) and waits for every subscription's first frame. Then,
while a background load posts ``--background`` telemetry requests per second to random devices
(so every socket keeps receiving frames), it posts ``--probes`` probe values one after another,
each to a random device, and times each from the moment its ``POST`` was answered 200 (the
sample is committed) to the moment the subscriber's frame carrying it was read. A frame can
arrive before the client has read the 200 (the server announces after the commit, then
answers): such a delay counts as 0. The time from sending the POST to the frame is reported too.
Prints the figures and writes them to ``bench/results/ws_latency.json``.

ThingsBoard itself, the peer this API copies, cannot run on this machine (no Java
distribution of it is reachable), so the figures are thingport's alone, against the issue's
target (p99 under 50 ms with 1,000 sockets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from run import RESULTS_DIR, Children, Thingport, cpu_seconds  # bench/run.py


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Subscribers:
    """One socket per device; resolves the future of each probe value when its frame comes."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.frames = 0
        self.readers: set[asyncio.Task[None]] = set()

    async def open(self, url: str, token: str, device_ids: list[str]) -> list[ClientConnection]:
        async def one(device_id: str) -> ClientConnection:
            ws = await connect(f"{url}/api/ws/plugins/telemetry?token={token}", max_size=None)
            await ws.send(json.dumps({"tsSubCmds": [{"entityType": "DEVICE",
                                                     "entityId": device_id,
                                                     "scope": "LATEST_TELEMETRY",
                                                     "cmdId": 1}]}))
            await ws.recv()  # the subscription's first frame: it is in place
            return ws

        gate = asyncio.Semaphore(64)

        async def gated(device_id: str) -> ClientConnection:
            async with gate:
                return await one(device_id)

        sockets = await asyncio.gather(*(gated(d) for d in device_ids))
        self.readers.update(asyncio.create_task(self.read(ws)) for ws in sockets)
        return list(sockets)

    async def read(self, ws: ClientConnection) -> None:
        async for message in ws:
            now = time.perf_counter()
            self.frames += 1
            probe = json.loads(message)["data"].get("probe")
            if probe:
                future = self.waiting.pop(probe[0][1], None)
                if future is not None and not future.done():
                    future.set_result(now)


async def background_load(client: httpx.AsyncClient, tokens: list[str], rate: float,
                          stop: asyncio.Event) -> int:
    """``rate`` telemetry posts a second to random devices until ``stop``; how many."""
    sent = 0
    pending: set[asyncio.Task[httpx.Response]] = set()
    started = time.perf_counter()
    while not stop.is_set() and rate > 0:
        due = started + sent / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(client.post(f"/api/v1/{random.choice(tokens)}/telemetry",
                                               json={"temperature": random.random()}))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
    await asyncio.gather(*pending, return_exceptions=True)
    return sent


async def measure(server: Thingport, tokens: list[str], ids: list[str],
                  opts: argparse.Namespace) -> dict[str, Any]:
    jwt = server.login()["X-Authorization"].split(" ", 1)[1]
    subscribers = Subscribers()
    opened = time.perf_counter()
    sockets = await subscribers.open(server.url.replace("http", "ws", 1), jwt, ids)
    open_s = time.perf_counter() - opened
    rss_open = rss_mb(server.pid)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as load, \
            httpx.AsyncClient(base_url=server.url, timeout=30) as prober:
        stop = asyncio.Event()
        loader = asyncio.create_task(background_load(load, tokens, opts.background, stop))
        await asyncio.sleep(1.0)  # the load reaches its rate first
        cpu_before = cpu_seconds(server.pid)
        measured = time.perf_counter()
        after_200: list[float] = []
        after_send: list[float] = []
        loop = asyncio.get_running_loop()
        for n in range(opts.probes):
            i = random.randrange(len(tokens))
            value = f"p{n}"
            future: asyncio.Future[float] = loop.create_future()
            subscribers.waiting[value] = future
            sent = time.perf_counter()
            answer = await prober.post(f"/api/v1/{tokens[i]}/telemetry", json={"probe": value})
            answered = time.perf_counter()
            if answer.status_code != 200:
                raise RuntimeError(f"probe {n}: {answer.status_code} {answer.text}")
            arrived = await asyncio.wait_for(future, 10)
            after_200.append(max(0.0, arrived - answered) * 1000)
            after_send.append((arrived - sent) * 1000)
            await asyncio.sleep(random.uniform(0, 0.01))
        elapsed = time.perf_counter() - measured
        cpu = (cpu_seconds(server.pid) - cpu_before) / elapsed
        stop.set()
        background = await loader
    for ws in sockets:
        await ws.close()
    return {
        "sockets": len(sockets), "probes": opts.probes, "open_s": round(open_s, 2),
        "background_rate": opts.background, "background_sent": background,
        "frames_received": subscribers.frames, "server_rss_mb_with_sockets": round(rss_open, 1),
        "server_cpu_cores": round(cpu, 2),
        "after_200_ms": {"p50": round(statistics.median(after_200), 2),
                         "p99": round(percentile(after_200, 0.99), 2),
                         "max": round(max(after_200), 2)},
        "after_send_ms": {"p50": round(statistics.median(after_send), 2),
                          "p99": round(percentile(after_send, 0.99), 2),
                          "max": round(max(after_send), 2)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--background", type=float, default=200.0,
                        help="background telemetry posts per second (default 200)")
    opts = parser.parse_args(argv)
    children = Children()
    with tempfile.TemporaryDirectory(prefix="thingport-ws-bench-") as tmp:
        server = Thingport(children, Path(tmp))
        try:
            server.start()
            tokens, ids = server.create_devices(opts.sockets)
            result = asyncio.run(measure(server, tokens, ids, opts))
        finally:
            children.stop_all()
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "ws_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
