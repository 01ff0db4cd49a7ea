"""``GET /api/noauth/health``: for load balancers and start-up checks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api.common import JSONResponse


async def health(request: Request) -> Response:
    """``{"status":"UP"}`` once the store is open and the server accepts requests."""
    return JSONResponse({"status": "UP"})


routes = [Route("/api/noauth/health", health, methods=["GET"])]
