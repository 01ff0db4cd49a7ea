"""The OpenAPI document (made from the route tables and the handlers' declarations) and the
interactive docs page."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from types import CodeType
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from tests.api.conftest import Local
from thingport.api import routes
from thingport.api.openapi import build_document
from thingport.http.operations import PAGE, declared
from thingport.transport.device_api import DeviceApi

#: ThingsBoard's HTTP device API, as its own document names it.
DEVICE_API = [
    ("post", "/api/v1/{deviceToken}/telemetry"),
    ("get", "/api/v1/{deviceToken}/attributes"),
    ("post", "/api/v1/{deviceToken}/attributes"),
    ("get", "/api/v1/{deviceToken}/attributes/updates"),
    ("get", "/api/v1/{deviceToken}/rpc"),
    ("post", "/api/v1/{deviceToken}/rpc"),
    ("post", "/api/v1/{deviceToken}/rpc/{requestId}"),
    ("post", "/api/v1/{deviceToken}/claim"),
    ("get", "/api/v1/{deviceToken}/firmware"),
    ("get", "/api/v1/{deviceToken}/software"),
    ("post", "/api/v1/provision"),
]
PAGE_NAMES = [param.name for param in PAGE]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(routes())


def rest_routes() -> Iterator[tuple[Route, str]]:
    """Every REST route and method but the docs' own."""
    for route in routes():
        if isinstance(route, Route) and route.methods and not route.path.startswith(
                ("/v3/", "/swagger-ui")):
            for method in sorted(route.methods - {"HEAD"}):
                yield route, method.lower()


def path_names(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def parameters(operation: dict[str, Any], where: str) -> list[str]:
    return [p["name"] for p in operation["parameters"] if p["in"] == where]


def reached(handler: Callable[..., Any]) -> tuple[set[str], set[str]]:
    """The names and string constants of the handler's code and of every thingport function
    it calls by name (module functions, and methods of the class a method belongs to)."""
    owner = DeviceApi if handler.__qualname__.startswith("DeviceApi.") else None
    names: set[str] = set()
    strings: set[str] = set()
    seen: set[CodeType] = set()

    def walk(code: CodeType, namespace: dict[str, Any]) -> None:
        if code in seen:
            return
        seen.add(code)
        names.update(code.co_names)
        for const in code.co_consts:
            if isinstance(const, str):
                strings.add(const)
            elif isinstance(const, CodeType):
                walk(const, namespace)
        for name in code.co_names:
            # A name may be a global, or a method's attribute (self.name): both are followed.
            for target in (namespace.get(name), owner.__dict__.get(name) if owner else None):
                if inspect.isfunction(target) and target.__module__.startswith("thingport"):
                    walk(target.__code__, target.__globals__)

    walk(handler.__code__, handler.__globals__)
    return names, strings


def device_handlers() -> Iterator[tuple[str, Callable[..., Any]]]:
    for action, methods in DeviceApi.ROUTES.items():
        for method, handler in methods.items():
            yield f"{method} {action}", handler
    yield "POST provision", DeviceApi.provision


async def test_the_document_is_served(local: Local) -> None:
    response = await local.client.get("/v3/api-docs")
    assert response.status_code == 200
    assert response.json() == build_document(routes())


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate(document)  # raises on the first error


def test_every_rest_route_and_method_is_documented(document: dict[str, Any]) -> None:
    paths = document["paths"]
    documented = 0
    for route, method in rest_routes():
        operation = paths[route.path_format][method]
        assert parameters(operation, "path") == list(route.param_convertors), route.path
        documented += 1
    device = sum(len(ops) for path, ops in paths.items() if path.startswith("/api/v1/"))
    assert documented + device == sum(len(ops) for ops in paths.values())
    # Spot checks of what was there before the document was generated.
    login = paths["/api/auth/login"]["post"]
    assert login["tags"] == ["auth"] and "security" not in login
    assert paths["/api/device/{deviceId}"]["get"]["security"] == [{"X-Authorization": []}]
    assert "security" not in paths["/api/noauth/health"]["get"]
    ttl = paths["/api/plugins/telemetry/{entityType}/{entityId}/timeseries/{scope}/{ttl}"]
    assert ttl["post"]["parameters"][3]["schema"]["type"] == "integer"


def test_every_device_api_route_is_documented(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for method, path in DEVICE_API:
        operation = paths[path][method]
        assert operation["tags"] == ["device-api"]
        assert parameters(operation, "path") == path_names(path)
        assert operation["summary"]
    # Nothing in the route table is left out, and nothing is documented that it lacks.
    in_table = sum(len(methods) for methods in DeviceApi.ROUTES.values()) + 1
    assert in_table == len(DEVICE_API)
    rpc = paths["/api/v1/{deviceToken}/rpc"]["get"]
    assert parameters(rpc, "query") == ["timeout"] and "408" in rpc["responses"]
    firmware = paths["/api/v1/{deviceToken}/firmware"]["get"]["parameters"]
    assert [(p["name"], p["required"]) for p in firmware if p["in"] == "query"] == [
        ("title", True), ("version", True), ("size", False), ("chunk", False)]


def test_paged_handlers_declare_the_paging_parameters(document: dict[str, Any]) -> None:
    paged = 0
    for route, method in rest_routes():
        names, _ = reached(route.endpoint)
        if "page_link" not in names:
            continue
        paged += 1
        params = document["paths"][route.path_format][method]["parameters"]
        query = {p["name"]: p for p in params if p["in"] == "query"}
        assert set(PAGE_NAMES) <= set(query), route.path
        assert query["pageSize"]["required"] and query["page"]["required"]
        assert query["pageSize"]["schema"]["type"] == "integer"
    assert paged >= 15  # every list of the API: the walk above does find them


def test_declared_query_parameters_are_read_by_their_handlers() -> None:
    handlers = [(f"{m} {r.path}", r.endpoint) for r, m in rest_routes()]
    for where, handler in [*handlers, *device_handlers()]:
        names, strings = reached(handler)
        for param in declared(handler).query:
            if param.name in PAGE_NAMES:
                assert "page_link" in names, where
            else:
                assert param.name in strings, f"{where} declares {param.name} but never reads it"


async def test_swagger_ui_is_served_with_its_assets(local: Local) -> None:
    page = await local.client.get("/swagger-ui/")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    script = await local.client.get("/swagger-ui/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    redirected = await local.client.get("/swagger-ui.html", follow_redirects=True)
    assert redirected.status_code == 200


async def test_device_infos_and_connectivity_are_documented(local: Local) -> None:
    paths = (await local.client.get("/v3/api-docs")).json()["paths"]
    for path in ("/api/tenant/deviceInfos", "/api/customer/{customerId}/deviceInfos"):
        params = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {*PAGE_NAMES, "deviceProfileId", "active"} <= params
    params = paths["/api/device-connectivity/{deviceId}"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["deviceId"]
