"""A live server's log: one format for its lines and uvicorn's, in the primary and its workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.live import LiveServer

#: The first start's list of logins, printed on stderr (not a log line) in either format.
ANNOUNCEMENT = re.compile(r"^(|thingport: first start, created these logins:"
                          r"|  (SYS_ADMIN|TENANT_ADMIN) +\S+  password: .*)$")
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) [\w.]+: \S")


def log_lines(server: LiveServer) -> list[str]:
    return [line for line in server.log().splitlines() if not ANNOUNCEMENT.match(line)]


def wait_for(server: LiveServer, text: str, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while server.log().count(text) < count:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


def test_json_lines_from_the_primary_and_its_workers(fresh_server: LiveServer) -> None:
    fresh_server.env.update(THINGPORT_LOG_FORMAT="json", THINGPORT_LOG_LEVEL="info",
                            THINGPORT_WORKERS="2")
    fresh_server.start()
    wait_for(fresh_server, "Application startup complete.", 2)  # the worker's too
    fresh_server.stop()
    entries = [json.loads(line) for line in log_lines(fresh_server)]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    started = {e["message"] for e in entries
               if e["logger"] == "uvicorn.error" and e["message"].startswith("Started server")}
    assert len(started) == 2, started  # two processes, two pids
    assert any(e["logger"] == "thingport" and "worker processes besides this one" in e["message"]
               for e in entries)
    assert any(e["message"].startswith("Finished server process") for e in entries)


def test_text_lines_have_one_format(fresh_server: LiveServer) -> None:
    fresh_server.env.update(THINGPORT_LOG_LEVEL="info", THINGPORT_WORKERS="1")
    fresh_server.start()
    fresh_server.stop()
    lines = log_lines(fresh_server)
    assert any(" INFO uvicorn.error: Application startup complete." in line for line in lines)
    odd = [line for line in lines if not TEXT_LINE.match(line)]
    assert not odd, odd


def test_a_bad_log_format_stops_serve_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "THINGPORT_DATA_DIR": str(tmp_path / "data"),
           "HTTP_BIND_ADDRESS": "127.0.0.1", "HTTP_BIND_PORT": "0", "THINGPORT_LOG_FORMAT": "xml"}
    done = subprocess.run([sys.executable, "-m", "thingport", "serve"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "thingport: THINGPORT_LOG_FORMAT: expected text or json, got 'xml'\n"
    assert not (tmp_path / "data").exists()
