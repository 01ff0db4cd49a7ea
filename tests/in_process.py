"""A synchronous HTTP transport to an in-process app, for tests written against ``tests.api_client``
that need no real sockets."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio.from_thread
import httpx

from thingport.app import Thingport


@contextlib.contextmanager
def serving(app: Thingport) -> Iterator[InProcess]:
    """``app``, its lifespan included, running on an event loop in a thread of its own until
    the block ends; the transport hands it the requests."""
    with anyio.from_thread.start_blocking_portal() as portal, \
            portal.wrap_async_context_manager(app.rest.router.lifespan_context(app.rest)):
        yield InProcess(app, portal)


class InProcess(httpx.BaseTransport):
    """A transport to an app that ``serving`` runs: each request, from whichever thread, is
    handed to the app's event loop and answered in full.

    Any number of ``httpx.Client`` objects may share one, each with its own headers (closing
    them leaves the app running). Starlette's ``TestClient`` does the same for one client; this
    one is a transport, so that clients with different logins reach the same loop, and it
    speaks the ``httpx`` the rest of the tests use.
    """

    def __init__(self, app: Thingport, portal: anyio.from_thread.BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # A body streamed by a generator is read here: what is checked on the wire stays live.
        body = request.read()

        async def answer() -> tuple[int, httpx.Headers, bytes, dict[str, object]]:
            response = await self._asgi.handle_async_request(httpx.Request(
                request.method, request.url, headers=request.headers, content=body,
                extensions=request.extensions))
            return (response.status_code, response.headers, await response.aread(),
                    dict(response.extensions))

        status, headers, content, extensions = self._portal.call(answer)
        # The answer's own headers, as sent: no Content-Length added where the app sent none.
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content),
                              extensions=extensions)
