"""What has to end when the server stops: waiting long polls and open WebSocket sessions.

On SIGTERM, ``thingport.server`` calls ``Lifecycle.stop`` as soon as the listener is closed.
Every waiting poll (a device's ``rpc`` or ``attributes/updates`` poll, a client-side RPC, an
application's long poll) is woken at once and answered as an expired poll, 408, which
ThingsBoard's clients take as "poll again" (they then reach the restarted server or another
node). Every WebSocket session is closed with 1001, "going away". Requests that write are not
interrupted: uvicorn waits for them, and the store's close commits what is queued.

The waits are woken without a task of their own: each poll registers what ends its wait when
its client disconnects (``http.asgi.until_disconnected``), and ``stop`` calls that, which
ends the poll exactly as a disconnect would. Counting them here also gives the metrics their
open polls and sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

#: The close code of a WebSocket the server closes because it stops (RFC 6455 "going away").
CLOSE_GOING_AWAY = 1001
#: How long ``stop`` waits for the sessions to send their close frames.
SESSION_CLOSE_WAIT_S = 1.0


class Cancellable(Protocol):
    """What ends one waiting poll, as far as stopping is concerned."""

    def cancel(self) -> object:
        """End the wait (the poll is then answered as expired)."""


class Closable(Protocol):
    """A WebSocket session, as far as stopping is concerned."""

    def close(self, code: int, reason: str) -> None:
        """Start closing with ``code``; the session's own task sends the close frame."""


class Lifecycle:
    """The registry of what waits, and the flag that the server is stopping."""

    def __init__(self) -> None:
        #: Set once ``stop`` has begun; a poll that starts afterwards is answered at once.
        self.stopping = False
        #: Open waits by kind ("rpc", "attributes", ...), for the metrics.
        self.waiting: dict[str, int] = {}
        self._watchers: set[Cancellable] = set()
        self._sessions: set[Closable] = set()
        self._no_sessions = asyncio.Event()
        self._no_sessions.set()

    # -- long polls ----------------------------------------------------------------------------
    def wait_started(self, kind: str, watcher: Cancellable) -> None:
        """A poll of ``kind`` waits; cancelling ``watcher`` ends its wait."""
        self._watchers.add(watcher)
        self.waiting[kind] = self.waiting.get(kind, 0) + 1

    def wait_ended(self, kind: str, watcher: Cancellable) -> None:
        """The poll registered with ``watcher`` no longer waits."""
        self._watchers.discard(watcher)
        self.waiting[kind] -= 1

    # -- WebSocket sessions ----------------------------------------------------------------------
    @property
    def sessions(self) -> int:
        """How many WebSocket sessions are open."""
        return len(self._sessions)

    def session_opened(self, session: Closable) -> None:
        """Track ``session``; one opened while stopping is told to close at once."""
        self._sessions.add(session)
        self._no_sessions.clear()
        if self.stopping:
            session.close(CLOSE_GOING_AWAY, "Server is shutting down")

    def session_closed(self, session: Closable) -> None:
        """``session`` has ended (its close frame, if any, is sent)."""
        self._sessions.discard(session)
        if not self._sessions:
            self._no_sessions.set()

    # -- stopping --------------------------------------------------------------------------------
    async def stop(self, session_wait_s: float = SESSION_CLOSE_WAIT_S) -> None:
        """Answer every waiting poll as expired and close every session with 1001; return
        once the sessions have sent their close frames (at most ``session_wait_s``)."""
        self.stopping = True
        for watcher in tuple(self._watchers):
            watcher.cancel()
        for session in tuple(self._sessions):
            session.close(CLOSE_GOING_AWAY, "Server is shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_sessions.wait(), session_wait_s)
