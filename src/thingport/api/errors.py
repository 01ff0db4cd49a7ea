"""The REST API's exception handlers: domain errors and Starlette's as ThingsBoard's error JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from thingport.errors import ThingportError, TooManyRequests
from thingport.http.errors import error_body, status_of

log = logging.getLogger(__name__)


def _error_response(status: int, message: str, code: int | None = None,
                    headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_body(status, message, code), status_code=status,
                    media_type="application/json", headers=headers)


async def domain_error(request: Request, exc: Exception) -> Response:
    """A ThingportError raised by a handler or a service, with its status and error code."""
    assert isinstance(exc, ThingportError)
    status, code = status_of(exc)
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.refused(exc.limit or "rest")
    return _error_response(status, exc.message, code, headers)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no route, wrong method), in ThingsBoard's error JSON."""
    assert isinstance(exc, HTTPException)
    message = exc.detail
    if exc.status_code == 404:
        message = f"No endpoint {request.method} {request.url.path}"
    return _error_response(exc.status_code, message, headers=exc.headers)


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client closed the connection before sending its whole body: nobody will read an
    answer, and it is no server error (logging it as one would let anyone flood the log)."""
    log.debug("client went away during %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def server_error(request: Request, exc: Exception) -> Response:
    """Anything else: logged with its traceback, answered 500 without details."""
    log.exception("REST request %s %s failed", request.method, request.url.path, exc_info=exc)
    return _error_response(500, "Internal server error")


exception_handlers = {
    ClientDisconnect: client_gone,
    ThingportError: domain_error,
    HTTPException: http_error,
    Exception: server_error,
}
