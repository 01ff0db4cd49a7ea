"""The connection's own limits (``http.limits``), on raw sockets against a live server:
the time for a request's head and body (408), the head's size and header count (431), the
connection cap (503, health checks still answered), and what must not be cut: long polls,
WebSockets, slow but steady uploads. Also that a big lenient body is parsed off the event loop.

Bounds are generous (the machine may be busy): a limit of 1 s must act within 10 s.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_client import Api
from tests.live import LiveServer
from tests.ws.client import tb_socket

LIMITS = {"THINGPORT_HTTP_HEADER_TIMEOUT": "1", "THINGPORT_HTTP_BODY_TIMEOUT": "1"}
#: A limit of 1 s must have acted by then.
WITHIN_S = 10.0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("limits"), env=LIMITS).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token(live: LiveServer) -> str:
    return Api(live.url).login().create_device()[1]


def connect(live: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", live.port), timeout=WITHIN_S + 5)


def read_to_close(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def answer(raw: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of one raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), raw[:500]
    return int(head.split(b" ", 2)[1]), json.loads(body)


def assert_error(raw: bytes, status: int) -> None:
    code, body = answer(raw)
    assert code == status, raw[:500]
    assert body["status"] == status and body["message"] and "errorCode" in body
    assert b"connection: close" in raw.split(b"\r\n\r\n")[0].lower()


def timed(conn: socket.socket) -> tuple[bytes, float]:
    start = time.monotonic()
    raw = read_to_close(conn)
    return raw, time.monotonic() - start


# -- time ------------------------------------------------------------------------------------
def test_a_head_that_stops_arriving_is_answered_408(live: LiveServer) -> None:
    with connect(live) as conn:
        conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        raw, took = timed(conn)
    assert_error(raw, 408)
    assert took < WITHIN_S


def test_a_connection_that_sends_nothing_is_closed(live: LiveServer) -> None:
    with connect(live) as conn:
        raw, took = timed(conn)
    assert raw == b"" and took < WITHIN_S


def test_a_slowloris_head_is_cut_at_the_head_timeout(live: LiveServer) -> None:
    # A byte at a time keeps every read short; the bound is on the whole head.
    with connect(live) as conn:
        start = time.monotonic()
        with pytest.raises(OSError):  # the server ends it somewhere in here
            for byte in b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100:
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
                if time.monotonic() - start > WITHIN_S:
                    break
        assert time.monotonic() - start < WITHIN_S


def test_a_body_shorter_than_its_content_length_is_answered_408(
    live: LiveServer, token: str,
) -> None:
    with connect(live) as conn:
        conn.sendall(f"POST /api/v1/{token}/telemetry HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     f'{{"temperature":'.encode())
        raw, took = timed(conn)
    assert_error(raw, 408)
    assert took < WITHIN_S


def test_a_body_stall_of_an_unknown_address_is_408_too(live: LiveServer) -> None:
    with connect(live) as conn:
        conn.sendall(b"POST /api/v1/provision HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        raw, took = timed(conn)
    assert_error(raw, 408)
    assert took < WITHIN_S


def test_a_slow_but_steady_body_is_read_whole(live: LiveServer, token: str) -> None:
    # Each part within the body timeout, the whole longer than it: the limit is on pauses.
    parts = [b'{"steady":', b" ", b" ", b" ", b" ", b" ", b" ", b" ", b"1}"]
    with connect(live) as conn:
        conn.sendall(f"POST /api/v1/{token}/telemetry HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Length: {sum(map(len, parts))}\r\nConnection: close\r\n\r\n"
                     .encode())
        for part in parts:
            conn.sendall(part)
            time.sleep(0.2)
        raw = read_to_close(conn)
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]


def test_keep_alive_requests_with_pauses_between_them(live: LiveServer) -> None:
    # The head timeout starts with a request's first byte, not with the connection.
    with httpx.Client(base_url=live.url, timeout=WITHIN_S) as client:
        for _ in range(3):
            assert client.get("/api/noauth/health").status_code == 200
            time.sleep(1.5)


def test_a_long_poll_outlives_the_timeouts(live: LiveServer, token: str) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        start = time.monotonic()
        expired = client.get(f"/api/v1/{token}/rpc", params={"timeout": 4000})
        assert expired.status_code == 408 and time.monotonic() - start >= 3.5
        # And the connection goes on.
        assert client.get("/api/noauth/health").status_code == 200


def test_a_websocket_outlives_the_timeouts(live: LiveServer) -> None:
    api = Api(live.url).login()
    device, token = api.create_device()
    with tb_socket(live.url, token=api.token) as ws:
        ws.send({"tsSubCmds": [{"entityType": "DEVICE", "entityId": device["id"]["id"],
                                "cmdId": 1, "scope": "LATEST_TELEMETRY"}]})
        assert ws.recv()["errorCode"] == 0
        time.sleep(3)
        assert api.post_telemetry(token, {"late": 1}).status_code == 200
        assert "late" in ws.recv(timeout=WITHIN_S)["data"]


# -- size ------------------------------------------------------------------------------------
def test_a_head_larger_than_the_limit_is_431(live: LiveServer) -> None:
    with connect(live) as conn:
        conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000
                     + b"\r\n\r\n")
        assert_error(read_to_close(conn), 431)


def test_an_endless_header_is_cut_at_the_limit(live: LiveServer) -> None:
    # The server answers once the limit is passed, without waiting for the header's end.
    with connect(live) as conn:
        conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with pytest.raises(OSError):  # reset once it has answered and closed
            for _ in range(1000):
                conn.sendall(b"a" * 65536)
        assert_error(read_to_close(conn), 431)


def test_too_many_header_fields_is_431(live: LiveServer) -> None:
    fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(150))
    with connect(live) as conn:
        conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        code, body = answer(read_to_close(conn))
    assert code == 431 and "header fields" in body["message"]


@pytest.mark.parametrize("second", [
    b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n",
    b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-F%d: 1\r\n" % i for i in range(150)) + b"\r\n",
], ids=["large", "many"])
def test_a_pipelined_head_is_held_to_the_limits_too(live: LiveServer, second: bytes) -> None:
    # In the same read as the request before it, which is answered first.
    first = b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(live) as conn:
        conn.sendall(first + second)
        raw = read_to_close(conn)
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    assert_error(raw[raw.index(b"HTTP/1.1 431"):], 431)


def test_heads_within_the_limits_pass(live: LiveServer) -> None:
    headers = {f"X-F{i}": "v" * 200 for i in range(90)}  # 90 fields, about 20 KB
    response = httpx.get(f"{live.url}/api/noauth/health", headers=headers)
    assert response.status_code == 200


def test_a_garbled_request_is_400_json(live: LiveServer) -> None:
    with connect(live) as conn:
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert_error(read_to_close(conn), 400)


# -- connections -----------------------------------------------------------------------------
def test_connections_over_the_cap_are_refused_and_health_still_answers(tmp_path: Path) -> None:
    cap = 5
    # One process: with several, the cap is dealt out among them, as the kernel deals
    # connections, and which worker a connection reaches is the kernel's choice.
    server = LiveServer(tmp_path, env={"THINGPORT_HTTP_MAX_CONNECTIONS": str(cap),
                                       "THINGPORT_HTTP_HEADER_TIMEOUT": "60",
                                       "THINGPORT_WORKERS": "1"}).start()
    held: list[socket.socket] = []
    try:
        for _ in range(cap):  # half a request each
            conn = connect(server)
            conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n")
            held.append(conn)
        time.sleep(0.5)  # accepted and counted
        with connect(server) as extra:
            extra.sendall(b"GET /api/v1/some-token/attributes HTTP/1.1\r\nHost: x\r\n\r\n")
            raw = read_to_close(extra)
        assert_error(raw, 503)
        health = httpx.get(f"{server.url}/api/noauth/health", timeout=WITHIN_S)
        assert health.status_code == 200 and health.headers["connection"] == "close"
        # Past the reserve above the cap (8 here), a connection is closed at once.
        for _ in range(8):
            conn = connect(server)
            conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n")
            held.append(conn)
        time.sleep(0.5)
        with connect(server) as refused:
            refused.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n\r\n")
            raw, took = timed(refused)
        assert raw == b"" and took < WITHIN_S
        # Once the half requests are gone, all is as before.
        for conn in held:
            conn.close()
        held.clear()
        time.sleep(0.5)
        assert httpx.get(f"{server.url}/api/noauth/health").headers.get("connection") != "close"
    finally:
        for conn in held:
            conn.close()
        server.stop()


# -- parsing off the loop --------------------------------------------------------------------
@pytest.mark.slow
def test_health_answers_while_a_big_lenient_body_is_parsed(live: LiveServer, token: str) -> None:
    # Unquoted strings: only the (pure Python) lenient parser reads it, for seconds; then it
    # is refused as telemetry, so nothing is stored.
    body = b"[" + b",".join([b"a"] * 2_500_000) + b"]"
    result: dict[str, Any] = {}

    def post() -> None:
        result["response"] = httpx.post(f"{live.url}/api/v1/{token}/telemetry", content=body,
                                        timeout=600)

    poster = threading.Thread(target=post)
    poster.start()
    latencies = []
    try:
        while poster.is_alive():
            start = time.monotonic()
            assert httpx.get(f"{live.url}/api/noauth/health", timeout=60).status_code == 200
            latencies.append(time.monotonic() - start)
            time.sleep(0.1)
    finally:
        poster.join()
    assert result["response"].status_code == 400
    assert len(latencies) >= 5, latencies  # it was parsing for a while
    assert max(latencies) < 2.0, latencies


# -- draining --------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [40_000_000, 64_000_000], ids=["401", "413"])
def test_the_body_of_an_unknown_token_is_drained_only_a_few_mib(
    live: LiveServer, length: int,
) -> None:
    # Answered (401, or 413 over the 50 MB limit) once a few MiB are read; the connection is
    # then closed instead of reading the rest, so the client cannot send it all.
    chunk = b"x" * 65536
    sent = 0
    start = time.monotonic()
    with connect(live) as conn:
        conn.sendall(f"POST /api/v1/no-such-token/telemetry HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        try:
            while sent < length:
                conn.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
    assert time.monotonic() - start < WITHIN_S  # closed, not merely no longer read
    assert sent < 30_000_000
