"""Value size limits on the device API (in-process): JSON_MAX_STRING_VALUE_LENGTH and
THINGPORT_JSON_MAX_JSON_VALUE_LENGTH, 1 MiB each by default; a longer value is a 400 with
ThingsBoard's error JSON naming the key and the limit, and nothing of the request is stored."""

from __future__ import annotations

from typing import Any

import orjson

from tests.api.conftest import Local

LIMIT = 1_048_576


async def post(local: Local, token: str, path: str, body: Any) -> Any:
    return await local.client.post(f"/api/v1/{token}/{path}", content=orjson.dumps(body),
                                   headers={"content-type": "application/json"})


async def latest(local: Local, device_id: str) -> dict[str, Any]:
    answer = await local.client.get(
        f"/api/plugins/telemetry/DEVICE/{device_id}/values/timeseries",
        params={"useStrictDataTypes": "true"})
    assert answer.status_code == 200
    return {k: v[0]["value"] for k, v in answer.json().items()}


async def test_a_string_over_the_limit_is_a_400_naming_key_and_limit(local: Local) -> None:
    device, token = await local.create_device()
    answer = await post(local, token, "telemetry", {"ok": 1, "big": "x" * (LIMIT + 1)})
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == (
        f"String value length [{LIMIT + 1}] for key [big] is greater than maximum allowed "
        f"[{LIMIT}]")
    assert body["status"] == 400 and body["errorCode"] == 31 and "timestamp" in body
    assert await latest(local, device["id"]["id"]) == {}  # "ok" was not stored either


async def test_a_json_value_over_the_limit_is_a_400(local: Local) -> None:
    _, token = await local.create_device()
    value = {"a": "y" * LIMIT}  # its compact text is longer than the string
    answer = await post(local, token, "attributes", {"cfg": value})
    assert answer.status_code == 400
    assert answer.json()["message"] == (
        f"JSON value length [{LIMIT + 8}] for key [cfg] is greater than maximum allowed "
        f"[{LIMIT}]")
    answer = await post(local, token, "telemetry", [{"ts": 1, "values": {"cfg": value}}])
    assert answer.status_code == 400


async def test_values_at_the_limit_are_stored_and_read_back(local: Local) -> None:
    device, token = await local.create_device()
    text = "é" * LIMIT  # 2 MiB of UTF-8, stored out of line
    nested = {"a": "z" * (LIMIT - 8)}  # compact: {"a":"..."} is exactly the limit
    assert (await post(local, token, "telemetry", {"s": text, "j": nested})).status_code == 200
    assert await latest(local, device["id"]["id"]) == {"s": text, "j": nested}
    assert (await post(local, token, "attributes", {"s": text})).status_code == 200
    answer = await local.client.get(f"/api/v1/{token}/attributes", params={"clientKeys": "s"})
    assert answer.json() == {"client": {"s": text}}


POINTS = 100_000  # THINGPORT_MAX_DATA_POINTS_PER_REQUEST's default


async def test_an_upload_of_more_data_points_than_allowed_is_a_413(local: Local) -> None:
    device, token = await local.create_device()
    at_limit = [{"ts": 1_000 + i, "values": {"k": i}} for i in range(POINTS)]
    assert (await post(local, token, "telemetry", at_limit)).status_code == 200
    over = [{"ts": 1, "values": {"a": 1, "b": 2}}] + [
        {"ts": 2_000_000 + i, "values": {"k": i}} for i in range(POINTS - 1)]
    answer = await post(local, token, "telemetry", over)
    assert answer.status_code == 413
    assert answer.json()["message"] == (
        f"The upload carries more than {POINTS} values (data points), the most one request may "
        "(THINGPORT_MAX_DATA_POINTS_PER_REQUEST)")
    assert "a" not in await latest(local, device["id"]["id"])  # nothing of it was stored
    flat = {f"k{i}": i for i in range(POINTS + 1)}
    assert (await post(local, token, "attributes", flat)).status_code == 413
    assert (await post(local, token, "telemetry", flat)).status_code == 413


async def test_a_key_longer_than_255_characters_is_a_400(local: Local) -> None:
    device, token = await local.create_device()
    long_key = "k" * 256
    for path, body in (("telemetry", {"ok": 1, long_key: 1}), ("attributes", {long_key: 1})):
        answer = await post(local, token, path, body)
        assert answer.status_code == 400
        assert answer.json()["message"] == \
            "Key length [256] is greater than maximum allowed [255]"
    assert (await post(local, token, "telemetry", {"k" * 255: 1})).status_code == 200
    assert list(await latest(local, device["id"]["id"])) == ["k" * 255]
