"""Real entities on the fuzzed server, so that generated requests reach past "not found":
path parameters are sometimes replaced by the id of something that exists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.api_client import Api


@dataclass
class Entities:
    """What was made, by the name of the path parameter it fills."""

    by_parameter: dict[str, list[str]]
    device_token: str
    #: Provisioning key and secret of a profile that lets devices provision themselves.
    provision_key: str
    provision_secret: str
    #: Title and version of the firmware assigned to the device (its bytes uploaded).
    firmware: tuple[str, str]


def make(api: Api) -> Entities:
    """A device (with firmware assigned), a customer with a user, a provisioning profile and
    a persistent RPC, made by the tenant administrator ``api``."""
    device, token = api.create_device()
    device_id = device["id"]["id"]
    customer_id, customer_api = api.create_customer_user()
    user_id = customer_api.http.get("/api/auth/user").json()["id"]["id"]
    tenant_id = device["tenantId"]["id"]
    key, secret = f"key-{uuid.uuid4().hex[:8]}", f"secret-{uuid.uuid4().hex[:8]}"
    profile = _ok(api.http.post("/api/deviceProfile", json={
        "name": f"profile-{uuid.uuid4().hex[:8]}", "type": "DEFAULT", "transportType": "DEFAULT",
        "provisionType": "ALLOW_CREATE_NEW_DEVICES", "provisionDeviceKey": key,
        "profileData": {"provisionConfiguration": {"type": "ALLOW_CREATE_NEW_DEVICES",
                                                   "provisionDeviceSecret": secret}},
    }))
    profile_id = device["deviceProfileId"]["id"]
    package = api.create_ota_package(profile_id, title="fuzz-fw", version="1.0")
    _ok(api.upload_ota(package["id"]["id"], b"\x00firmware\xff" * 100))
    api.assign_ota(api.http.get(f"/api/device/{device_id}").json(),
                   firmware_id=package["id"]["id"])
    rpc = _ok(api.http.post(f"/api/rpc/oneway/{device_id}", json={
        "method": "reboot", "params": {}, "persistent": True}))
    unknown = str(uuid.uuid4())
    return Entities(
        by_parameter={
            "deviceId": [device_id, unknown],
            "entityId": [device_id, customer_id, tenant_id, unknown],
            "entityType": ["DEVICE", "CUSTOMER", "TENANT", "DEVICE_PROFILE", "ASSET", "USER"],
            "customerId": [customer_id, unknown],
            "tenantId": [tenant_id, unknown],
            "userId": [user_id, unknown],
            "deviceProfileId": [profile_id, profile["id"]["id"], unknown],
            "otaPackageId": [package["id"]["id"], unknown],
            "rpcId": [rpc["rpcId"], unknown],
            "requestId": [unknown],
            "deviceName": [device["name"], "no-such-device"],
            "deviceToken": [token, "no-such-token"],
            "scope": ["CLIENT_SCOPE", "SERVER_SCOPE", "SHARED_SCOPE", "ANY", "timeseries",
                      "attributes"],
            "kind": ["oneway", "twoway"],
            "type": ["FIRMWARE", "SOFTWARE"],
            "ttl": ["0", "60", "-1", "99999999999999999999"],
        },
        device_token=token, provision_key=key, provision_secret=secret,
        firmware=("fuzz-fw", "1.0"),
    )


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()
