"""The web UI: pages served at ``/``, built on the same REST and WebSocket API as any client.

The browser renders it (``static/js/``); the server only hands out the page shell, the static
files and the login cookie (``session.py``).
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from thingport.web import session
from thingport.web.pages import Pages, StaticFiles

#: The client-side routes (History API): a reload or a shared link at any of them gets the
#: shell, which then renders that page.
CLIENT_ROUTES = (
    "/", "/login", "/activate", "/devices", "/devices/{deviceId}", "/profiles", "/customers",
    "/customers/{customerId}", "/ota", "/tenants", "/tenants/{tenantId}",
)


def routes() -> list[BaseRoute]:
    """Every UI route: the session endpoints, the static files and the page shell."""
    pages = Pages(StaticFiles.scan())
    return [
        *session.routes,
        Route("/static/{version}/{path:path}", pages.static_file, methods=["GET"]),
        *(Route(path, pages.shell, methods=["GET"]) for path in CLIENT_ROUTES),
    ]
