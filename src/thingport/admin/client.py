"""The CLI's end of the control socket (see ``admin.listener``)."""

from __future__ import annotations

import json
import socket
from typing import Any, Final

from thingport.errors import ThingportError

#: A command waits at most this long for the server (a store write, usually milliseconds).
TIMEOUT_S: Final = 60.0


class ServerUnreachable(ThingportError):
    """The server that holds the store does not answer on its control socket."""


def call(path: str, command: str, args: dict[str, Any]) -> Any:
    """Run ``command`` in the server listening on ``path``; its result, or the ThingportError
    the server answered with (its message as the server gave it)."""
    request = json.dumps({"command": command, "args": args}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.connect(path)
            sock.sendall(request)
            answer = sock.makefile("rb").readline()
    except OSError as exc:
        raise ServerUnreachable(
            f"the server holding the store does not answer on {path}: {exc.strerror or exc}"
        ) from None
    try:
        message = json.loads(answer)
    except ValueError:
        raise ServerUnreachable(f"the server closed {path} without an answer") from None
    if "error" in message:
        raise ThingportError(str(message["error"]))
    return message.get("result")
