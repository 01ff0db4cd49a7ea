"""``/api/device-connectivity/{deviceId}``: the curl command of ThingsBoard's "Check
connectivity" dialog, built for the address the caller used, in process. (tests/e2e runs the
command against a live server.)"""

from __future__ import annotations

import shlex

import pytest

from tests.api.conftest import Local
from thingport.api.connectivity import publish_command

TAIL = "--header Content-Type:application/json --data \"{temperature:25}\""


async def commands(local: Local, device_id: str, **kwargs: object) -> dict[str, object]:
    response = await local.client.get(f"/api/device-connectivity/{device_id}", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_the_http_command_is_thingsboards(local: Local) -> None:
    device, token = await local.create_device()
    assert await commands(local, device["id"]["id"]) == {"http": {
        "http": f"curl -v -X POST http://testserver/api/v1/{token}/telemetry {TAIL}"}}


@pytest.mark.parametrize(("host", "shown"), [
    ("iot.example.com:8080", "http://iot.example.com:8080"),
    ("iot.example.com:80", "http://iot.example.com"),
    ("10.0.0.7", "http://10.0.0.7"),
    ("[::1]:8080", "'http://[::1]:8080"),  # quoted: brackets are shell patterns
])
async def test_the_host_is_the_one_the_client_used(local: Local, host: str, shown: str) -> None:
    device, token = await local.create_device()
    body = await commands(local, device["id"]["id"], headers={"Host": host})
    # ...and curl's URL patterns too, unless told otherwise.
    globoff, end = (" -g", "'") if host.startswith("[") else ("", "")
    assert body == {"http": {
        "http": f"curl -v{globoff} -X POST {shown}/api/v1/{token}/telemetry{end} {TAIL}"}}


@pytest.mark.parametrize(("host", "shown"), [
    ("iot.example.com:443", "https://iot.example.com"),
    ("iot.example.com:8443", "https://iot.example.com:8443"),
])
async def test_over_https_the_command_is_https(local: Local, host: str, shown: str) -> None:
    device, token = await local.create_device()
    # As a TLS listener (or a trusted proxy's X-Forwarded-Proto, through uvicorn) sets it.
    client = await local.login("tenant@thingsboard.org", "tenant-pass",
                               base_url="https://testserver")
    response = await client.get(f"/api/device-connectivity/{device['id']['id']}",
                                headers={"Host": host})
    assert response.json() == {"http": {
        "https": f"curl -v -X POST {shown}/api/v1/{token}/telemetry {TAIL}"}}


@pytest.mark.parametrize("host", ["evil.example;touch /tmp/x", "a b", "h:99999x", "$(id)"])
async def test_a_host_header_that_is_no_host_is_400(local: Local, host: str) -> None:
    device, _ = await local.create_device()
    response = await local.client.get(f"/api/device-connectivity/{device['id']['id']}",
                                      headers={"Host": host})
    assert response.status_code == 400 and response.json()["message"] == "Invalid Host header"


async def test_the_token_is_escaped_for_the_shell_and_the_url(local: Local) -> None:
    token = "it's $HOME & {a,b} \"q\" `x` ~?#"
    device, stored = await local.create_device(accessToken=token)
    assert stored == token
    command = (await commands(local, device["id"]["id"]))["http"]["http"]  # type: ignore[index]
    words = shlex.split(command)
    assert words[:4] == ["curl", "-v", "-X", "POST"]
    assert words[4] == ("http://testserver/api/v1/it%27s%20%24HOME%20%26%20%7Ba%2Cb%7D%20"
                        "%22q%22%20%60x%60%20~%3F%23/telemetry")
    assert words[5:] == ["--header", "Content-Type:application/json", "--data",
                         "{temperature:25}"]
    # The URL, percent-decoded by the server, names the device.
    sent = await local.client.post(words[4].removeprefix("http://testserver"),
                                   content=b"{temperature:25}")
    assert sent.status_code == 200


def test_a_plain_token_needs_no_quoting() -> None:
    assert publish_command("http", "h:1", "AbC123") == (
        f"curl -v -X POST http://h:1/api/v1/AbC123/telemetry {TAIL}")


async def test_devices_without_an_access_token_get_no_command(local: Local) -> None:
    device, _ = await local.create_device()
    credentials = (await local.client.get(
        f"/api/device/{device['id']['id']}/credentials")).json()
    changed = await local.client.post("/api/device/credentials", json={
        **credentials, "credentialsType": "X509_CERTIFICATE", "credentialsId": "abc",
        "credentialsValue": "-----BEGIN CERTIFICATE-----"})
    assert changed.status_code == 200
    body = await commands(local, device["id"]["id"])
    assert list(body) == ["message"]
    assert "Check documentation" in body["message"]  # type: ignore[operator]


async def test_anyone_who_may_see_the_device_and_nobody_else(local: Local) -> None:
    mine, _ = await local.create_device()
    theirs, _ = await local.create_device()
    customer_id, user = await local.customer_user("Acme")
    await local.client.post(f"/api/customer/{customer_id}/device/{mine['id']['id']}")
    assert (await user.get(f"/api/device-connectivity/{mine['id']['id']}")).status_code == 200
    assert (await user.get(f"/api/device-connectivity/{theirs['id']['id']}")).status_code == 404
    unknown = "6a5e2a3c-1111-4c1d-9c2a-0d7c8e0f9a01"
    assert (await local.client.get(f"/api/device-connectivity/{unknown}")).status_code == 404
    assert (await local.client.get("/api/device-connectivity/nope")).status_code == 400
    local.client.headers.pop("X-Authorization")
    response = await local.client.get(f"/api/device-connectivity/{mine['id']['id']}")
    assert response.status_code == 401
