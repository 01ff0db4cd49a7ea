"""The UI's login session: the refresh token in an HttpOnly cookie, the access token in memory.

The page keeps its access JWT in JavaScript memory only and sends it as ``X-Authorization``, as
every REST client does. So that a reload, or an access token that expired, need not ask for the
password again, the refresh token lives in a cookie that scripts cannot read (HttpOnly), that
only these endpoints receive (Path), and that no other site can make the browser send
(SameSite=Strict):

- ``POST /ui/session`` ``{"username","password"}`` -> ``{"token": access}``, sets the cookie;
- ``POST /ui/session/token`` (the cookie) -> ``{"token": access}``, rotates the cookie;
- ``DELETE /ui/session`` clears it.

Because a cookie authenticates them, these three also refuse requests that another site could
have made: they need the ``X-Requested-With: thingport`` header (which a cross-site form cannot
send, and a cross-site script cannot send without a CORS preflight this server never grants),
and a cross-site ``Origin`` or ``Sec-Fetch-Site`` is refused. Everything else the UI writes goes
through the REST API with the bearer header, which a browser never adds by itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api.auth import client_address
from thingport.api.common import JSONResponse, json_object, services
from thingport.errors import PermissionDenied, Unauthorized
from thingport.http.errors import JWT_TOKEN_EXPIRED, error_body
from thingport.web.pages import with_security_headers

COOKIE = "thingport_refresh"
COOKIE_PATH = "/ui/session"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "thingport"


def check_same_origin(request: Request) -> None:
    """Refuse (403) a request that another site could have made the browser send."""
    if request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise PermissionDenied(f"Missing header X-Requested-With: {CSRF_VALUE}")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise PermissionDenied("Cross-site request refused")
    origin = request.headers.get("origin")
    # Compared with the Host the browser sent: the scheme may differ behind a TLS proxy.
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise PermissionDenied("Cross-site request refused")


def _session_response(request: Request, pair: dict[str, str]) -> Response:
    """``{"token"}`` to the page, the refresh token into the cookie."""
    response = JSONResponse({"token": pair["token"]}, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE, pair["refreshToken"],
        max_age=request.app.state.settings.jwt_refresh_expiration_s,
        path=COOKIE_PATH, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return with_security_headers(response)


def _clear_cookie(request: Request, response: Response) -> Response:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return with_security_headers(response)


async def login(request: Request) -> Response:
    """``POST /ui/session``: log in with email and password."""
    check_same_origin(request)
    body = await json_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise Unauthorized("Username or Password not provided")
    pair = await services(request).auth.login(username, password, client_address(request))
    return _session_response(request, pair)


async def refresh(request: Request) -> Response:
    """``POST /ui/session/token``: a new access token for the session cookie."""
    check_same_origin(request)
    token = request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized("Session expired")
    try:
        pair = await services(request).auth.refresh(token)
    except Unauthorized as exc:  # TokenExpired too: the session is over either way.
        body = error_body(401, f"Session expired: {exc.message}", JWT_TOKEN_EXPIRED)
        response = Response(body, status_code=401, media_type="application/json")
        return _clear_cookie(request, response)
    return _session_response(request, pair)


async def logout(request: Request) -> Response:
    """``DELETE /ui/session``: forget the session cookie."""
    check_same_origin(request)
    return _clear_cookie(request, Response(status_code=204))


routes = [
    Route(COOKIE_PATH, login, methods=["POST"]),
    Route(COOKIE_PATH, logout, methods=["DELETE"]),
    Route(COOKIE_PATH + "/token", refresh, methods=["POST"]),
]
