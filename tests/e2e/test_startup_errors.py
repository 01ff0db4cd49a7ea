"""A bad setting stops ``thingport serve`` with exit code 2 and one line on stderr naming the
variable: no traceback, and before anything starts (no "startup complete")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

#: ``thingport serve`` as if the redis extra were not installed (its import fails).
WITHOUT_REDIS = ("import sys; sys.modules['redis'] = None; "
                 "from thingport.cli import main; main()")


def serve(tmp_path: Path, env: dict[str, str], python_code: str | None = None,
          ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "THINGPORT_DATA_DIR": str(tmp_path / "data"),
            "HTTP_BIND_ADDRESS": "127.0.0.1", "HTTP_BIND_PORT": "0", **env}
    if "THINGPORT_LOG_LEVEL" not in env:  # uvicorn's info lines would show, if it started
        full.pop("THINGPORT_LOG_LEVEL", None)
    command = [sys.executable, "-c", python_code] if python_code else \
        [sys.executable, "-m", "thingport"]
    return subprocess.run([*command, "serve"], env=full, capture_output=True, text=True,
                          timeout=30)


def one_line(done: subprocess.CompletedProcess[str], variable: str) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"thingport: {variable}: "), lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("THINGPORT_LOG_LEVEL", "loud", "'loud'"),
    ("HTTP_BIND_PORT", "notaport", "must be a port number (0-65535), got 'notaport'"),
    ("HTTP_BIND_PORT", "70000", "must be a port number"),
    ("THINGPORT_TRUSTED_PROXIES", "not-an-ip", "'not-an-ip'"),
    ("THINGPORT_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/33", "'10.0.0.0/33'"),
    ("THINGPORT_BASE_URL", "iot.example.com", "http(s)://"),
    ("THINGPORT_METRICS_ENABLED", "maybe", "true or false"),
    ("HTTP_REQUEST_TIMEOUT", "soon", "must be a positive integer, got 'soon'"),
])
def test_a_bad_value_is_one_line(tmp_path: Path, variable: str, value: str, says: str) -> None:
    line = one_line(serve(tmp_path, {variable: value}), variable)
    assert says in line


def test_redis_without_its_extra_is_one_line(tmp_path: Path) -> None:
    done = serve(tmp_path, {"THINGPORT_REDIS_URL": "redis://127.0.0.1:6379/0"}, WITHOUT_REDIS)
    assert "pip install 'thingport[redis]'" in one_line(done, "THINGPORT_REDIS_URL")
    assert not (tmp_path / "data").exists()  # stopped before the store was made


def test_a_port_in_use_is_one_line_before_startup(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(tmp_path, {"HTTP_BIND_PORT": str(port)})
    line = one_line(done, "HTTP_BIND_PORT")
    assert f"127.0.0.1:{port} is already in use" in line
    assert "startup complete" not in done.stderr + done.stdout
    assert not (tmp_path / "data").exists()
