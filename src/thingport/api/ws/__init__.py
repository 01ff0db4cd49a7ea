"""ThingsBoard's telemetry WebSocket API: ``/api/ws`` and the legacy ``/api/ws/plugins/telemetry``.

Both paths run the same session; only the envelope of the commands differs (see ``commands``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, WebSocketRoute

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

PATH = "/api/ws"
LEGACY_PATH = "/api/ws/plugins/telemetry"


async def telemetry_socket(websocket: WebSocket) -> None:
    """One client's session, until it or the server closes."""
    # Imported with the first socket: the sessions' commands (msgspec and all) are a few MB
    # that a server nobody opens a WebSocket to never needs.
    from thingport.api.ws.session import CLOSE_BAD_DATA, Session

    path = websocket.url.path.rstrip("/")
    if path not in (PATH, LEGACY_PATH):
        await websocket.accept()
        await websocket.close(CLOSE_BAD_DATA, "Unknown session type")
        return
    state = websocket.app.state
    await Session(websocket, state.services, legacy=path == LEGACY_PATH,
                  lifecycle=state.lifecycle).run()


def routes() -> list[BaseRoute]:
    """The WebSocket endpoints."""
    return [WebSocketRoute(PATH, telemetry_socket),
            WebSocketRoute("/api/ws/plugins/{plugin}", telemetry_socket)]
