"""A real nginx (Debian's package) in front of live servers, for tests through a proxy.

Each ``Nginx`` runs its own process on a free port, with its own prefix directory, config, pid
file and temporary directories, in the foreground (``daemon off;``) as a child of the test, so
the system's nginx, if any, is never touched. ``master_process off;`` keeps it to one process
running as the test's own user: its temporary files (a large request body is spooled to disk)
then live in the test's private directory without permission trouble.

``README_LOCATION`` is the README's ``location /`` block for proxying to thingport; a test may
pass its own directives instead.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.live import free_port

#: The proxy directives of the README's nginx example ("Behind a reverse proxy"), TLS aside.
README_LOCATION = """
        proxy_pass http://thingport;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 310s;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
"""

_CONFIG = """
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log {error_level};
events {{
    worker_connections 4096;
}}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size {client_max_body_size};
    upstream thingport {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{location}
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """The nginx executable; a clear failure (never a skip) when the package is missing."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx (see .ci/run)")
    return found


class Nginx:
    """nginx listening on 127.0.0.1:<free port>, proxying to ``upstreams`` (``host:port``)."""

    def __init__(
        self, directory: Path, upstreams: list[str], *, location: str = README_LOCATION,
        client_max_body_size: str = "64m", error_level: str = "warn",
    ) -> None:
        self.prefix = directory
        self.upstreams = upstreams
        self.location = location
        self.client_max_body_size = client_max_body_size
        self.error_level = error_level
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients reach the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The nginx.conf text for the current port."""
        servers = "\n".join(f"        server {upstream};" for upstream in self.upstreams)
        return _CONFIG.format(
            prefix=self.prefix, port=self.port, servers=servers, location=self.location,
            client_max_body_size=self.client_max_body_size, error_level=self.error_level,
        )

    def start(self, timeout: float = 10.0) -> Nginx:
        """Start nginx and wait until it accepts connections. A port taken between choosing
        and binding it is retried on another."""
        binary = nginx_binary()
        self.prefix.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = free_port()
            conf = self.prefix / "nginx.conf"
            conf.write_text(self.config())
            stderr = open(self.prefix / "stderr.log", "ab")  # noqa: SIM115 - the child owns it
            self.process = subprocess.Popen(
                [binary, "-p", str(self.prefix), "-c", str(conf), "-e", "stderr"],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )
            stderr.close()
            if self._wait_listening(timeout):
                return self
            if "Address already in use" not in self.log():
                break
        self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def _wait_listening(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def log(self) -> str:
        """nginx's own messages (start-up errors, upstream errors)."""
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def stop(self) -> None:
        """Stop this nginx (and only this one: the child process the fixture started)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
