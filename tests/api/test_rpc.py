"""Server-side RPC over the HTTP device API, and its REST side, against in-process apps (and a
live server for clients that leave mid-poll: only a closed socket tells the server so)."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import logged_in
from tests.api_client import Api
from tests.in_process import InProcess, serving
from tests.seed import Seed, app_settings
from tests.waiting import open_long_polls, until, waiting_while
from thingport.app import create_app

pool = concurrent.futures.ThreadPoolExecutor(max_workers=16)


@pytest.fixture
def device(api: Api) -> tuple[str, str]:
    created, token = api.create_device()
    return created["id"]["id"], token


def soon(ms: int = 800) -> int:
    return int(time.time() * 1000) + ms


def test_two_way_command_to_a_polling_device(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    poll = waiting_while(api.base_url, "rpc", lambda: pool.submit(
        api.device_get, token, "rpc", params={"timeout": 10000}),
        **api.client_options)
    call = pool.submit(api.http.post, f"/api/plugins/rpc/twoway/{device_id}",
                       json={"method": "setGpio", "params": {"pin": 7, "value": 1}})
    command = poll.result(10)
    assert command.status_code == 200
    assert command.json() == {"id": 1, "method": "setGpio", "params": {"pin": 7, "value": 1}}
    reply = api.device_post(token, "rpc/1", {"pin": 7, "value": 1, "ok": True})
    assert reply.status_code == 200 and reply.content == b""
    answered = call.result(10)
    assert answered.status_code == 200
    assert answered.json() == {"pin": 7, "value": 1, "ok": True}


def test_one_way_returns_once_delivered(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    call = waiting_while(api.base_url, "rpc_outcome", lambda: pool.submit(
        api.http.post, f"/api/rpc/oneway/{device_id}", json={"method": "reboot", "params": None}),
        **api.client_options)
    command = api.device_get(token, "rpc", params={"timeout": 5000})
    assert command.json() == {"id": 1, "method": "reboot", "params": None}
    assert call.result(10).status_code == 200


def test_commands_wait_persisted_and_come_one_per_poll_in_order(
    api: Api, device: tuple[str, str]
) -> None:
    device_id, token = device
    ids = []
    for n in range(3):
        sent = api.http.post(f"/api/rpc/twoway/{device_id}",
                             json={"method": f"m{n}", "params": {"n": n}, "persistent": True,
                                   "timeout": 60000})
        assert sent.status_code == 200
        ids.append(sent.json()["rpcId"])
    assert api.http.get(f"/api/rpc/persistent/{ids[0]}").json()["status"] == "QUEUED"
    got = [api.device_get(token, "rpc", params={"timeout": 2000}).json() for _ in range(3)]
    assert [(g["id"], g["method"]) for g in got] == [(1, "m0"), (2, "m1"), (3, "m2")]
    assert api.device_get(token, "rpc", params={"timeout": 200}).status_code == 408
    api.device_post(token, "rpc/2", {"done": 2})
    stored = api.http.get(f"/api/rpc/persistent/{ids[1]}").json()
    assert stored["status"] == "SUCCESSFUL"
    assert stored["response"] == {"done": 2}
    assert api.http.get(f"/api/rpc/persistent/{ids[0]}").json()["status"] == "DELIVERED"
    listed = api.http.get(f"/api/rpc/persistent/device/{device_id}",
                          params={"pageSize": 10, "page": 0, "rpcStatus": "SUCCESSFUL"}).json()
    assert [r["id"]["id"] for r in listed["data"]] == [ids[1]]
    assert api.http.get(f"/api/rpc/persistent/device/{device_id}", params={
        "pageSize": 10, "page": 0, "rpcStatus": "DELETED"}).status_code == 400
    assert api.http.delete(f"/api/rpc/persistent/{ids[2]}").status_code == 200
    assert api.http.get(f"/api/rpc/persistent/{ids[2]}").status_code == 404


def test_poll_expires_with_408_and_an_empty_body(api: Api, device: tuple[str, str]) -> None:
    _, token = device
    began = time.monotonic()
    response = api.device_get(token, "rpc", params={"timeout": 300})
    assert response.status_code == 408 and response.content == b""
    assert 0.25 < time.monotonic() - began < 5
    assert api.device_get(token, "rpc", params={"timeout": "soon"}).status_code == 400


def test_reply_that_is_not_json_gives_406(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    call = pool.submit(api.http.post, f"/api/plugins/rpc/twoway/{device_id}",
                       json={"method": "m", "params": {}})
    command = api.device_get(token, "rpc", params={"timeout": 5000}).json()
    api.device_post(token, f"rpc/{command['id']}", "ok, not json")
    assert call.result(10).status_code == 406


def test_replies_to_unknown_ids_are_200_and_bad_ids_400(api: Api, device: tuple[str, str]) -> None:
    _, token = device
    assert api.device_post(token, "rpc/999", {"late": True}).status_code == 200
    assert api.device_post(token, "rpc/abc", {"x": 1}).status_code == 400
    assert api.device_post(token, "rpc/1", b"").status_code == 400


def test_replies_to_ids_beyond_64_bits_are_200(api: Api, device: tuple[str, str]) -> None:
    # Found by tests/fuzz: the store could not look such an id up, and answered 500.
    _, token = device
    for request_id in (2**63, 2**70, -(2**63) - 1, -1):
        assert api.device_post(token, f"rpc/{request_id}", {"x": 1}).status_code == 200


def test_numbers_beyond_a_long_and_deep_params_are_400(api: Api, device: tuple[str, str]) -> None:
    # Found by tests/fuzz: the store could not hold them, or orjson write them, and answered 500.
    device_id, _ = device
    for field in ("timeout", "expirationTime", "retries"):
        for value in (2**63, 10**300, 1e300):
            response = api.http.post(f"/api/rpc/oneway/{device_id}", json={
                "method": "m", "params": {}, "persistent": True, field: value})
            assert response.status_code == 400, (field, value, response.text)
            assert f"{field} is out of range" in response.json()["message"]
    deep = '{"method":"m","params":' + "[" * 300 + "]" * 300 + "}"
    response = api.http.post(f"/api/rpc/oneway/{device_id}", content=deep,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    # The largest long is a timeout still: it expires at the end of (stored) time.
    response = api.http.post(f"/api/rpc/oneway/{device_id}", json={
        "method": "m", "params": {}, "persistent": True, "timeout": 2**63 - 1})
    assert response.status_code == 200, response.text
    stored = api.http.get(f"/api/rpc/persistent/{response.json()['rpcId']}").json()
    assert stored["expirationTime"] == 2**63 - 1


def test_timeouts_v1_408_and_409_v2_504(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    # Nobody polls: never delivered.
    v1 = api.http.post(f"/api/plugins/rpc/twoway/{device_id}",
                       json={"method": "m", "params": {}, "expirationTime": soon()})
    assert v1.status_code == 409
    v2 = api.http.post(f"/api/rpc/twoway/{device_id}",
                       json={"method": "m", "params": {}, "expirationTime": soon()})
    assert v2.status_code == 504
    # Delivered, but no reply.
    call = pool.submit(api.http.post, f"/api/plugins/rpc/twoway/{device_id}",
                       json={"method": "m", "params": {}, "expirationTime": soon(1500)})
    assert api.device_get(token, "rpc", params={"timeout": 5000}).status_code == 200
    assert call.result(10).status_code == 408


def test_device_deleted_while_polling_gets_403(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    poll = waiting_while(api.base_url, "rpc", lambda: pool.submit(
        api.device_get, token, "rpc", params={"timeout": 10000}),
        **api.client_options)
    updates = waiting_while(api.base_url, "attributes", lambda: pool.submit(
        api.device_get, token, "attributes/updates", params={"timeout": 10000}),
        **api.client_options)
    assert api.http.delete(f"/api/device/{device_id}").status_code == 200
    assert poll.result(10).status_code == 403
    assert updates.result(10).status_code == 403


def test_a_client_that_leaves_mid_poll_does_not_swallow_the_next_command(live_api: Api) -> None:
    api = live_api
    created, token = api.create_device()
    device_id = created["id"]["id"]
    before = open_long_polls(api.base_url, "rpc")
    with pytest.raises(httpx.ReadTimeout):
        api.device_get(token, "rpc", params={"timeout": 30000}, timeout=0.3)
    # The server notices the client has gone and ends its wait...
    until(lambda: open_long_polls(api.base_url, "rpc") == before, "the abandoned poll ends")
    sent = api.http.post(f"/api/rpc/oneway/{device_id}",
                         json={"method": "later", "params": {}, "persistent": True})
    assert sent.status_code == 200
    # ... so the command, which would have woken a waiter left behind, stays queued.
    stored = api.http.get(f"/api/rpc/persistent/{sent.json()['rpcId']}").json()
    assert stored["status"] == "QUEUED"
    command = api.device_get(token, "rpc", params={"timeout": 3000})
    assert command.status_code == 200 and command.json()["method"] == "later"


def test_queued_commands_and_ids_survive_a_restart(tmp_path: Path, seed: Seed) -> None:
    settings = app_settings(seed.copy_to(tmp_path / "data"))
    with serving(create_app(settings)) as transport:
        api = logged_in(Api.over(transport))
        device, token = api.create_device()
        device_id = device["id"]["id"]
        for n in range(2):
            api.http.post(f"/api/rpc/twoway/{device_id}", json={
                "method": f"m{n}", "params": {}, "persistent": True, "timeout": 600000})
        assert api.device_get(token, "rpc", params={"timeout": 2000}).json()["id"] == 1
    with serving(create_app(settings)) as transport:
        api = logged_in(Api.over(transport))
        assert api.device_get(token, "rpc", params={"timeout": 2000}).json() == {
            "id": 2, "method": "m1", "params": {}}
        api.http.post(f"/api/rpc/twoway/{device_id}", json={
            "method": "m2", "params": {}, "persistent": True})
        assert api.device_get(token, "rpc", params={"timeout": 2000}).json()["id"] == 3


def test_client_side_rpc_get_current_time(api: Api, device: tuple[str, str]) -> None:
    _, token = device
    before = int(time.time() * 1000)
    response = api.device_post(token, "rpc", {"method": "getCurrentTime", "params": {}})
    assert response.status_code == 200
    assert before <= response.json()["time"] <= int(time.time() * 1000)
    assert api.device_post(token, "rpc", {"params": {}}).status_code == 400


def test_client_side_rpc_answered_by_a_subscribed_application(
    api: Api, device: tuple[str, str]
) -> None:
    device_id, token = device
    asked = pool.submit(api.device_post, token, "rpc",
                        {"method": "getWeather", "params": {"city": "Oslo"}})
    request = api.http.get(f"/api/plugins/rpc/client/{device_id}", params={"timeout": 5000})
    assert request.status_code == 200
    body = request.json()
    assert (body["method"], body["params"]) == ("getWeather", {"city": "Oslo"})
    answered = api.http.post(f"/api/plugins/rpc/client/{device_id}/{body['id']}",
                             json={"temperature": -3})
    assert answered.status_code == 200
    response = asked.result(10)
    assert response.status_code == 200 and response.json() == {"temperature": -3}
    again = api.http.post(f"/api/plugins/rpc/client/{device_id}/{body['id']}", json={})
    assert again.status_code == 404
    assert api.http.get(f"/api/plugins/rpc/client/{device_id}",
                        params={"timeout": 200}).status_code == 408


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory, seed: Seed) -> Iterator[InProcess]:
    directory = seed.copy_to(Path(tmp_path_factory.mktemp("impatient")))
    with serving(create_app(app_settings(directory, client_rpc_timeout_ms=500))) as transport:
        yield transport


def test_client_side_rpc_nobody_answers_is_408(impatient_server: InProcess) -> None:
    api = logged_in(Api.over(impatient_server))
    _, token = api.create_device()
    response = api.device_post(token, "rpc", {"method": "askNobody", "params": {}})
    assert response.status_code == 408 and response.content == b""


def test_an_application_that_leaves_its_poll_does_not_swallow_a_request(live_api: Api) -> None:
    api = live_api
    created, token = api.create_device()
    device_id = created["id"]["id"]
    before = open_long_polls(api.base_url, "client_rpc_requests")
    with pytest.raises(httpx.ReadTimeout):
        api.http.get(f"/api/plugins/rpc/client/{device_id}", params={"timeout": 30000},
                     timeout=0.3)
    until(lambda: open_long_polls(api.base_url, "client_rpc_requests") == before,
          "the abandoned poll ends")
    # The device's request waits (stored, and published to any waiter left behind).
    asked = waiting_while(api.base_url, "client_rpc", lambda: pool.submit(
        api.device_post, token, "rpc", {"method": "ask", "params": {}}))
    request = api.http.get(f"/api/plugins/rpc/client/{device_id}", params={"timeout": 3000})
    assert request.status_code == 200 and request.json()["method"] == "ask"
    api.http.post(f"/api/plugins/rpc/client/{device_id}/{request.json()['id']}", json={"ok": 1})
    assert asked.result(10).json() == {"ok": 1}
