"""``GET /metrics`` (Prometheus' text format) and the counting of REST API requests.

``/metrics`` needs no authentication, as Prometheus scrapes expect: its labels are route
templates, statuses and kinds, never a token, an id, a name or an address, so what it tells is
how busy the server is. ``THINGPORT_METRICS_ENABLED=false`` turns it off; behind a public proxy,
keep ``/metrics`` to the monitoring network (see the README).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.http.asgi import Message, Receive, Scope, Send
from thingport.metrics import METRICS_TOPIC, UNMATCHED, Metrics, method_label
from thingport.metrics_merge import merge_pages


async def metrics(request: Request) -> Response:
    """Every metric, formatted now: of every worker process when there are several."""
    collected: CollectorRegistry = request.app.state.metrics_registry
    page = generate_latest(collected)
    gather = getattr(request.app.state.services.bus, "gather", None)
    if gather is not None:
        page = merge_pages([page, *await gather(METRICS_TOPIC)])
    return Response(page, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]


class CountRequests:
    """ASGI middleware around the REST app: each HTTP request counted by its route template
    (known once Starlette's router has matched it) and status, with its duration."""

    def __init__(self, app: object, counts: Metrics) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        start = time.perf_counter()
        status = 500  # what uvicorn answers when the app fails before responding

        def sending(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)  # awaited by the caller: no coroutine of our own

        try:
            await self.app(scope, receive, sending)  # type: ignore[operator]
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.counts.series("rest", template, method_label(scope["method"])).observe(
                status, time.perf_counter() - start)
