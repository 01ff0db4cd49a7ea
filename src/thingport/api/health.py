"""``GET /api/noauth/health``: for load balancers and start-up checks.

200 ``{"status":"UP","components":{"store":{"status":"UP"},"bus":{"status":"UP"}}}`` when this
node reaches its store and its bus; 503 with ``"status":"DOWN"`` and, for the part that failed,
``{"status":"DOWN","error":"..."}`` otherwise (the shape of Spring Boot's health endpoint, which
ThingsBoard's own nodes answer). Results are reused for about a second, so a flood of checks
costs one probe of each part per second.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api.common import JSONResponse, services
from thingport.services.health import ComponentHealth


def _component(part: ComponentHealth) -> dict[str, Any]:
    if part.up:
        return {"status": "UP"}
    return {"status": "DOWN", "error": part.error}


async def health(request: Request) -> Response:
    """This node's health: 200 when the store and the bus are reachable, else 503."""
    report = await services(request).health.check()
    body = {
        "status": "UP" if report.up else "DOWN",
        "components": {"store": _component(report.store), "bus": _component(report.bus)},
    }
    # Never cached by a proxy: the answer is about this moment.
    headers = {"Cache-Control": "no-store"}
    return JSONResponse(body, status_code=200 if report.up else 503, headers=headers)


routes = [Route("/api/noauth/health", health, methods=["GET"])]
