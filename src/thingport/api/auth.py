"""Login, token refresh and the current user: ``/api/auth/...``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import thingport.api.render as render
from thingport.api.common import JSONResponse, body_bytes, json_object, principal, services
from thingport.errors import BadRequest, Unauthorized
from thingport.http.operations import NO_BODY, operation


async def _credentials_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or an empty one: ThingsBoard answers a login or refresh
    without usable credentials with 401, not 400."""
    try:
        body = orjson.loads(await body_bytes(request))
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def client_address(request: Request) -> str:
    """The caller's address (the trusted proxy's client when there is one: the forwarded
    middleware has put it in the scope), which the login limit counts failures by."""
    return request.client.host if request.client else ""


@operation(public=True, responses={401: "Wrong credentials", 429: "Too many failures"})
async def login(request: Request) -> Response:
    """``{"username","password"}`` -> ``{"token","refreshToken"}``; 429 with ``Retry-After``
    while the address is blocked after too many failed logins."""
    body = await _credentials_body(request)
    if not body.get("username") or not body.get("password"):
        raise Unauthorized("Username or Password not provided")
    pair = await services(request).auth.login(
        str(body["username"]), str(body["password"]), client_address(request)
    )
    return JSONResponse(pair)


async def change_password(request: Request) -> Response:
    """``{"currentPassword","newPassword"}``: the caller's new password; a new token pair."""
    caller = await principal(request)
    body = await json_object(request)
    current, new = body.get("currentPassword"), body.get("newPassword")
    if not isinstance(current, str) or not isinstance(new, str):
        raise BadRequest("currentPassword and newPassword are required")
    return JSONResponse(await services(request).auth.change_password(caller.user_id, current, new))


@operation(public=True, responses={401: "No valid refresh token"})
async def refresh(request: Request) -> Response:
    """``{"refreshToken"}`` -> a new token pair."""
    body = await _credentials_body(request)
    if not isinstance(body.get("refreshToken"), str):
        raise Unauthorized("Refresh token is not provided")
    return JSONResponse(await services(request).auth.refresh(body["refreshToken"]))


async def current_user(request: Request) -> Response:
    caller = await principal(request)
    return JSONResponse(render.user(await services(request).users.get_user(caller.user_id)))


@operation(body=NO_BODY)
async def logout(request: Request) -> Response:
    # JWTs are stateless: logging out is the client forgetting its tokens.
    await principal(request)
    return Response(status_code=200)


@operation(summary="Not supported: log in with POST", public=True,
           responses={401: "Always"})
async def login_wrong_method(request: Request) -> Response:
    raise Unauthorized("Authentication method not supported: " + request.method)


routes = [
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/login", login_wrong_method, methods=["GET", "PUT", "DELETE"]),
    Route("/api/auth/token", refresh, methods=["POST"]),
    Route("/api/auth/user", current_user, methods=["GET"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/changePassword", change_password, methods=["POST"]),
]
