"""A client that goes away mid-body is no server error: nothing is logged above INFO."""

from __future__ import annotations

import socket
import time

from tests.api_client import Api
from tests.live import LiveServer


def send_half_and_leave(port: int, path: str, headers: str = "") -> None:
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 1000\r\n\r\n"
                    '{"temperature":'.encode())
        time.sleep(0.2)  # the server is reading the body when the connection closes


def test_disconnects_mid_body_leave_no_errors_in_the_log(fresh_server: LiveServer) -> None:
    fresh_server.env["THINGPORT_LOG_LEVEL"] = "info"
    fresh_server.start()
    api = Api(fresh_server.url).login()
    device, token = api.create_device()
    auth = f"X-Authorization: Bearer {api.token}\r\n"
    for _ in range(3):
        send_half_and_leave(fresh_server.port, f"/api/v1/{token}/telemetry")
        send_half_and_leave(fresh_server.port, "/api/device", auth)
        send_half_and_leave(
            fresh_server.port,
            f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/timeseries/ANY", auth)
    assert api.post_telemetry(token, {"temperature": 1}).status_code == 200  # still serving
    log = fresh_server.log()
    assert "Traceback" not in log and "ERROR" not in log, log
