"""A request answered before its body was read keeps its connection usable, or says it closes.

A client that sees an answer without ``Connection: close`` sends its next request on the same
connection. If the server then closes it (because the first body was still arriving), that
next request gets no answer at all: the fuzz test saw it, one request in thousands, after a
GET that carried a chunked body. Raw sockets against a live server, so every byte's timing is
the test's.
"""

from __future__ import annotations

import contextlib
import socket

import pytest

from tests.api_client import Api
from tests.live import LiveServer

TIMEOUT_S = 10.0


@pytest.fixture
def live(server: LiveServer) -> LiveServer:
    """The session's shared server: these tests only make devices of their own."""
    return server


@pytest.fixture
def token(live_api: Api) -> str:
    return live_api.create_device()[1]


def read_response(conn: socket.socket, data: bytes = b"") -> tuple[int, bytes]:
    """One response with a Content-Length (``data``: its start, read already): its status
    and head (lowercase)."""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed without an answer after {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.lower().split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk, "closed in the middle of an answer"
        rest += chunk
    return int(head.split(b" ", 2)[1]), head.lower()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.parametrize("path", ["attributes?clientKeys=a", "firmware?title=x&version=1",
                                  "rpc?timeout=1", "attributes/updates?timeout=1"])
def test_a_get_answered_while_its_chunked_body_arrives_keeps_the_connection(
    live: LiveServer, token: str, path: str,
) -> None:
    with socket.create_connection(("127.0.0.1", live.port), timeout=TIMEOUT_S) as conn:
        conn.sendall(f"GET /api/v1/{token}/{path} HTTP/1.1\r\nHost: x\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode() + chunk(b"{" * 1000))
        # The server may answer now, before the rest of the body (a GET reads none) ...
        conn.settimeout(1.5)
        early = b""
        with contextlib.suppress(TimeoutError):
            early = conn.recv(65536)
        conn.settimeout(TIMEOUT_S)
        # ... which still arrives, as a client that does not read while sending sends it.
        conn.sendall(chunk(b"x" * 1000) + b"0\r\n\r\n")
        status, head = read_response(conn, early)
        assert status < 500
        # Either the server says it closes, or the connection takes another request.
        if b"connection: close" not in head:
            conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(conn)[0] == 200


def test_a_refused_body_the_client_keeps_sending_keeps_the_connection(
    live: LiveServer, token: str,
) -> None:
    # 401 for an unknown token, decided before the body was read: the body is drained first.
    with socket.create_connection(("127.0.0.1", live.port), timeout=TIMEOUT_S) as conn:
        conn.sendall(b"POST /api/v1/no-such-token/telemetry HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b"{" * 1000))
        conn.sendall(chunk(b"x" * 1000) + b"0\r\n\r\n")
        status, head = read_response(conn)
        assert status == 401
        if b"connection: close" not in head:
            conn.sendall(b"GET /api/noauth/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(conn)[0] == 200
