"""The OpenAPI document of the REST and device APIs, built from the routes themselves, and
Swagger UI to try them (served from the package, so it works without internet).

Paths follow ThingsBoard's: ``/v3/api-docs`` and ``/swagger-ui/``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from thingport.api.common import JSONResponse

PAGE_PARAMS = ["pageSize*", "page*", "textSearch", "sortProperty", "sortOrder"]
#: Query parameters per handler name (a trailing * marks a required one).
QUERY_PARAMS: dict[str, list[str]] = {
    "tenant_devices": [*PAGE_PARAMS, "type", "deviceName"],
    "tenant_device_by_name": ["deviceName*"],
    "tenant_device_infos": [*PAGE_PARAMS, "deviceProfileId", "active"],
    "customer_device_infos": [*PAGE_PARAMS, "deviceProfileId", "active"],
    "list_tenants": PAGE_PARAMS,
    "list_tenant_admins": PAGE_PARAMS,
    "save_device": ["accessToken"],
    "save_user": ["sendActivationMail"],
    "set_user_credentials_enabled": ["userCredentialsEnabled"],
    "get_timeseries": ["keys", "startTs", "endTs", "interval", "intervalType", "limit", "agg",
                       "orderBy", "useStrictDataTypes"],
    "delete_timeseries": ["keys*", "deleteAllDataForKeys", "startTs", "endTs",
                          "rewriteLatestIfDeleted"],
    "get_attributes": ["keys"],
    "delete_attributes": ["keys*"],
    "list_packages": PAGE_PARAMS,
    "list_profile_packages": PAGE_PARAMS,
    "upload_data": ["checksumAlgorithm*", "checksum"],
    "list_profiles": PAGE_PARAMS,
    "list_profile_infos": PAGE_PARAMS,
}

#: The device API is plain ASGI, not Starlette routes: described here.
DEVICE_API: list[tuple[str, str, str, list[str]]] = [
    ("post", "/api/v1/{deviceToken}/telemetry",
     "Upload telemetry (flat, {ts, values}, or an array)", []),
    ("post", "/api/v1/{deviceToken}/attributes", "Upload client-side attributes", []),
    ("get", "/api/v1/{deviceToken}/attributes", "Read client and shared attributes",
     ["clientKeys", "sharedKeys", "allClientKeys", "allSharedKeys"]),
    ("get", "/api/v1/{deviceToken}/firmware", "A chunk of the assigned firmware",
     ["title*", "version*", "size", "chunk"]),
    ("get", "/api/v1/{deviceToken}/software", "A chunk of the assigned software",
     ["title*", "version*", "size", "chunk"]),
    ("post", "/api/v1/provision",
     "Provision a device with a profile's key and secret (no token)", []),
]

_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def _summary(handler: Callable[..., Any]) -> str:
    doc = inspect.getdoc(handler) or handler.__name__.replace("_", " ").capitalize()
    return doc.split("\n\n")[0].replace("\n", " ")


def _parameters(path: str, query: list[str]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(path)
    ]
    for name in query:
        required = name.endswith("*")
        params.append({"name": name.rstrip("*"), "in": "query", "required": required,
                       "schema": {"type": "string"}})
    return params


def build_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """OpenAPI 3.0 for every route (and the device API)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.methods:
            continue
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
        if path.startswith(("/v3/", "/swagger-ui")):
            continue
        tag = route.endpoint.__module__.rsplit(".", 1)[-1]
        for method in sorted(route.methods - {"HEAD"}):
            operation: dict[str, Any] = {
                "tags": [tag],
                "summary": _summary(route.endpoint),
                "operationId": f"{route.endpoint.__name__}_{method.lower()}",
                "parameters": _parameters(path, QUERY_PARAMS.get(route.endpoint.__name__, [])),
                "responses": {"200": {"description": "OK"}},
            }
            if not path.startswith("/api/noauth") and path not in {"/api/auth/login",
                                                                   "/api/auth/token"}:
                operation["security"] = [{"X-Authorization": []}]
            if method in {"POST", "PUT"}:
                operation["requestBody"] = {"content": {"application/json": {
                    "schema": {"type": "object"}}}}
            paths.setdefault(path, {})[method.lower()] = operation
    for method, path, summary, query in DEVICE_API:
        operation = {
            "tags": ["device-api"], "summary": summary, "parameters": _parameters(path, query),
            "responses": {"200": {"description": "OK"}, "401": {"description": "Unknown token"}},
        }
        if method == "post":
            operation["requestBody"] = {"content": {"application/json": {
                "schema": {"type": "object"}}}}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": "thingport REST API",
                 "description": "ThingsBoard-shaped REST API and HTTP Device API. "
                                "Authorize with 'Bearer <token>' from POST /api/auth/login.",
                 "version": "0.1.0"},
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": {"X-Authorization": {
            "type": "apiKey", "in": "header", "name": "X-Authorization"}}},
    }


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>thingport REST API</title>
<link rel="stylesheet" href="static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "../v3/api-docs", dom_id: "#swagger-ui"});</script>
</body></html>"""


def docs_routes(api_routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """``/v3/api-docs`` (the document) and ``/swagger-ui/`` (the page and its assets)."""
    document = build_document(api_routes)

    async def api_docs(request: Request) -> Response:
        """The OpenAPI document."""
        return JSONResponse(document)

    async def swagger_page(request: Request) -> Response:
        """Interactive API documentation."""
        return HTMLResponse(_PAGE)

    async def swagger_redirect(request: Request) -> Response:
        return RedirectResponse("/swagger-ui/")

    routes: list[BaseRoute] = [
        Route("/v3/api-docs", api_docs, methods=["GET"]),
        Route("/swagger-ui/", swagger_page, methods=["GET"]),
        Route("/swagger-ui", swagger_redirect, methods=["GET"]),
        Route("/swagger-ui.html", swagger_redirect, methods=["GET"]),
    ]
    try:
        from swagger_ui_bundle import swagger_ui_path

        routes.append(Mount("/swagger-ui/static", app=StaticFiles(directory=swagger_ui_path)))
    except ImportError:  # the page then loads without its script; the document still works
        pass
    return routes
