"""A WebSocket client speaking ThingsBoard's telemetry protocol, for black-box tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

Frame = dict[str, Any]


class TbSocket:
    """One session: send commands, read frames, see how the server closed."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    def send(self, message: Any) -> None:
        self.connection.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout: float = 5) -> Frame:
        """The next frame; fails the test after ``timeout`` seconds."""
        frame: Frame = json.loads(self.connection.recv(timeout=timeout))
        return frame

    def recv_until(self, match: Callable[[Frame], bool], timeout: float = 5) -> Frame:
        """The first frame ``match`` accepts, skipping others."""
        while True:
            frame = self.recv(timeout)
            if match(frame):
                return frame

    def nothing_within(self, seconds: float) -> bool:
        """True when no frame arrives for ``seconds``."""
        try:
            self.connection.recv(timeout=seconds)
        except TimeoutError:
            return True
        return False

    def closed_with(self, timeout: float = 15) -> tuple[int | None, str]:
        """The close code and reason the server sent (frames before it are skipped)."""
        try:
            while True:
                self.connection.recv(timeout=timeout)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, closed.rcvd.reason


def ws_url(base_url: str, path: str, token: str | None = None) -> str:
    url = base_url.replace("http", "ws", 1) + path
    return url + (f"?token={token}" if token else "")


@contextmanager
def tb_socket(base_url: str, path: str = "/api/ws/plugins/telemetry",
              token: str | None = None, **options: Any) -> Iterator[TbSocket]:
    """A session on ``path``, authenticated by ``?token=`` when one is given."""
    with connect(ws_url(base_url, path, token), **options) as connection:
        yield TbSocket(connection)
