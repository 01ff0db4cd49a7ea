"""Long polls on a live server, where the connection itself tells a waiting poll that its client
left (``DISCONNECT_EXTENSION``): they still expire at their deadline, are woken by a command
(from any worker), and free their wait when the device goes away; the start says how many the
open-files limit leaves room for."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest

from tests.api_client import Api
from tests.live import LiveServer
from tests.waiting import waiting_while


def open_polls(api: Api, kind: str = "rpc") -> float:
    text = api.http.get("/metrics").text
    found = re.search(rf'^thingport_open_long_polls{{kind="{kind}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_poll_expires_at_its_deadline_and_is_woken_by_a_command(
        fresh_server: LiveServer, workers: str) -> None:
    fresh_server.env["THINGPORT_WORKERS"] = workers
    fresh_server.start()
    api = Api(fresh_server.url).login()
    device, token = api.create_device()
    began = time.monotonic()
    expired = api.device_get(token, "rpc", params={"timeout": 700})
    took = time.monotonic() - began
    assert expired.status_code == 408 and expired.content == b""
    assert 0.65 <= took < 3.0, took
    updates = api.device_get(token, "attributes/updates", params={"timeout": 300})
    assert updates.status_code == 408
    with ThreadPoolExecutor(4) as pool:
        for attempt in range(6):  # with two workers, some cross from one to the other
            poll = waiting_while(api.base_url, "rpc", lambda: pool.submit(
                api.device_get, token, "rpc", params={"timeout": 20000}))
            sent = api.http.post(f"/api/rpc/oneway/{device['id']['id']}",
                                 json={"method": "ping", "params": {"n": attempt}})
            assert sent.status_code == 200, sent.text
            answer = poll.result(10)
            assert answer.status_code == 200
            assert answer.json()["params"] == {"n": attempt}
        changes = waiting_while(api.base_url, "attributes", lambda: pool.submit(
            api.device_get, token, "attributes/updates", params={"timeout": 20000}))
        api.save_shared(device["id"]["id"], {"mode": "on"})
        assert changes.result(10).json() == {"mode": "on"}


def test_a_device_that_leaves_frees_its_wait(fresh_server: LiveServer) -> None:
    fresh_server.env["THINGPORT_WORKERS"] = "1"
    fresh_server.start()
    api = Api(fresh_server.url).login()
    _, token = api.create_device()
    polls = []
    for kind, path in (("rpc", "rpc"), ("attributes", "attributes/updates")):
        raw = socket.create_connection(("127.0.0.1", fresh_server.port))
        raw.sendall(f"GET /api/v1/{token}/{path}?timeout=60000 HTTP/1.1\r\nHost: x\r\n\r\n"
                    .encode())
        polls.append(raw)
        until(partial(lambda k: open_polls(api, k) == 1, kind), f"the {kind} poll waits")
    for raw in polls:
        raw.close()
    until(lambda: open_polls(api, "rpc") == 0 and open_polls(api, "attributes") == 0,
          "both waits end with their connections")
    assert "Traceback" not in fresh_server.log()


def test_the_start_says_how_many_polls_the_open_files_limit_allows(
        fresh_server: LiveServer) -> None:
    fresh_server.env["THINGPORT_LOG_LEVEL"] = "info"
    fresh_server.env["THINGPORT_WORKERS"] = "2"
    fresh_server.start()
    lines = [line for line in fresh_server.log().splitlines() if "open files:" in line]
    assert len(lines) == 1, lines
    assert re.search(r"open files: \d+ \((raised from \d+|the hard limit)\): room for about "
                     r"[\d,]+ connections \(long polls\) in 2 processes$", lines[0]), lines[0]
