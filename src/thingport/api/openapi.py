"""The OpenAPI document of the REST and device APIs, built from their route tables and what
each handler declares next to itself (``thingport.http.operations``), and Swagger UI to try
them (served from the package, so it works without internet).

Paths follow ThingsBoard's: ``/v3/api-docs`` and ``/swagger-ui/``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from starlette.convertors import Convertor, FloatConvertor, IntegerConvertor, UUIDConvertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from thingport.api.common import JSONResponse
from thingport.http.operations import JSON_OBJECT, Body, Operation, declared

# The document covers the device API too: its route table and declarations are read here.
from thingport.transport.device_api import PREFIX, PROVISION_PATH, DeviceApi

#: The device API's paths with ThingsBoard's parameter names (its route table keeps its own:
#: they are the labels of its metrics).
DEVICE_PATH = PREFIX + "{deviceToken}/"
DEVICE_PARAMETER_NAMES = {"id": "requestId"}
DEVICE_TAG = "device-api"
#: Paths whose operations need no X-Authorization beyond those declared ``public``: by
#: ThingsBoard's convention, everything under /api/noauth/.
PUBLIC_PREFIX = "/api/noauth/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _summary(handler: Callable[..., Any], declaration: Operation) -> str:
    if declaration.summary:
        return declaration.summary
    doc = inspect.getdoc(handler) or handler.__name__.replace("_", " ").capitalize()
    return doc.split("\n\n")[0].replace("\n", " ")


def _path_schema(convertor: Convertor[Any] | None) -> dict[str, Any]:
    if isinstance(convertor, IntegerConvertor):
        return {"type": "integer", "minimum": 0}
    if isinstance(convertor, FloatConvertor):
        return {"type": "number", "minimum": 0}
    if isinstance(convertor, UUIDConvertor):
        return {"type": "string", "format": "uuid"}
    return {"type": "string"}


def _operation(handler: Callable[..., Any], method: str, tag: str, operation_id: str,
               path_params: Mapping[str, Convertor[Any] | None]) -> dict[str, Any]:
    """One operation: its path parameters from the route, the rest from the declaration."""
    declaration = declared(handler)
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(convertor)}
        for name, convertor in path_params.items()
    ]
    for param in declaration.query:
        parameters.append({"name": param.name, "in": "query", "required": param.required,
                           "schema": param.schema(),
                           **({"description": param.description} if param.description else {})})
    responses = {"200": "OK", **{str(status): text
                                 for status, text in sorted(declaration.responses.items())}}
    operation: dict[str, Any] = {
        "tags": [tag],
        "summary": _summary(handler, declaration),
        "operationId": operation_id,
        "parameters": parameters,
        "responses": {status: {"description": text} for status, text in responses.items()},
    }
    body: Body | None = declaration.body or (JSON_OBJECT if method in BODY_METHODS else None)
    if body is not None and body.media_type:
        operation["requestBody"] = {
            "required": body.required,
            "content": {body.media_type: {"schema": dict(body.schema)}},
            **({"description": body.description} if body.description else {}),
        }
    return operation


def rest_operations(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every method of every REST route."""
    taken: set[str] = set()
    for route in routes:
        if not isinstance(route, Route) or not route.methods:
            continue
        handler = route.endpoint
        tag = handler.__module__.rsplit(".", 1)[-1]
        public = declared(handler).public or route.path_format.startswith(PUBLIC_PREFIX)
        for method in sorted(route.methods - {"HEAD"}):
            # A handler behind several routes (or methods) gets one id for each.
            base = operation_id = f"{handler.__name__}_{method.lower()}"
            number = 1
            while operation_id in taken:
                number += 1
                operation_id = f"{base}_{number}"
            taken.add(operation_id)
            operation = _operation(handler, method, tag, operation_id, route.param_convertors)
            if not public:
                operation["security"] = [{"X-Authorization": []}]
                operation["responses"].setdefault(
                    "401", {"description": "No valid token in X-Authorization"})
            yield route.path_format, method, operation


def device_operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every route of the device API and provisioning."""
    for action, methods in DeviceApi.ROUTES.items():
        path = DEVICE_PATH + action
        for name, documented in DEVICE_PARAMETER_NAMES.items():
            path = path.replace("{" + name + "}", "{" + documented + "}")
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        for method, handler in sorted(methods.items()):
            operation = _operation(handler, method, DEVICE_TAG, f"device_{handler.__name__}",
                                   dict.fromkeys(names))
            operation["responses"].setdefault("401", {"description": "Unknown token"})
            yield path, method, operation
    yield PROVISION_PATH, "POST", _operation(
        DeviceApi.provision, "POST", DEVICE_TAG, "device_provision", {})


def build_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """OpenAPI 3.0 for every REST route given (the docs' own excepted) and the device API."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation in (*rest_operations(routes), *device_operations()):
        if path.startswith(("/v3/", "/swagger-ui")):
            continue
        paths.setdefault(path, {})[method.lower()] = operation
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
