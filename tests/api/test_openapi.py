"""The OpenAPI document and the interactive docs page."""

import httpx

from tests.api.conftest import Local
from tests.live import LiveServer


def test_openapi_document_lists_the_rest_and_device_apis(server: LiveServer) -> None:
    document = httpx.get(f"{server.url}/v3/api-docs").json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert "post" in paths["/api/auth/login"]
    assert {"get", "delete"} <= set(paths["/api/device/{deviceId}"])
    assert "post" in paths["/api/v1/{deviceToken}/telemetry"]
    params = {p["name"] for p in paths["/api/tenant/devices"]["get"]["parameters"]}
    assert {"pageSize", "page", "textSearch"} <= params


def test_swagger_ui_is_served_with_its_assets(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/swagger-ui/")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    script = httpx.get(f"{server.url}/swagger-ui/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert httpx.get(f"{server.url}/swagger-ui.html", follow_redirects=True).status_code == 200


async def test_device_infos_and_connectivity_are_documented(local: Local) -> None:
    paths = (await local.client.get("/v3/api-docs")).json()["paths"]
    for path in ("/api/tenant/deviceInfos", "/api/customer/{customerId}/deviceInfos"):
        params = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {"pageSize", "page", "textSearch", "sortProperty", "sortOrder",
                "deviceProfileId", "active"} <= params
    params = paths["/api/device-connectivity/{deviceId}"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["deviceId"]
