"""The system administrator's security settings: ``/api/admin/securitySettings``, and the
password policy that the activation and password forms show (``/api/noauth/userPasswordPolicy``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api.common import JSONResponse, json_body, principal, services
from thingport.domain.model import Authority


async def get_security_settings(request: Request) -> Response:
    await principal(request, Authority.SYS_ADMIN)
    return JSONResponse(await services(request).security.get())


async def save_security_settings(request: Request) -> Response:
    """Replace the settings (400 naming the first bad field); answers what was stored."""
    await principal(request, Authority.SYS_ADMIN)
    body = await json_body(request)
    return JSONResponse(await services(request).security.save(body))


async def password_policy(request: Request) -> Response:
    """No login needed: a new user reads it before choosing a password."""
    settings = await services(request).security.get()
    return JSONResponse(settings.get("passwordPolicy"))


routes = [
    Route("/api/admin/securitySettings", get_security_settings, methods=["GET"]),
    Route("/api/admin/securitySettings", save_security_settings, methods=["POST"]),
    Route("/api/noauth/userPasswordPolicy", password_policy, methods=["GET"]),
]
