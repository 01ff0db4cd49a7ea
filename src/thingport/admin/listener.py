"""The server's end of the control socket: one JSON request line in, one JSON answer line out.

A request is ``{"command": "device.create", "args": {...}}``; the answer ``{"result": ...}`` or
``{"error": "...", "kind": "NotFound"}``. A line of JSON is all this needs, which is why there is
no HTTP here: the REST API has its own authentication, while this socket is authenticated by
the file system (only the store's owner can connect).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
from typing import Any, Final

from thingport.admin.commands import COMMANDS
from thingport.errors import ThingportError
from thingport.services import Services

log = logging.getLogger("thingport.admin")

#: Longest request line; a command's arguments are a few names.
MAX_REQUEST: Final = 1 << 16
#: Longest path a Unix socket can have on Linux (sun_path is 108 bytes with its NUL).
MAX_PATH: Final = 107


async def run(services: Services, request: bytes) -> dict[str, Any]:
    """The answer to one request line."""
    try:
        message = json.loads(request)
        command = COMMANDS[message["command"]]
        args = message.get("args", {})
        if not isinstance(args, dict):
            raise TypeError("args must be an object")
        inspect.signature(command).bind(services, **args)
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"bad request: {exc}", "kind": "BadRequest"}
    try:
        return {"result": await command(services, **args)}
    except ThingportError as exc:
        return {"error": exc.message, "kind": type(exc).__name__}
    except Exception:
        log.exception("control command %s failed", message.get("command"))
        return {"error": "the command failed; the server's log says why", "kind": "Error"}


class Listener:
    """The control socket of one server, open from ``start`` to ``close``."""

    def __init__(self, services: Services, path: str) -> None:
        self._services = services
        self._path = path
        self._server: asyncio.Server | None = None

    async def start(self) -> bool:
        """Listen; False (and a warning) when the path is too long for a Unix socket."""
        if len(os.fsencode(self._path)) > MAX_PATH:
            log.warning("the data directory's path is too long for the control socket %s; "
                        "CLI commands cannot reach this server", self._path)
            return False
        # Whatever is at the path belongs to an earlier process of this store (we hold its
        # lock), so it can go.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        self._server = await asyncio.start_unix_server(self._serve, self._path,
                                                       limit=MAX_REQUEST)
        os.chmod(self._path, 0o600)
        return True

    async def close(self) -> None:
        """Stop listening and remove the socket."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            answer = await run(self._services, line)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, ValueError):
            pass  # the CLI went away, or sent a line over MAX_REQUEST
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
