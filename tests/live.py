"""A real thingport server in a subprocess on a free port, for black-box tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SYSADMIN = ("sysadmin@thingsboard.org", "sysadmin-pass")
TENANT_ADMIN = ("tenant@thingsboard.org", "tenant-pass")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """``thingport serve`` on 127.0.0.1 with its own data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None,
                 scheme: str = "http") -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.scheme = scheme
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "THINGPORT_DATA_DIR": str(data_dir),
            "THINGPORT_SYSADMIN_PASSWORD": SYSADMIN[1],
            "THINGPORT_TENANT_ADMIN_PASSWORD": TENANT_ADMIN[1],
            "HTTP_BIND_ADDRESS": "127.0.0.1",
            "HTTP_BIND_PORT": str(self.port),
            "THINGPORT_LOG_LEVEL": "warning",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    def start(self, timeout: float = 20.0, verify: object = True) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "thingport", "serve"], env=self.env,
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                httpx.get(self.url + "/api/noauth/health", timeout=1, verify=verify)  # type: ignore[arg-type]
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

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
