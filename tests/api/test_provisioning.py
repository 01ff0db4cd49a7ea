"""``POST /api/v1/provision``: each strategy and outcome and the credential types against an
in-process app; against live servers, ThingsBoard's own SDK (its own connections), a chunked
body, and the rate limit on wrong secrets per address (a second source address)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mmh3  # noqa: F401  - must be importable before tb_device_http is
import pytest
from tb_device_http import TBHTTPDevice, TBProvisionFailure

from tests.api_client import Api
from tests.certs import make_ca
from tests.in_process import InProcess, serving
from tests.live import LiveServer
from tests.seed import Seed, app_settings
from thingport.app import create_app

ALLOW = "ALLOW_CREATE_NEW_DEVICES"
CHECK = "CHECK_PRE_PROVISIONED_DEVICES"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, seed: Seed) -> Iterator[InProcess]:
    """An app of this module's own (under ``api`` and ``anonymous``): its wrong secrets must
    not rate-limit other tests'."""
    directory = seed.copy_to(tmp_path_factory.mktemp("provisioning"))
    with serving(create_app(app_settings(directory, provision_max_failures=1000))) as transport:
        yield transport


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server of this module's own, for the same reason."""
    server = LiveServer(tmp_path_factory.mktemp("provisioning-live"),
                        env={"THINGPORT_PROVISION_MAX_FAILURES": "1000"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_token(live: LiveServer) -> str:
    """The live server's tenant administrator's access token: one login (an argon2 check)."""
    token = Api(live.url).login().token
    assert token is not None
    return token


@pytest.fixture
def live_api(live: LiveServer, live_token: str) -> Api:
    """The live server's tenant administrator."""
    logged_in = Api(live.url)
    logged_in.token = live_token
    logged_in.http.headers["X-Authorization"] = f"Bearer {live_token}"
    return logged_in


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_profile(api: Api, strategy: str = ALLOW) -> tuple[dict[str, Any], str, str]:
    """A provisioning profile, with its key and secret."""
    key, secret = unique("key"), unique("secret")
    response = api.http.post("/api/deviceProfile", json={
        "name": unique("profile"), "type": "DEFAULT", "transportType": "DEFAULT",
        "provisionType": strategy, "provisionDeviceKey": key,
        "profileData": {"provisionConfiguration": {"type": strategy,
                                                   "provisionDeviceSecret": secret}},
    })
    assert response.status_code == 200, response.text
    return response.json(), key, secret


def provision(to: str | httpx.Client, body: Any, **kwargs: Any) -> httpx.Response:
    """``POST /api/v1/provision`` to a server's URL, or through a client of it."""
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if isinstance(to, str):
        return httpx.post(f"{to}/api/v1/provision", content=content, timeout=30, **kwargs)
    return to.post("/api/v1/provision", content=content, **kwargs)


def device_named(api: Api, name: str) -> dict[str, Any]:
    response = api.http.get("/api/tenant/devices", params={"deviceName": name})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def credentials_of(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    return api.http.get(f"/api/device/{device['id']['id']}/credentials").json()  # type: ignore[no-any-return]


def server_attributes(api: Api, device: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: a["value"] for a in api.attributes(device["id"]["id"], "SERVER_SCOPE")}


def test_create_new_device_with_a_generated_token(anonymous: httpx.Client, api: Api) -> None:
    profile, key, secret = make_profile(api)
    name = unique("new")
    response = provision(anonymous, {"deviceName": name, "provisionDeviceKey": key,
                                     "provisionDeviceSecret": secret})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["credentialsValue", "credentialsType", "status"]
    assert body["status"] == "SUCCESS" and body["credentialsType"] == "ACCESS_TOKEN"
    token = body["credentialsValue"]
    assert len(token) == 20 and token.isalnum()
    assert response.headers["content-type"] == "application/json"

    device = device_named(api, name)
    assert device["deviceProfileId"] == profile["id"] and device["type"] == profile["name"]
    assert device["additionalInfo"] is None
    assert credentials_of(api, device)["credentialsId"] == token
    assert server_attributes(api, device) == {"provisionState": "provisioned"}
    assert api.post_telemetry(token, {"temperature": 21}).status_code == 200

    # The name is taken now: FAILURE, and nothing changes.
    again = provision(anonymous, {"deviceName": name, "provisionDeviceKey": key,
                                  "provisionDeviceSecret": secret})
    assert again.status_code == 200
    assert again.json() == {"errorMsg": "Failed to provision device!", "status": "FAILURE"}
    assert credentials_of(api, device)["credentialsId"] == token


def test_device_chosen_token_gateway_flag_and_generated_name(
    anonymous: httpx.Client, api: Api
) -> None:
    _, key, secret = make_profile(api)
    name, token = unique("gw"), unique("chosen-token")
    body = provision(anonymous, {"deviceName": f"  {name} ", "provisionDeviceKey": key,
                                 "provisionDeviceSecret": secret, "credentialsType": "ACCESS_TOKEN",
                                 "token": token, "gateway": True}).json()
    assert body == {"credentialsValue": token, "credentialsType": "ACCESS_TOKEN",
                    "status": "SUCCESS"}
    device = device_named(api, name)  # the name was trimmed
    assert device["additionalInfo"] == {"gateway": True}
    assert api.post_telemetry(token, {"up": True}).status_code == 200

    # A token that another device has: FAILURE, and no device is left behind.
    other = unique("other")
    clash = provision(anonymous, {"deviceName": other, "provisionDeviceKey": key,
                                  "provisionDeviceSecret": secret, "token": token}).json()
    assert clash["status"] == "FAILURE"
    assert api.http.get("/api/tenant/devices", params={"deviceName": other}).status_code == 404

    # No name: one of 20 alphanumerics is made up.
    unnamed = provision(anonymous, {"provisionDeviceKey": key, "provisionDeviceSecret": secret})
    assert unnamed.json()["status"] == "SUCCESS"
    # A name that is blank once trimmed is a FAILURE.
    blank = provision(anonymous, {"deviceName": "   ", "provisionDeviceKey": key,
                                  "provisionDeviceSecret": secret})
    assert blank.json()["status"] == "FAILURE"


def test_pre_provisioned_device_gets_its_credentials_once(
    anonymous: httpx.Client, api: Api
) -> None:
    profile, key, secret = make_profile(api, CHECK)
    name = unique("pre")
    created = api.http.post("/api/device", json={"name": name, "deviceProfileId": profile["id"]},
                            params={"accessToken": unique("pre-token")})
    assert created.status_code == 200
    device = created.json()
    token = credentials_of(api, device)["credentialsId"]
    request = {"deviceName": name, "provisionDeviceKey": key, "provisionDeviceSecret": secret}

    first = provision(anonymous, request)
    assert first.json() == {"credentialsValue": token, "credentialsType": "ACCESS_TOKEN",
                            "status": "SUCCESS"}
    assert server_attributes(api, device) == {"provisionState": "provisioned"}
    assert provision(anonymous, request).json() == {"errorMsg": "Failed to provision device!",
                                                    "status": "FAILURE"}
    # An unknown device, or one of another profile, is a FAILURE too (the secret was right).
    assert provision(anonymous, {**request, "deviceName": unique("nobody")}).json()["status"] \
        == "FAILURE"
    elsewhere, _ = api.create_device()
    assert provision(anonymous, {**request, "deviceName": elsewhere["name"]}).json()["status"] \
        == "FAILURE"
    assert provision(anonymous, {**request, "deviceName": ""}).json()["status"] == "FAILURE"


def test_pre_provisioned_credentials_go_out_once_under_concurrency(
    anonymous: httpx.Client, api: Api
) -> None:
    import concurrent.futures

    profile, key, secret = make_profile(api, CHECK)
    name = unique("race")
    api.http.post("/api/device", json={"name": name, "deviceProfileId": profile["id"]})
    request = {"deviceName": name, "provisionDeviceKey": key, "provisionDeviceSecret": secret}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: provision(anonymous, request).json()["status"],
                                 range(8)))
    assert sorted(statuses) == ["FAILURE"] * 7 + ["SUCCESS"]


@pytest.mark.parametrize("wrong", [
    {"provisionDeviceSecret": "wrong-secret"},
    {"provisionDeviceKey": "no-such-key"},
    {"provisionDeviceKey": ""},
    {"provisionDeviceSecret": ""},
])
def test_wrong_key_or_secret_is_not_found(
    anonymous: httpx.Client, api: Api, wrong: dict[str, str]
) -> None:
    _, key, secret = make_profile(api)
    name = unique("nf")
    response = provision(anonymous, {"deviceName": name, "provisionDeviceKey": key,
                                     "provisionDeviceSecret": secret, **wrong})
    assert response.status_code == 200
    assert response.json() == {"errorMsg": "Provision data was not found!",
                               "status": "NOT_FOUND"}
    assert api.http.get("/api/tenant/devices", params={"deviceName": name}).status_code == 404


def test_a_profile_that_does_not_provision_is_not_found(anonymous: httpx.Client, api: Api) -> None:
    profile, key, secret = make_profile(api)
    disabled = dict(profile, provisionType="DISABLED")
    assert api.http.post("/api/deviceProfile", json=disabled).status_code == 200
    body = provision(anonymous, {"deviceName": unique("d"), "provisionDeviceKey": key,
                                 "provisionDeviceSecret": secret}).json()
    assert body["status"] == "NOT_FOUND"


def test_mqtt_basic_credentials(anonymous: httpx.Client, api: Api) -> None:
    _, key, secret = make_profile(api)
    name, client_id, username = unique("mqtt"), unique("client"), unique("user")
    body = provision(anonymous, {
        "deviceName": name, "provisionDeviceKey": key, "provisionDeviceSecret": secret,
        "credentialsType": "MQTT_BASIC", "clientId": client_id, "username": username,
        "password": "p1"}).json()
    assert body == {"credentialsValue": {"clientId": client_id, "userName": username,
                                         "password": "p1"},
                    "credentialsType": "MQTT_BASIC", "status": "SUCCESS"}
    stored = credentials_of(api, device_named(api, name))
    assert stored["credentialsType"] == "MQTT_BASIC"
    # ThingsBoard's id: SHA3-256 of "clientId|userName" (of the user name alone without one).
    assert stored["credentialsId"] == hashlib.sha3_256(
        f"{client_id}|{username}".encode()).hexdigest()
    assert json.loads(stored["credentialsValue"]) == body["credentialsValue"]

    only_user = unique("only-user")
    body = provision(anonymous, {
        "deviceName": unique("mqtt"), "provisionDeviceKey": key,
        "provisionDeviceSecret": secret, "credentialsType": "MQTT_BASIC",
        "username": only_user}).json()
    assert body["credentialsValue"] == {"clientId": "", "userName": only_user, "password": ""}
    # MQTT credentials are no access token: the HTTP device API does not take them.
    assert api.post_telemetry(only_user, {"a": 1}).status_code == 401

    # A client id with a password but no user name is refused, as ThingsBoard does.
    body = provision(anonymous, {
        "deviceName": unique("mqtt"), "provisionDeviceKey": key,
        "provisionDeviceSecret": secret, "credentialsType": "MQTT_BASIC",
        "clientId": "c", "password": "p"}).json()
    assert body["status"] == "FAILURE"


def test_x509_certificate_credentials(anonymous: httpx.Client, api: Api) -> None:
    _, key, secret = make_profile(api)
    pem = make_ca(unique("device")).cert_pem().decode()
    name = unique("x509")
    body = provision(anonymous, {
        "deviceName": name, "provisionDeviceKey": key, "provisionDeviceSecret": secret,
        "credentialsType": "X509_CERTIFICATE", "hash": pem}).json()
    assert body == {"credentialsValue": pem, "credentialsType": "X509_CERTIFICATE",
                    "status": "SUCCESS"}
    stored = credentials_of(api, device_named(api, name))
    assert stored["credentialsType"] == "X509_CERTIFICATE"
    assert stored["credentialsValue"] == pem
    base64_body = "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)
    assert stored["credentialsId"] == hashlib.sha3_256(base64_body.encode()).hexdigest()
    assert api.post_telemetry(stored["credentialsId"], {"a": 1}).status_code == 401


def test_credentials_type_without_credentials_keeps_a_generated_token(
    anonymous: httpx.Client, api: Api
) -> None:
    _, key, secret = make_profile(api)
    body = provision(anonymous, {"deviceName": unique("d"), "provisionDeviceKey": key,
                                 "provisionDeviceSecret": secret,
                                 "credentialsType": "MQTT_BASIC"}).json()
    assert body["status"] == "SUCCESS" and body["credentialsType"] == "ACCESS_TOKEN"


@pytest.mark.parametrize("body", [
    b"", b"{not json", b"[1, 2]", b'"text"',
    b'{"provisionDeviceSecret":"s"}', b'{"provisionDeviceKey":"k"}',
    b'{"provisionDeviceKey":"k","provisionDeviceSecret":"s","credentialsType":"PIGEON"}',
])
def test_malformed_requests_are_400(anonymous: httpx.Client, body: bytes) -> None:
    response = provision(anonymous, body)
    assert response.status_code == 400
    error = response.json()
    assert error["status"] == 400 and error["errorCode"] == 31 and error["message"]


def test_a_provision_request_is_small(live: LiveServer, live_api: Api) -> None:
    """Live: a chunked body (no Content-Length) is cut off on the bytes read."""
    api = live_api
    # 64 KiB, whatever the device API's limit: whoever provisions is not known yet.
    _, key, secret = make_profile(api)
    padded = {"deviceName": unique("big"), "provisionDeviceKey": key,
              "provisionDeviceSecret": secret, "pad": "x" * 70_000}
    response = provision(live.url, padded)
    assert response.status_code == 413 and response.json()["status"] == 413
    chunked = httpx.post(f"{live.url}/api/v1/provision", timeout=30,
                         content=iter([json.dumps(padded).encode()]))
    assert chunked.status_code == 413
    del padded["pad"]
    assert provision(live.url, padded).json()["status"] == "SUCCESS"


def test_lenient_json_is_accepted(anonymous: httpx.Client, api: Api) -> None:
    _, key, secret = make_profile(api)
    body = f"{{deviceName: '{unique('lenient')}', provisionDeviceKey: '{key}', " \
           f"provisionDeviceSecret: '{secret}'}}"
    assert provision(anonymous, body).json()["status"] == "SUCCESS"


def test_path_and_method(anonymous: httpx.Client) -> None:
    wrong_method = anonymous.get("/api/v1/provision")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert anonymous.post("/api/v1/provision/", content=b"{}").status_code == 404
    # "provision" is no token: the device routes below it are not provisioning.
    assert anonymous.post("/api/v1/provision/telemetry",
                          content=b'{"a":1}').status_code == 401


def test_thingsboard_sdk_provisions_and_then_sends(live: LiveServer, live_api: Api) -> None:
    """Live: the SDK makes its own connections (requests)."""
    api = live_api
    _, key, secret = make_profile(api)
    name = unique("sdk")
    device = TBHTTPDevice.provision(live.url, name, key, secret)
    device.send_telemetry({"temperature": 22.5}, queued=False)
    latest = api.latest(device_named(api, name)["id"]["id"], keys="temperature")
    assert latest["temperature"][0]["value"] == "22.5"
    with pytest.raises(TBProvisionFailure):
        TBHTTPDevice.provision(live.url, unique("sdk"), key, "wrong-secret")
    with pytest.raises(TBProvisionFailure):  # the name is taken
        TBHTTPDevice.provision(live.url, name, key, secret)


def test_wrong_secrets_are_rate_limited_per_address(tmp_path: Path) -> None:
    """Live: a second source address (127.0.0.2) takes a socket."""
    limited = LiveServer(tmp_path / "limited", env={
        "THINGPORT_PROVISION_MAX_FAILURES": "3", "THINGPORT_PROVISION_FAILURE_WINDOW": "60",
    }).start()
    try:
        api = Api(limited.url).login()
        _, key, secret = make_profile(api)
        wrong = {"provisionDeviceKey": key, "provisionDeviceSecret": "guess"}
        # FAILURE answers (the secret was right) do not count towards the limit.
        taken, _ = api.create_device()
        for _ in range(3):
            assert provision(limited.url, {"deviceName": taken["name"], "provisionDeviceKey": key,
                                           "provisionDeviceSecret": secret}).status_code == 200
        for _ in range(3):
            response = provision(limited.url, wrong)
            assert response.status_code == 200 and response.json()["status"] == "NOT_FOUND"
        blocked = provision(limited.url, wrong)
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        error = blocked.json()
        assert error["status"] == 429 and error["errorCode"] == 33 and error["message"]
        # Blocked means blocked: even the right secret, from this address.
        right = {"deviceName": unique("d"), "provisionDeviceKey": key,
                 "provisionDeviceSecret": secret}
        assert provision(limited.url, right).status_code == 429
        # Refused before its body is parsed, or even read: this one is no JSON at all.
        assert provision(limited.url, b"{not json" + b" x" * 30_000).status_code == 429
        # Another address is not affected.
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=other, timeout=30) as client:
            response = client.post(f"{limited.url}/api/v1/provision", json=right)
        assert response.status_code == 200 and response.json()["status"] == "SUCCESS"
    finally:
        limited.stop()
