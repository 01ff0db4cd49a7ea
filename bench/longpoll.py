"""Many devices long-polling at once: server memory, and how fast a command reaches one.

    python bench/longpoll.py [--devices 10000] [--commands 300]

Starts thingport on a free 127.0.0.1 port with a fresh data directory, creates the devices,
opens one ``GET /api/v1/{token}/rpc`` poll per device (raw HTTP/1.1 on asyncio, so the client
itself stays light), waits until every poll is held by the server, reads the server's resident
memory, then sends one-way commands through the REST API to random polling devices, one after
another, and measures from just before the REST call to the moment the device's poll answers.
Prints the figures and writes them to bench/results/longpoll.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ADMIN = ("tenant@thingsboard.org", "bench-tenant-pass")
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def until_idle(pid: int, timeout: float = 120.0) -> None:
    """Wait until the server uses under 5 % of a core: every poll sent has been taken in."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            return
        last = now
    raise RuntimeError("the server never went idle")


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


class Device:
    """One polling device on its own keep-alive connection."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.polling = False
        self.received: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)

    async def poll_forever(self, timeout_ms: int) -> None:
        assert self.reader is not None and self.writer is not None
        request = (f"GET /api/v1/{self.token}/rpc?timeout={timeout_ms} HTTP/1.1\r\n"
                   f"Host: bench\r\n\r\n").encode()
        while True:
            self.writer.write(request)
            await self.writer.drain()
            self.polling = True
            head = await self.reader.readuntil(b"\r\n\r\n")
            self.polling = False
            arrived = time.perf_counter()
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await self.reader.readexactly(length) if length else b""
            status = int(head.split(b" ", 2)[1])
            if status == 200:
                self.received.put_nowait((arrived, body))
            elif status != 408:
                raise RuntimeError(f"poll answered {status}: {body[:200]!r}")


async def create_devices(base: str, count: int) -> tuple[str, list[tuple[str, str]]]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        login = await client.post("/api/auth/login",
                                  json={"username": ADMIN[0], "password": ADMIN[1]})
        login.raise_for_status()
        jwt = login.json()["token"]
        client.headers["X-Authorization"] = f"Bearer {jwt}"
        devices: list[tuple[str, str]] = []
        semaphore = asyncio.Semaphore(32)

        async def one(n: int) -> None:
            async with semaphore:
                token = f"poll-{n:06d}-{random.randrange(10**9):09d}"
                response = await client.post("/api/device", json={"name": f"poller-{n}"},
                                             params={"accessToken": token})
                response.raise_for_status()
                devices.append((response.json()["id"]["id"], token))

        await asyncio.gather(*(one(n) for n in range(count)))
        return jwt, devices


async def measure(base: str, port: int, pid: int, count: int, commands: int) -> dict[str, float]:
    started = time.perf_counter()
    jwt, created = await create_devices(base, count)
    print(f"created {count} devices in {time.perf_counter() - started:.1f}s", flush=True)
    rss_idle = rss_mb(pid)
    devices = [Device(token) for _, token in created]
    semaphore = asyncio.Semaphore(500)

    async def connect(device: Device) -> None:
        async with semaphore:
            await device.connect(port)

    await asyncio.gather(*(connect(d) for d in devices))
    pollers = [asyncio.create_task(d.poll_forever(600_000)) for d in devices]
    deadline = time.monotonic() + 120
    while sum(d.polling for d in devices) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    # The client has sent every poll; the server may still be taking them in.
    await until_idle(pid)
    holding = sum(d.polling for d in devices)
    rss_polling = rss_mb(pid)
    print(f"{holding} polls open; server RSS {rss_polling:.0f} MB "
          f"(before the polls: {rss_idle:.0f} MB)", flush=True)

    latencies: list[float] = []
    index = {token: n for n, (_, token) in enumerate(created)}
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 headers={"X-Authorization": f"Bearer {jwt}"}) as client:
        for i in range(commands):
            device_id, token = random.choice(created)
            device = devices[index[token]]
            began = time.perf_counter()
            response = await client.post(f"/api/rpc/oneway/{device_id}",
                                         json={"method": "ping", "params": {"i": i}})
            if response.status_code != 200:
                raise RuntimeError(f"command answered {response.status_code}: {response.text}")
            arrived, body = await asyncio.wait_for(device.received.get(), 30)
            if json.loads(body)["params"]["i"] != i:
                raise RuntimeError(f"device got the wrong command: {body!r}")
            latencies.append((arrived - began) * 1000)
    still_open = sum(d.polling for d in devices)
    rss_after = rss_mb(pid)
    for task in pollers:
        task.cancel()
    for device in devices:
        if device.writer:
            device.writer.close()
    slowest = sorted(range(len(latencies)), key=latencies.__getitem__)[-3:][::-1]
    latencies.sort()
    return {
        "devices": count,
        "polls_open": holding,
        "polls_open_after": still_open,
        "rss_idle_mb": round(rss_idle, 1),
        "rss_polling_mb": round(rss_polling, 1),
        "rss_after_mb": round(rss_after, 1),
        "commands": commands,
        "latency_p50_ms": round(statistics.median(latencies), 2),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "latency_max_ms": round(latencies[-1], 2),
        # Which commands (0-based, in sending order) were slowest: a first-command effect
        # and a periodic pause look different.
        "slowest_commands": slowest,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=300)
    args = parser.parse_args()
    raise_fd_limit(args.devices + 1000)
    data = Path(tempfile.mkdtemp(prefix="thingport-longpoll-"))
    port = free_port()
    env = {**os.environ, "THINGPORT_DATA_DIR": str(data), "HTTP_BIND_ADDRESS": "127.0.0.1",
           "HTTP_BIND_PORT": str(port), "THINGPORT_TENANT_ADMIN_PASSWORD": ADMIN[1],
           "THINGPORT_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "thingport", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(base + "/api/noauth/health", timeout=1)
                break
            time.sleep(0.1)
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        result = asyncio.run(measure(base, port, server.pid, args.devices, args.commands))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps(result, indent=2))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "longpoll.json").write_text(json.dumps(result, indent=2) + "\n")
    ok = result["rss_polling_mb"] < 500 and result["latency_p99_ms"] < 50
    print("targets (RSS < 500 MB, p99 < 50 ms):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
