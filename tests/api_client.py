"""A small client for tests: the calls a ThingsBoard user makes, by name."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.live import TENANT_ADMIN


class Api:
    """The REST API as a logged-in user, plus the device API by token."""

    def __init__(self, base_url: str, **client_options: Any) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_options = client_options
        self.http = httpx.Client(base_url=self.base_url, timeout=30, **client_options)
        self.token: str | None = None

    def login(self, username: str = TENANT_ADMIN[0], password: str = TENANT_ADMIN[1]) -> Api:
        response = self.http.post("/api/auth/login",
                                  json={"username": username, "password": password})
        response.raise_for_status()
        self.token = response.json()["token"]
        self.http.headers["X-Authorization"] = f"Bearer {self.token}"
        return self

    def create_device(self, name: str | None = None, **params: Any) -> tuple[dict[str, Any], str]:
        """A new device and its access token."""
        name = name or f"device-{uuid.uuid4().hex[:10]}"
        response = self.http.post("/api/device", json={"name": name, "type": "default"},
                                  params=params)
        response.raise_for_status()
        device = response.json()
        credentials = self.http.get(f"/api/device/{device['id']['id']}/credentials")
        credentials.raise_for_status()
        return device, credentials.json()["credentialsId"]

    def latest(self, device_id: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(
            f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries", params=params
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def attributes(self, device_id: str, scope: str | None = None, **params: Any) -> list[Any]:
        path = f"/api/plugins/telemetry/DEVICE/{device_id}/values/attributes"
        response = self.http.get(path + (f"/{scope}" if scope else ""), params=params)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    # -- device API ----------------------------------------------------------------------------
    def post_telemetry(self, token: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self._device_post(token, "telemetry", body, **kwargs)

    def post_attributes(self, token: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self._device_post(token, "attributes", body, **kwargs)

    def _device_post(self, token: str, action: str, body: Any, **kwargs: Any) -> httpx.Response:
        content = body if isinstance(body, (bytes, str)) else None
        json_body = None if content is not None else body
        return httpx.post(f"{self.base_url}/api/v1/{token}/{action}", content=content,
                          json=json_body, timeout=30, **self.client_options, **kwargs)
