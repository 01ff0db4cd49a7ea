"""The tenant REST API, in ThingsBoard's shapes, against an in-process app."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.api_client import Api
from tests.in_process import serving
from tests.live import SYSADMIN, TENANT_ADMIN
from tests.seed import app_settings
from thingport.app import create_app


def test_login_returns_thingsboard_jwts(anonymous: httpx.Client) -> None:
    response = anonymous.post("/api/auth/login",
                          json={"username": TENANT_ADMIN[0], "password": TENANT_ADMIN[1]})
    assert response.status_code == 200
    pair = response.json()
    claims = jwt.decode(pair["token"], options={"verify_signature": False})
    assert claims["sub"] == TENANT_ADMIN[0]
    assert claims["scopes"] == ["TENANT_ADMIN"]
    assert {"iat", "exp", "userId", "tenantId", "customerId"} <= set(claims)
    assert jwt.get_unverified_header(pair["token"])["alg"] == "HS256"
    refreshed = anonymous.post("/api/auth/token",
                           json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"token", "refreshToken"}


@pytest.mark.parametrize("body", [{"username": TENANT_ADMIN[0], "password": "wrong"},
                                  {"username": "nobody@example.com", "password": "x"}])
def test_bad_login_is_401_with_thingsboard_error(anonymous: httpx.Client,
                                                 body: dict[str, str]) -> None:
    response = anonymous.post("/api/auth/login", json=body)
    assert response.status_code == 401
    error = response.json()
    assert error["message"] == "Invalid username or password"
    assert error["errorCode"] == 10
    assert error["status"] == 401 and isinstance(error["timestamp"], int)


def test_token_in_either_header_and_bad_tokens(anonymous: httpx.Client, api: Api) -> None:
    me = anonymous.get("/api/auth/user", headers={"Authorization": f"Bearer {api.token}"})
    assert me.status_code == 200
    assert me.json()["authority"] == "TENANT_ADMIN"
    assert anonymous.get("/api/auth/user").status_code == 401
    claims = {"userId": str(uuid.uuid4()), "scopes": ["TENANT_ADMIN"], "iat": 1, "exp": 2**40}
    forged = jwt.encode(claims, "not-the-key-but-long-enough-for-hs256", algorithm="HS256")
    assert anonymous.get("/api/auth/user",
                         headers={"X-Authorization": f"Bearer {forged}"}).status_code == 401


def test_device_lifecycle(api: Api) -> None:
    device, token = api.create_device("thermostat-lifecycle", accessToken="my-own-token-1")
    assert token == "my-own-token-1"
    assert device["id"]["entityType"] == "DEVICE"
    assert device["name"] == "thermostat-lifecycle"
    assert device["type"] == "default"
    device_id = device["id"]["id"]
    assert api.http.get(f"/api/device/{device_id}").json()["name"] == "thermostat-lifecycle"
    by_name = api.http.get("/api/tenant/devices", params={"deviceName": "thermostat-lifecycle"})
    assert by_name.json()["id"]["id"] == device_id
    assert api.http.get("/api/tenant/device",
                        params={"deviceName": "thermostat-lifecycle"}).status_code == 200

    device["label"] = "kitchen"
    updated = api.http.post("/api/device", json=device)
    assert updated.status_code == 200 and updated.json()["label"] == "kitchen"

    credentials = api.http.get(f"/api/device/{device_id}/credentials").json()
    credentials["credentialsId"] = "rotated-token-1"
    assert api.http.post("/api/device/credentials", json=credentials).status_code == 200
    assert api.post_telemetry("my-own-token-1", {"a": 1}).status_code == 401
    assert api.post_telemetry("rotated-token-1", {"a": 1}).status_code == 200

    assert api.http.delete(f"/api/device/{device_id}").status_code == 200
    assert api.http.get(f"/api/device/{device_id}").status_code == 404
    assert api.post_telemetry("rotated-token-1", {"a": 1}).status_code == 401


def test_generated_tokens_are_20_alphanumerics(api: Api) -> None:
    _, token = api.create_device()
    assert len(token) == 20 and token.isalnum()


def test_duplicate_name_or_token_is_400_and_changes_nothing(api: Api) -> None:
    device, token = api.create_device()
    again = api.http.post("/api/device", json={"name": device["name"]})
    assert again.status_code == 400
    assert again.json()["errorCode"] == 31
    clash = api.http.post("/api/device", json={"name": f"other-{uuid.uuid4().hex}"},
                          params={"accessToken": token})
    assert clash.status_code == 400
    assert api.post_telemetry(token, {"still": 1}).status_code == 200


def test_device_with_credentials(api: Api) -> None:
    name = f"dwc-{uuid.uuid4().hex[:8]}"
    response = api.http.post("/api/device-with-credentials", json={
        "device": {"name": name, "type": "sensor"},
        "credentials": {"credentialsType": "ACCESS_TOKEN", "credentialsId": f"tok-{name}"},
    })
    assert response.status_code == 200
    assert response.json()["type"] == "sensor"
    assert api.post_telemetry(f"tok-{name}", {"v": 1}).status_code == 200


def test_paging_search_and_sort(api: Api) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    for i in range(5):
        api.create_device(f"{prefix}-{i}")
    first = api.http.get("/api/tenant/devices", params={
        "pageSize": 2, "page": 0, "textSearch": prefix, "sortProperty": "name",
        "sortOrder": "DESC"}).json()
    assert first["totalElements"] == 5 and first["totalPages"] == 3 and first["hasNext"]
    assert [d["name"] for d in first["data"]] == [f"{prefix}-4", f"{prefix}-3"]
    last = api.http.get("/api/tenant/devices", params={
        "pageSize": 2, "page": 2, "textSearch": prefix, "sortProperty": "name"}).json()
    assert [d["name"] for d in last["data"]] == [f"{prefix}-4"] and not last["hasNext"]
    assert api.http.get("/api/tenant/devices").status_code == 400


def test_default_device_profile(api: Api) -> None:
    response = api.http.get("/api/deviceProfileInfo/default")
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["name"] == "default"
    assert info["id"]["entityType"] == "DEVICE_PROFILE"


def test_tenant_isolation(anonymous: httpx.Client, api: Api) -> None:
    device, token = api.create_device()
    sysadmin = api.clone().login(*SYSADMIN)
    tenant = sysadmin.http.post("/api/tenant", json={"title": f"Other {uuid.uuid4().hex[:6]}"})
    assert tenant.status_code == 200
    email = f"admin-{uuid.uuid4().hex[:6]}@other.example"
    created = sysadmin.http.post("/api/user", params={"sendActivationMail": "false"}, json={
        "email": email, "authority": "TENANT_ADMIN", "tenantId": tenant.json()["id"]})
    assert created.status_code == 200
    link = sysadmin.http.get(f"/api/user/{created.json()['id']['id']}/activationLink")
    assert link.status_code == 200
    activate_token = link.text.split("activateToken=")[1]
    activated = anonymous.post("/api/noauth/activate",
                           json={"activateToken": activate_token, "password": "secret-pass"})
    assert activated.status_code == 200 and "token" in activated.json()
    other = api.clone().login(email, "secret-pass")
    device_id = device["id"]["id"]
    assert other.http.get(f"/api/device/{device_id}").status_code == 404
    assert other.http.delete(f"/api/device/{device_id}").status_code == 404
    assert other.http.get(
        f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries").status_code == 404
    listed = other.http.get("/api/tenant/devices", params={"pageSize": 100, "page": 0}).json()
    assert device_id not in {d["id"]["id"] for d in listed["data"]}
    assert api.post_telemetry(token, {"ok": 1}).status_code == 200
    # A tenant administrator cannot manage tenants.
    assert other.http.post("/api/tenant", json={"title": "nope"}).status_code == 403


def test_history_aggregation_and_limits(api: Api) -> None:
    device, token = api.create_device()
    device_id = device["id"]["id"]
    base = 1_700_000_000_000
    api.post_telemetry(token, [{"ts": base + i * 1000, "values": {"v": i}} for i in range(10)])
    path = f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries"
    raw = api.http.get(path, params={"keys": "v", "startTs": base, "endTs": base + 10_000,
                                     "limit": 3, "orderBy": "ASC"}).json()
    assert [p["value"] for p in raw["v"]] == ["0", "1", "2"]
    avg = api.http.get(path, params={"keys": "v", "startTs": base, "endTs": base + 10_000,
                                     "interval": 5000, "agg": "AVG", "orderBy": "ASC",
                                     "useStrictDataTypes": "true"}).json()
    assert avg["v"] == [{"ts": base + 2500, "value": 2.0}, {"ts": base + 7500, "value": 7.0}]
    total = api.http.get(path, params={"keys": "v", "startTs": base, "endTs": base + 10_000,
                                       "interval": 10_000, "agg": "SUM",
                                       "useStrictDataTypes": "true"}).json()
    assert total["v"] == [{"ts": base + 5000, "value": 45}]
    too_many = api.http.get(path, params={"keys": "v", "startTs": 0, "endTs": base,
                                          "interval": 1000, "agg": "MAX"})
    assert too_many.status_code == 400
    keys = api.http.get(f"/api/plugins/telemetry/DEVICE/{device_id}/keys/timeseries").json()
    assert keys == ["v"]
    missing = api.latest(device_id, keys="v,nothing")
    assert missing["nothing"][0]["value"] is None


def test_save_and_delete_telemetry_over_rest(api: Api) -> None:
    device, _ = api.create_device()
    device_id = device["id"]["id"]
    prefix = f"/api/plugins/telemetry/DEVICE/{device_id}"
    saved = api.http.post(f"{prefix}/timeseries/ANY", content=b'{"ts":1000,"values":{"x":1}}',
                          headers={"Content-Type": "text/plain"})
    assert saved.status_code == 200
    api.http.post(f"{prefix}/timeseries/ANY", json={"ts": 2000, "values": {"x": 2}})
    assert api.latest(device_id)["x"][0]["value"] == "2"
    deleted = api.http.delete(f"{prefix}/timeseries/delete",
                              params={"keys": "x", "startTs": 1500, "endTs": 2500})
    assert deleted.status_code == 200
    assert api.latest(device_id)["x"] == [{"ts": 1000, "value": "1"}]
    api.http.delete(f"{prefix}/timeseries/delete",
                    params={"keys": "x", "deleteAllDataForKeys": "true"})
    assert api.latest(device_id) == {}
    assert api.http.post(f"{prefix}/timeseries/ANY", content=b"{oops").status_code == 400


def test_attribute_scopes_over_rest(api: Api) -> None:
    device, _ = api.create_device()
    device_id = device["id"]["id"]
    prefix = f"/api/plugins/telemetry/DEVICE/{device_id}"
    assert api.http.post(f"{prefix}/attributes/SERVER_SCOPE", json={"srv": 1}).status_code == 200
    assert api.http.post(f"{prefix}/SHARED_SCOPE", json={"sh": "a"}).status_code == 200
    assert api.http.post(f"/api/plugins/telemetry/{device_id}/SHARED_SCOPE",
                         json={"sh2": {"nested": [1]}}).status_code == 200
    server_attrs = api.attributes(device_id, "SERVER_SCOPE")
    assert [(a["key"], a["value"]) for a in server_attrs] == [("srv", 1)]
    assert isinstance(server_attrs[0]["lastUpdateTs"], int)
    every = {a["key"]: a["value"] for a in api.attributes(device_id)}
    assert every == {"srv": 1, "sh": "a", "sh2": {"nested": [1]}}
    assert sorted(api.http.get(f"{prefix}/keys/attributes/SHARED_SCOPE").json()) == ["sh", "sh2"]
    assert api.http.delete(f"{prefix}/SHARED_SCOPE", params={"keys": "sh"}).status_code == 200
    assert [a["key"] for a in api.attributes(device_id, "SHARED_SCOPE")] == ["sh2"]

    for bad_body, message in [(b"{oops", "parse"), (b"[1]", "not a JSON object"),
                              (b"{}", "No attributes data"), (b'{"a":null}', "null")]:
        response = api.http.post(f"{prefix}/attributes/SERVER_SCOPE", content=bad_body)
        assert response.status_code == 400, bad_body
        assert message.lower() in response.json()["message"].lower()
    client = api.http.post(f"{prefix}/attributes/CLIENT_SCOPE", json={"a": 1})
    assert client.status_code == 400
    assert client.json()["message"] == "Invalid scope: CLIENT_SCOPE"
    assert [a["key"] for a in api.attributes(device_id, "SERVER_SCOPE")] == ["srv"]


def test_unknown_rest_path_and_method(api: Api) -> None:
    assert api.http.get("/api/nothing/here").status_code == 404
    assert api.http.get("/api/nothing/here").json()["errorCode"] == 32
    wrong = api.http.put("/api/device", json={})
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["allow"]


def test_bodies_nested_deeper_than_responses_can_hold_are_400(api: Api) -> None:
    # Found by tests/fuzz: such a body was stored (or failed to be) and answered 500.
    deep = "[" * 300 + "]" * 300
    for path, body in [
        ("/api/device", '{"name":"deep-device","additionalInfo":{"a":' + deep + "}}"),
        ("/api/deviceProfile", '{"name":"deep-profile","profileData":{"a":' + deep + "}}"),
        ("/api/customer", '{"title":"deep-customer","additionalInfo":{"a":' + deep + "}}"),
    ]:
        response = api.http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert "nesting is deeper than" in response.json()["message"]
    # A body nested as deep as real ones stays fine.
    info = {"a": [[[[{"b": [1]}]]]]}
    saved = api.http.post("/api/device", json={"name": f"nested-{uuid.uuid4().hex[:6]}",
                                                "additionalInfo": info})
    assert saved.status_code == 200 and saved.json()["additionalInfo"] == info


@pytest.fixture
def first_start(tmp_path: Path) -> Iterator[Api]:
    """The tenant administrator of an app of the test's own, started on an empty store."""
    with serving(create_app(app_settings(tmp_path / "data"))) as transport:
        yield Api.over(transport).login()


def test_concurrent_first_devices_of_a_tenant_all_succeed(first_start: Api) -> None:
    """The first devices of a new tenant race to create its default profile: none may fail."""
    api = first_start
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(
            lambda n: api.http.post("/api/device", json={"name": f"racer-{n}",
                                                         "type": "sensor" if n % 2 else None}),
            range(32),
        ))
    assert [r.status_code for r in results] == [200] * 32
    profiles = {r.json()["type"] for r in results}
    assert profiles == {"default", "sensor"}


def test_tenant_admin_listing_pages_over_admins_only(api: Api) -> None:
    """Customer users of the tenant neither appear nor count in the pages."""
    api.create_customer_user()
    api.create_customer_user()
    sysadmin = api.clone().login(*SYSADMIN)
    me = api.http.get("/api/auth/user").json()
    tenant_id = me["tenantId"]["id"]
    page = sysadmin.http.get(f"/api/tenant/{tenant_id}/users",
                             params={"pageSize": 1, "page": 0}).json()
    assert {u["authority"] for u in page["data"]} == {"TENANT_ADMIN"}
    admins = sysadmin.http.get(f"/api/tenant/{tenant_id}/users",
                               params={"pageSize": 100, "page": 0}).json()
    assert admins["totalElements"] == len(admins["data"])
    assert all(u["authority"] == "TENANT_ADMIN" for u in admins["data"])
