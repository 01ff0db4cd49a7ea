"""The HTTP Device API, driven over HTTP as a device would: against an in-process app, and a
live server for what is checked on the wire."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api_client import Api
from tests.live import LiveServer


@pytest.fixture
def device(api: Api) -> tuple[str, str]:
    """A fresh device: its id and access token."""
    created, token = api.create_device()
    return created["id"]["id"], token


def test_flat_telemetry_is_stored_and_typed(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    response = api.post_telemetry(token, {"temperature": 25, "humidity": 60.5, "on": True,
                                          "mode": "eco", "cfg": {"a": [1, 2]}})
    assert response.status_code == 200
    assert response.content == b""
    latest = api.latest(device_id, useStrictDataTypes="true")
    assert {k: v[0]["value"] for k, v in latest.items()} == {
        "temperature": 25, "humidity": 60.5, "on": True, "mode": "eco", "cfg": {"a": [1, 2]},
    }


def test_values_render_as_strings_unless_strict(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    api.post_telemetry(token, {"t": 25, "d": 42.0, "b": False})
    latest = api.latest(device_id)
    assert {k: v[0]["value"] for k, v in latest.items()} == {"t": "25", "d": "42.0", "b": "false"}


def test_client_timestamps_and_arrays(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    body = [{"ts": 1634712287000, "values": {"t": 26}}, {"ts": 1634712588000, "values": {"t": 25}}]
    assert api.post_telemetry(token, body).status_code == 200
    history = api.http.get(
        f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
        params={"keys": "t", "startTs": 0, "endTs": 1734712588000, "useStrictDataTypes": "true"},
    ).json()
    assert history == {
        "t": [{"ts": 1634712588000, "value": 25}, {"ts": 1634712287000, "value": 26}]}


def test_lenient_json_as_thingsboard_check_connectivity_sends(
    api: Api, device: tuple[str, str]
) -> None:
    device_id, token = device
    response = api.post_telemetry(token, "{temperature:25}")
    assert response.status_code == 200
    assert api.latest(device_id, keys="temperature")["temperature"][0]["value"] == "25"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream",
                                          "application/x-www-form-urlencoded"])
def test_any_content_type_is_accepted(
    api: Api, device: tuple[str, str], content_type: str | None
) -> None:
    _, token = device
    headers = {"Content-Type": content_type} if content_type else {}
    assert api.post_telemetry(token, '{"x":1}', headers=headers).status_code == 200


def test_unknown_token_is_401_with_empty_body_before_the_body_is_parsed(api: Api) -> None:
    response = api.post_telemetry("no-such-token", "this is not json")
    assert response.status_code == 401
    assert response.content == b""


@pytest.mark.parametrize("body", ["{not json", "[1,2]", "42", '"text"', '{"ts":"x","values":{}}',
                                  '{"ts":1,"values":[1]}'])
def test_bad_bodies_are_400_with_a_json_message_and_store_nothing(
    api: Api, device: tuple[str, str], body: str
) -> None:
    device_id, token = device
    response = api.post_telemetry(token, body)
    assert response.status_code == 400
    error = response.json()
    assert error["status"] == 400 and error["message"]
    assert api.latest(device_id) == {}


def test_missing_body_is_400(api: Api, device: tuple[str, str]) -> None:
    _, token = device
    assert api.post_telemetry(token, b"").status_code == 400


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow(
    anonymous: httpx.Client, device: tuple[str, str]
) -> None:
    _, token = device
    missing = anonymous.post(f"/api/v1/{token}/nothing-here", content=b"{}")
    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    wrong = anonymous.get(f"/api/v1/{token}/telemetry")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    wrong = anonymous.put(f"/api/v1/{token}/attributes", content=b"{}")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"


def test_empty_object_is_the_sdk_connection_test(api: Api, device: tuple[str, str]) -> None:
    _, token = device
    assert api.post_telemetry(token, {}).status_code == 200
    assert api.post_telemetry(token, []).status_code == 200


def test_null_values_are_dropped(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    api.post_telemetry(token, {"a": None, "b": 1})
    assert list(api.latest(device_id)) == ["b"]


def test_client_attributes_round_trip_through_the_device_api(
    api: Api, anonymous: httpx.Client, device: tuple[str, str]
) -> None:
    device_id, token = device
    body = {"firmwareVersion": "1.2.3", "serial": "SN-1", "ratio": 0.5, "n": "42"}
    assert api.post_attributes(token, body).status_code == 200
    got = anonymous.get(f"/api/v1/{token}/attributes").json()
    assert got == {"client": {"firmwareVersion": "1.2.3", "serial": "SN-1", "ratio": 0.5, "n": 42}}
    stored = {a["key"]: a["value"] for a in api.attributes(device_id, "CLIENT_SCOPE")}
    assert stored["n"] == 42


def test_attribute_request_by_keys_and_scopes(
    api: Api, anonymous: httpx.Client, device: tuple[str, str]
) -> None:
    device_id, token = device
    api.post_attributes(token, {"c1": 1, "c2": 2})
    saved = api.http.post(
        f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE",
        content=b'{"s1":"x","s2":true}', headers={"Content-Type": "text/plain"},
    )
    assert saved.status_code == 200
    base = f"/api/v1/{token}/attributes"
    assert anonymous.get(base).json() == {"client": {"c1": 1, "c2": 2},
                                      "shared": {"s1": "x", "s2": True}}
    assert anonymous.get(base, params={"clientKeys": "c1", "sharedKeys": "s2"}).json() == {
        "client": {"c1": 1}, "shared": {"s2": True}}
    assert anonymous.get(base, params={"sharedKeys": "s1,nope"}).json() == {"shared": {"s1": "x"}}
    assert anonymous.get(base, params=[("sharedKeys", "s1"), ("sharedKeys", "s2")]).json() == {
        "shared": {"s1": "x", "s2": True}}
    assert anonymous.get(base, params={"allClientKeys": "true"}).json() == {
        "client": {"c1": 1, "c2": 2}}
    assert anonymous.get(base, params={"clientKeys": "zzz"}).json() == {}
    # ThingsBoard's own SDK sends these snake_case names, which it ignores: everything comes back.
    assert anonymous.get(base, params={"client_keys": "c1"}).json()["shared"] == {"s1": "x",
                                                                             "s2": True}


def test_payload_limit_counts_content_length_and_bytes_read(tmp_path: object) -> None:
    """Live: a chunked body (no Content-Length) must be cut off on the bytes the server reads
    from the socket."""
    from pathlib import Path

    live = LiveServer(Path(str(tmp_path)) / "data", env={
        "HTTP_TRANSPORT_MAX_PAYLOAD_SIZE_LIMIT_CONFIGURATION":
            "/api/v1/*/rpc/**=100;/api/v1/**=10000",
    }).start()
    try:
        api = Api(live.url).login()
        _, token = api.create_device()
        ok = '{"k":"' + "x" * (10000 - 8) + '"}'
        assert len(ok) == 10000
        assert api.post_telemetry(token, ok).status_code == 200
        too_big = api.post_telemetry(token, ok + " ")
        assert too_big.status_code == 413
        assert "Payload size exceeds the limit" in too_big.json()["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold on the bytes read
            yield b'{"k":"'
            yield b"x" * 20000
            yield b'"}'

        chunked = httpx.post(f"{live.url}/api/v1/{token}/telemetry", content=chunks())
        assert chunked.status_code == 413
        # Rejected before authentication, as ThingsBoard's filter does.
        assert api.post_telemetry("bad-token", ok + " ").status_code == 413
    finally:
        live.stop()
