"""A small client for tests: the calls a ThingsBoard user makes, by name."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.live import SYSADMIN, TENANT_ADMIN


class Api:
    """The REST API as a logged-in user, plus the device API by token."""

    def __init__(self, base_url: str, **client_options: Any) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_options = client_options
        self.http = self.anonymous()
        self.token: str | None = None

    @classmethod
    def over(cls, transport: httpx.BaseTransport) -> Api:
        """An Api whose clients all send through ``transport`` (``tests.in_process.InProcess``:
        an in-process app)."""
        return cls("http://testserver", transport=transport)

    def anonymous(self) -> httpx.Client:
        """A new client of the same server, without credentials."""
        return httpx.Client(base_url=self.base_url, timeout=30, **self.client_options)

    def clone(self) -> Api:
        """A new Api of the same server, not logged in."""
        return Api(self.base_url, **self.client_options)

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

    def create_customer_user(self, customer_title: str | None = None,
                             password: str = "customer-pass") -> tuple[str, Api]:
        """A new customer with an activated user; its id and the user logged in."""
        title = customer_title or f"customer-{uuid.uuid4().hex[:8]}"
        customer = self.http.post("/api/customer", json={"title": title})
        customer.raise_for_status()
        customer_id = customer.json()["id"]["id"]
        email = f"user-{uuid.uuid4().hex[:8]}@customer.example"
        user = self.http.post("/api/user", params={"sendActivationMail": "false"}, json={
            "email": email, "authority": "CUSTOMER_USER",
            "customerId": {"entityType": "CUSTOMER", "id": customer_id}})
        user.raise_for_status()
        link = self.http.get(f"/api/user/{user.json()['id']['id']}/activationLink")
        link.raise_for_status()
        activated = self.http.post("/api/noauth/activate", json={
            "activateToken": link.text.split("activateToken=")[1], "password": password})
        activated.raise_for_status()
        return customer_id, self.clone().login(email, password)

    def save_shared(self, device_id: str, values: dict[str, Any]) -> None:
        response = self.http.post(
            f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", json=values)
        response.raise_for_status()

    # -- OTA packages --------------------------------------------------------------------------
    def create_ota_package(self, profile_id: str, title: str | None = None,
                           version: str = "1.0", type: str = "FIRMWARE",
                           **fields: Any) -> dict[str, Any]:
        """A new package's info (no bytes yet unless ``url`` is among ``fields``)."""
        response = self.http.post("/api/otaPackage", json={
            "title": title or f"fw-{uuid.uuid4().hex[:8]}", "version": version, "type": type,
            "deviceProfileId": {"entityType": "DEVICE_PROFILE", "id": profile_id}, **fields})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def upload_ota(self, package_id: str, data: Any, algorithm: str = "SHA256",
                   checksum: str | None = None, file_name: str = "firmware.bin",
                   content_type: str = "application/octet-stream") -> httpx.Response:
        """``POST /api/otaPackage/{id}`` with ``data`` (bytes or an open file) as ``file``."""
        params = {"checksumAlgorithm": algorithm}
        if checksum is not None:
            params["checksum"] = checksum
        return self.http.post(f"/api/otaPackage/{package_id}", params=params,
                              files={"file": (file_name, data, content_type)}, timeout=300)

    def assign_ota(self, device: dict[str, Any], firmware_id: str | None = None,
                   software_id: str | None = None) -> dict[str, Any]:
        """Save ``device`` with these packages of its own (None: its profile's)."""
        body = {**device,
                "firmwareId": {"entityType": "OTA_PACKAGE", "id": firmware_id}
                if firmware_id else None,
                "softwareId": {"entityType": "OTA_PACKAGE", "id": software_id}
                if software_id else None}
        response = self.http.post("/api/device", json=body)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    # -- device API ----------------------------------------------------------------------------
    def device_get(self, token: str, action: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("timeout", 30)
        with self.anonymous() as device:
            return device.get(f"/api/v1/{token}/{action}", **kwargs)

    def device_post(self, token: str, action: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self._device_post(token, action, body, **kwargs)

    def post_telemetry(self, token: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self._device_post(token, "telemetry", body, **kwargs)

    def post_attributes(self, token: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self._device_post(token, "attributes", body, **kwargs)

    def _device_post(self, token: str, action: str, body: Any, **kwargs: Any) -> httpx.Response:
        content = body if isinstance(body, (bytes, str)) else None
        json_body = None if content is not None else body
        kwargs.setdefault("timeout", 30)
        with self.anonymous() as device:
            return device.post(f"/api/v1/{token}/{action}", content=content, json=json_body,
                               **kwargs)


def other_tenant_admin(server: str | Api, password: str = "other-pass") -> Api:
    """The administrator of a new tenant of ``server`` (a URL, or an Api of it), logged in."""
    sysadmin = (server.clone() if isinstance(server, Api) else Api(server)).login(*SYSADMIN)
    tenant = sysadmin.http.post("/api/tenant", json={"title": f"Tenant {uuid.uuid4().hex[:8]}"})
    tenant.raise_for_status()
    email = f"admin-{uuid.uuid4().hex[:8]}@other.example"
    user = sysadmin.http.post("/api/user", params={"sendActivationMail": "false"}, json={
        "email": email, "authority": "TENANT_ADMIN", "tenantId": tenant.json()["id"]})
    user.raise_for_status()
    link = sysadmin.http.get(f"/api/user/{user.json()['id']['id']}/activationLink")
    activated = sysadmin.http.post("/api/noauth/activate", json={
        "activateToken": link.text.split("activateToken=")[1], "password": password})
    activated.raise_for_status()
    return sysadmin.clone().login(email, password)
