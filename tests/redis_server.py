"""A redis-server of a test's own, on a free port, that the test may stop and start again.

Outage tests stop Redis; they must never touch the machine's own (127.0.0.1:6379).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.live import free_port


def require_redis_server() -> str:
    """The redis-server binary; skip (locally) or fail (in CI) without it."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


class PrivateRedis:
    """``redis-server`` on 127.0.0.1 and a free port, without persistence."""

    def __init__(self, directory: Path) -> None:
        self.binary = require_redis_server()
        self.directory = directory
        self._use_port(free_port())
        self.process: subprocess.Popen[bytes] | None = None
        self.started_once = False

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        """Start it (again, on the same port) and return once it answers PING. A first start
        whose free port another process took meanwhile moves to a new one (read ``url`` after
        it)."""
        for _ in range(3):
            if self._start(timeout):
                self.started_once = True
                return self
            self._use_port(free_port())
        raise RuntimeError(f"no free port for redis-server:\n{self.log()}")

    def _use_port(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start(self, timeout: float) -> bool:
        """False when the port was taken (and another may be tried)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if not self.started_once and "Address already in use" in self.log():
                    self.process = None
                    return False
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self._answers():
                return True
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port} in {timeout}s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop this server (only this one: it is our child process)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
