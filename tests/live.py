"""A real thingport server in a subprocess on a free port, for black-box tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SYSADMIN = ("sysadmin@thingsboard.org", "sysadmin-pass")
TENANT_ADMIN = ("tenant@thingsboard.org", "tenant-pass")


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to now, for a server the caller starts.

    It comes from below the kernel's ephemeral range, which the kernel hands to outgoing
    connections and ``bind(0)``: between this check and the server's bind only another test
    picking ports can take it, and whoever starts a server on it retries on a new port when
    that happens (``LiveServer.start``, ``PrivateRedis.start``).
    """
    low = _ephemeral_low()
    for _ in range(50):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # a crowded range: any port the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: What a server logs when its port was taken between ``free_port`` and its bind.
PORT_TAKEN = ("already in use", "Address already in use")


class LiveServer:
    """``thingport serve`` on 127.0.0.1 with its own data directory.

    An empty data directory gets a copy of the tests' seed store (``tests.seed``) before the
    first start when the server would make the same store (``_as_the_seed``), which spares it
    the first start's argon2 hashing (about half the CPU of a start); tests of the first start
    itself (generated passwords, say) keep an empty directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 scheme: str = "http") -> None:
        self.data_dir = data_dir
        self.scheme = scheme
        self.env = {
            **os.environ,
            "THINGPORT_DATA_DIR": str(data_dir),
            "THINGPORT_SYSADMIN_PASSWORD": SYSADMIN[1],
            "THINGPORT_TENANT_ADMIN_PASSWORD": TENANT_ADMIN[1],
            "HTTP_BIND_ADDRESS": "127.0.0.1",
            "THINGPORT_LOG_LEVEL": "warning",
            **(env or {}),
        }
        #: A port the test chose is kept; one from ``free_port`` may be changed by ``start``.
        self.port_chosen = "HTTP_BIND_PORT" in (env or {})
        self._use_port(int(self.env["HTTP_BIND_PORT"]) if self.port_chosen else free_port())
        self.process: subprocess.Popen[bytes] | None = None
        self.started_once = False

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"{self.scheme}://127.0.0.1:{port}"
        self.env["HTTP_BIND_PORT"] = str(port)
        self.log_path = self.data_dir / f"server-{port}.log"

    def start(self, timeout: float = 20.0, verify: object = True) -> LiveServer:
        """Start it and return once it answers. A first start whose free port another process
        took meanwhile moves to a new one: read ``port`` and ``url`` after it (a restart keeps
        its port: clients know it)."""
        for _ in range(3):
            if self._start(timeout, verify):
                self.started_once = True
                return self
            self._use_port(free_port())
        raise RuntimeError(f"no free port for the server:\n{self.log()}")

    def _start(self, timeout: float, verify: object) -> bool:
        """False when the port was taken (and another may be tried)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.started_once and self._as_the_seed():
            from tests.seed import seeded  # tests.seed imports this module

            seeded(self.data_dir)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "thingport", "serve"], env=self.env,
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if (not self.started_once and not self.port_chosen
                        and any(m in self.log() for m in PORT_TAKEN)):
                    return False
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx.get(self.url + "/api/noauth/health", timeout=1, verify=verify)  # type: ignore[arg-type]
                return True
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def _as_the_seed(self) -> bool:
        """Whether this server's first start would make the seed's store: SQLite, and the
        seed's administrators."""
        return ("THINGPORT_DATABASE_URL" not in self.env
                and self.env.get("THINGPORT_SYSADMIN_EMAIL", SYSADMIN[0]) == SYSADMIN[0]
                and self.env.get("THINGPORT_SYSADMIN_PASSWORD") == SYSADMIN[1]
                and self.env.get("THINGPORT_TENANT_ADMIN_EMAIL", TENANT_ADMIN[0])
                == TENANT_ADMIN[0]
                and self.env.get("THINGPORT_TENANT_ADMIN_PASSWORD") == TENANT_ADMIN[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
