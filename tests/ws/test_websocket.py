"""ThingsBoard's WebSocket API over real sockets against a live server."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api, other_tenant_admin
from tests.live import LiveServer
from tests.ws.client import tb_socket


def ts_sub(device_id: str, cmd_id: int = 10, **fields: Any) -> dict[str, Any]:
    return {"tsSubCmds": [{"entityType": "DEVICE", "entityId": device_id, "cmdId": cmd_id,
                           **fields}]}


def values(frame: dict[str, Any]) -> dict[str, list[str]]:
    return {key: [point[1] for point in points] for key, points in frame["data"].items()}


def test_thingsboard_black_box_flow(server: LiveServer, api: Api) -> None:
    """ThingsBoard's own HttpClientTest: subscribe, post through the device API, read back."""
    device, token = api.create_device()
    with tb_socket(server.url, token=api.token) as ws:
        ws.send(ts_sub(device["id"]["id"], scope="LATEST_TELEMETRY"))
        initial = ws.recv()
        assert initial["subscriptionId"] == 10 and initial["errorCode"] == 0
        assert initial["data"] == {}
        payload = {"stringKey": "value1", "booleanKey": True, "doubleKey": 42.0, "longKey": 73}
        assert api.post_telemetry(token, payload).status_code == 200
        frame = ws.recv()
    assert values(frame) == {"booleanKey": ["true"], "doubleKey": ["42.0"], "longKey": ["73"],
                             "stringKey": ["value1"]}
    ts = frame["data"]["longKey"][0][0]
    assert frame["latestValues"] == dict.fromkeys(payload, ts)
    assert frame["errorMsg"] is None


def test_initial_latest_values_and_key_filter(server: LiveServer, api: Api) -> None:
    device, token = api.create_device()
    api.post_telemetry(token, {"ts": 1000, "values": {"t": 1.5, "h": 40}})
    with tb_socket(server.url, token=api.token) as ws:
        ws.send(ts_sub(device["id"]["id"], keys="t"))
        assert ws.recv()["data"] == {"t": [[1000, "1.5"]]}
        api.post_telemetry(token, {"h": 41})
        api.post_telemetry(token, {"t": 2})
        assert values(ws.recv()) == {"t": ["2"]}


def test_latest_telemetry_scope_drops_stale_points(server: LiveServer, api: Api) -> None:
    device, token = api.create_device()
    with tb_socket(server.url, token=api.token) as ws:
        ws.send(ts_sub(device["id"]["id"], scope="LATEST_TELEMETRY"))
        ws.recv()
        api.post_telemetry(token, {"ts": 2000, "values": {"v": 2}})
        assert ws.recv()["data"] == {"v": [[2000, "2"]]}
        api.post_telemetry(token, {"ts": 1000, "values": {"v": 1}})  # older: no frame
        api.post_telemetry(token, {"ts": 2000, "values": {"v": 2}})  # same ts: no frame
        api.post_telemetry(token, {"ts": 3000, "values": {"v": 3}})
        assert ws.recv()["data"] == {"v": [[3000, "3"]]}


def test_time_window_then_pushes_and_history(server: LiveServer, api: Api) -> None:
    device, token = api.create_device()
    device_id = device["id"]["id"]
    api.post_telemetry(token, [{"ts": 1000 + i, "values": {"v": i}} for i in range(5)])
    with tb_socket(server.url, token=api.token) as ws:
        ws.send(ts_sub(device_id, keys="v", startTs=1000, timeWindow=1003))
        window = ws.recv()
        assert window["data"]["v"] == [[1000 + i, str(i)] for i in reversed(range(5))]
        assert window["latestValues"] == {"v": 1000}  # the last (oldest) pair, as TB does
        api.post_telemetry(token, {"v": 99})
        assert values(ws.recv()) == {"v": ["99"]}
        ws.send({"historyCmds": [{"entityType": "DEVICE", "entityId": device_id, "keys": "v",
                                  "startTs": 1001, "endTs": 1003, "cmdId": 11}]})
        history = ws.recv_until(lambda f: f["subscriptionId"] == 11)
        assert history["data"] == {"v": [[1002, "2"], [1001, "1"]]}
        ws.send({"historyCmds": [{"entityType": "DEVICE", "entityId": device_id,
                                  "keys": "v", "startTs": 1000, "endTs": 1005, "interval": 5,
                                  "agg": "SUM", "cmdId": 12}]})
        summed = ws.recv_until(lambda f: f["subscriptionId"] == 12)
        assert [point[1] for point in summed["data"]["v"]] == ["10"]


def test_attribute_pushes_per_scope(server: LiveServer, api: Api) -> None:
    device, token = api.create_device()
    device_id = device["id"]["id"]
    api.post_attributes(token, {"fw": "1.0"})
    with tb_socket(server.url, token=api.token) as ws:
        ws.send({"attrSubCmds": [
            {"entityType": "DEVICE", "entityId": device_id, "scope": "CLIENT_SCOPE", "cmdId": 1},
            {"entityType": "DEVICE", "entityId": device_id, "scope": "SHARED_SCOPE", "cmdId": 2},
            {"entityType": "DEVICE", "entityId": device_id, "cmdId": 3, "keys": "target"},
        ]})
        initial = {f["subscriptionId"]: f for f in (ws.recv(), ws.recv(), ws.recv())}
        assert values(initial[1]) == {"fw": ["1.0"]}
        assert initial[2]["data"] == {} and initial[3]["data"] == {}
        api.post_attributes(token, {"fw": "1.1"})
        client = ws.recv()
        assert client["subscriptionId"] == 1 and values(client) == {"fw": ["1.1"]}
        api.save_shared(device_id, {"target": 21.5})
        pushed = {f["subscriptionId"]: values(f) for f in (ws.recv(), ws.recv())}
        assert pushed == {2: {"target": ["21.5"]}, 3: {"target": ["21.5"]}}


def test_unsubscribe_by_cmd_id_and_by_empty_entity(server: LiveServer, api: Api) -> None:
    device, token = api.create_device()
    device_id = device["id"]["id"]
    with tb_socket(server.url, token=api.token) as ws:
        ws.send({"tsSubCmds": [{"entityType": "DEVICE", "entityId": device_id, "cmdId": c}
                               for c in (1, 2, 3)]})
        assert sorted(ws.recv()["subscriptionId"] for _ in range(3)) == [1, 2, 3]
        ws.send(ts_sub(device_id, cmd_id=1, unsubscribe=True))
        api.post_telemetry(token, {"v": 1})
        assert sorted(ws.recv()["subscriptionId"] for _ in range(2)) == [2, 3]
        ws.send({"tsSubCmds": [{"entityType": "DEVICE", "entityId": "", "cmdId": 0,
                                "unsubscribe": True}]})
        api.post_telemetry(token, {"v": 2})
        assert ws.nothing_within(0.5)


def test_new_api_auth_cmd_and_entity_data(server: LiveServer, api: Api) -> None:
    """TB's UI flow on /api/ws: authCmd, a query, then a tsCmd on the same cmdId."""
    device, token = api.create_device()
    device_id = device["id"]["id"]
    api.post_telemetry(token, {"ts": 5000, "values": {"temperature": 20}})
    query = {"entityFilter": {"type": "singleEntity",
                              "singleEntity": {"entityType": "DEVICE", "id": device_id}},
             "pageLink": {"pageSize": 10, "page": 0},
             "entityFields": [{"type": "ENTITY_FIELD", "key": "name"}],
             "latestValues": [{"type": "TIME_SERIES", "key": "temperature"},
                              {"type": "TIME_SERIES", "key": "missing"}]}
    with tb_socket(server.url, path="/api/ws") as ws:
        ws.send({"authCmd": {"cmdId": 0, "token": api.token},
                 "cmds": [{"type": "ENTITY_DATA", "cmdId": 1, "query": query}]})
        first = ws.recv()
        assert first["cmdUpdateType"] == "ENTITY_DATA" and first["update"] is None
        assert first["data"]["totalElements"] == 1
        entity = first["data"]["data"][0]
        assert entity["entityId"] == {"entityType": "DEVICE", "id": device_id}
        assert entity["latest"]["ENTITY_FIELD"]["name"]["value"] == device["name"]
        assert entity["latest"]["TIME_SERIES"] == {
            "temperature": {"ts": 5000, "value": "20"}, "missing": {"ts": 0, "value": ""}}
        ws.send({"cmds": [{"type": "ENTITY_DATA", "cmdId": 1, "tsCmd": {
            "keys": ["temperature"], "startTs": 4000, "timeWindow": 2000, "limit": 100}}]})
        window = ws.recv()
        assert window["data"] is None
        assert window["update"][0]["timeseries"] == {"temperature": [{"ts": 5000, "value": "20"}]}
        api.post_telemetry(token, {"ts": 6000, "values": {"temperature": 21.5}})
        pushed = ws.recv()
        assert pushed["update"][0]["timeseries"] == {
            "temperature": [{"ts": 6000, "value": "21.5"}]}
        ws.send({"cmds": [{"type": "ENTITY_DATA_UNSUBSCRIBE", "cmdId": 1}]})
        api.post_telemetry(token, {"temperature": 22})
        assert ws.nothing_within(0.5)


def test_entity_data_latest_cmd_over_a_device_list(server: LiveServer, api: Api) -> None:
    """TB's monitoring client: an entityList filter and a latestCmd, on the legacy path."""
    devices = [api.create_device() for _ in range(3)]
    ids = [d["id"]["id"] for d, _ in devices]
    cmd = {"cmdId": 7, "query": {
        "entityFilter": {"type": "entityList", "entityType": "DEVICE", "entityList": ids},
        "pageLink": {"pageSize": 2, "page": 0, "sortOrder": {
            "key": {"type": "ENTITY_FIELD", "key": "name"}, "direction": "ASC"}},
        "latestValues": [{"type": "TIME_SERIES", "key": "rssi"}]},
        "latestCmd": {"keys": [{"type": "TIME_SERIES", "key": "rssi"},
                               {"type": "CLIENT_ATTRIBUTE", "key": "fw"}]}}
    with tb_socket(server.url, token=api.token) as ws:
        ws.send({"entityDataCmds": [cmd]})
        page = ws.recv()["data"]
        assert (page["totalElements"], page["totalPages"], page["hasNext"]) == (3, 2, True)
        by_name = sorted((d["name"], d["id"]["id"], t) for d, t in devices)
        assert [e["entityId"]["id"] for e in page["data"]] == [i for _, i, _ in by_name[:2]]
        _, first_id, first_token = by_name[0]
        api.post_telemetry(first_token, {"rssi": -70})
        update = ws.recv()["update"]
        assert update == [{"entityId": {"entityType": "DEVICE", "id": first_id},
                           "latest": {"TIME_SERIES": {"rssi": update[0]["latest"]["TIME_SERIES"]
                                                      ["rssi"]}},
                           "timeseries": {}, "aggLatest": {}}]
        assert update[0]["latest"]["TIME_SERIES"]["rssi"]["value"] == "-70"
        api.post_attributes(first_token, {"fw": "2.0"})
        attribute = ws.recv()["update"][0]["latest"]
        assert attribute["CLIENT_ATTRIBUTE"]["fw"]["value"] == "2.0"
        api.post_telemetry(by_name[2][2], {"rssi": -50})  # not on the page: no frame
        assert ws.nothing_within(0.5)


def test_entity_count_device_type_and_alarms(server: LiveServer, api: Api) -> None:
    kind = f"type-{id(api)}"
    for _ in range(2):
        created = api.http.post("/api/device", json={"name": f"{kind}-{_}", "type": kind})
        created.raise_for_status()
    device_type = {"type": "deviceType", "deviceType": kind, "deviceNameFilter": ""}
    with tb_socket(server.url, path="/api/ws", token=api.token) as ws:
        ws.send({"cmds": [
            {"type": "ENTITY_COUNT", "cmdId": 1, "query": {"entityFilter": device_type}},
            {"type": "ALARM_DATA", "cmdId": 2, "query": {}},
            {"type": "ALARM_COUNT", "cmdId": 3, "query": {}},
            {"type": "ALARM_STATUS", "cmdId": 4},
        ]})
        frames = {f["cmdId"]: f for f in (ws.recv() for _ in range(4))}
    assert (frames[1]["cmdUpdateType"], frames[1]["count"]) == ("COUNT_DATA", 2)
    assert frames[2]["data"]["data"] == [] and frames[2]["errorCode"] == 0
    assert (frames[3]["cmdUpdateType"], frames[3]["count"]) == ("ALARM_COUNT_DATA", 0)
    assert frames[4]["active"] is False


def test_another_tenants_device_is_unauthorized(server: LiveServer, api: Api) -> None:
    device, token = api.create_device()
    other = other_tenant_admin(server.url)
    with tb_socket(server.url, token=other.token) as ws:
        ws.send(ts_sub(device["id"]["id"]))
        frame = ws.recv()
        assert frame["errorCode"] == 3 and frame["data"] is None
        ws.send({"entityDataCmds": [{"cmdId": 2, "query": {"entityFilter": {
            "type": "singleEntity", "singleEntity": {"entityType": "DEVICE",
                                                     "id": device["id"]["id"]}}}}]})
        assert ws.recv()["errorCode"] == 3
        api.post_telemetry(token, {"secret": 1})
        assert ws.nothing_within(0.3)


def test_customer_user_sees_only_its_devices(server: LiveServer, api: Api) -> None:
    customer_id, customer = api.create_customer_user()
    mine, _ = api.create_device()
    theirs, _ = api.create_device()
    api.http.post(f"/api/customer/{customer_id}/device/{mine['id']['id']}").raise_for_status()
    with tb_socket(server.url, token=customer.token) as ws:
        ws.send(ts_sub(mine["id"]["id"], cmd_id=1))
        assert ws.recv()["errorCode"] == 0
        ws.send(ts_sub(theirs["id"]["id"], cmd_id=2))
        assert ws.recv()["errorCode"] == 3


@pytest.mark.parametrize(("frame", "message"), [
    ("not json", "Failed to parse the payload"),
    ({"cmds": []}, "unknown field `cmds`"),  # the new envelope on the legacy path
    ({"tsSubCmds": [{"entityId": "x"}]}, "missing required field `cmdId`"),
])
def test_bad_frames_are_error_frames_and_the_session_goes_on(
    server: LiveServer, api: Api, frame: Any, message: str
) -> None:
    device, _ = api.create_device()
    with tb_socket(server.url, token=api.token) as ws:
        ws.send(frame)
        error = ws.recv()
        assert (error["subscriptionId"], error["errorCode"]) == (1, 2)
        assert message in error["errorMsg"]
        ws.send(ts_sub(device["id"]["id"]))
        assert ws.recv()["errorCode"] == 0


def test_bad_commands_get_bad_request_frames(server: LiveServer, api: Api) -> None:
    with tb_socket(server.url, path="/api/ws", token=api.token) as ws:
        ws.send({"cmds": [{"type": "NO_SUCH_CMD", "cmdId": 1}]})
        assert "Invalid value 'NO_SUCH_CMD'" in ws.recv()["errorMsg"]
        ws.send({"tsSubCmds": []})  # a legacy key on /api/ws
        assert ws.recv()["errorCode"] == 2
        ws.send({"cmds": [{"type": "TIMESERIES", "cmdId": -1, "entityId": "x"}]})
        assert ws.recv()["errorMsg"] == "Cmd id is negative value!"
        ws.send({"cmds": [{"type": "TIMESERIES", "cmdId": 2, "entityId": "not-a-uuid"}]})
        assert ws.recv()["errorCode"] == 2
        ws.send({"cmds": [{"type": "TIMESERIES_HISTORY", "cmdId": 3,
                           "entityId": "13814000-1dd2-11b2-8080-808080808080"}]})
        assert ws.recv()["errorMsg"] == "Keys are empty!"
        ws.send({"cmds": [{"type": "ENTITY_DATA", "cmdId": 4}]})
        assert ws.recv() == {"cmdId": 4, "cmdUpdateType": "ENTITY_DATA", "errorCode": 2,
                             "errorMsg": "Query is empty!"}
        ws.send({"cmds": [{"type": "ENTITY_COUNT", "cmdId": 5, "query": {
            "entityFilter": {"type": "entityType", "entityType": "DEVICE"},
            "keyFilters": [{"key": {"type": "TIME_SERIES", "key": "t"}}]}}]})
        assert "keyFilters" in ws.recv()["errorMsg"]
        ws.send({"cmds": [{"type": "ENTITY_COUNT", "cmdId": 6, "query": {
            "entityFilter": {"type": "assetType", "assetType": "building"}}}]})
        assert ws.recv()["errorMsg"] == "Entity filter type assetType is not supported"


def test_authentication_failures_close_with_thingsboard_codes(
    server: LiveServer, api: Api
) -> None:
    with tb_socket(server.url, token="not-a-jwt") as ws:
        assert ws.closed_with()[0] == 1011
    with tb_socket(server.url, path="/api/ws") as ws:
        ws.send({"cmds": []})
        assert ws.closed_with() == (1008, "Auth cmd is missing")
    with tb_socket(server.url, path="/api/ws") as ws:
        ws.send({"authCmd": {"cmdId": 0, "token": "bad"}})
        assert ws.closed_with()[0] == 1007
    with tb_socket(server.url, path="/api/ws") as ws:
        ws.send("{")
        assert ws.closed_with()[0] == 1007
    with tb_socket(server.url, path="/api/ws") as ws:  # a reason too long for a close frame
        ws.send({"cmds": [{"type": "X" * 300, "cmdId": 1}]})
        code, reason = ws.closed_with()
        assert code == 1007 and reason.endswith("...") and len(reason.encode()) <= 123
    with tb_socket(server.url, path="/api/ws/plugins/unknown", token=api.token) as ws:
        assert ws.closed_with() == (1007, "Unknown session type")


def test_a_frame_over_32_kib_closes_with_1009(server: LiveServer, api: Api) -> None:
    with tb_socket(server.url, token=api.token) as ws:
        ws.send(json.dumps({"tsSubCmds": [], "pad": "x" * 33000}))
        assert ws.closed_with()[0] == 1009


def test_a_client_that_does_not_read_is_closed_with_1008(server: LiveServer, api: Api) -> None:
    """More than 1,000 frames waiting for a slow client end its session, not our memory."""
    device, token = api.create_device()
    device_id = device["id"]["id"]
    # The client takes one message into its own buffer, then stops reading; the kernel's
    # socket buffers fill with frames of 8 KiB (uncompressed), and then the session's queue.
    with tb_socket(server.url, token=api.token, max_queue=1, max_size=None,
                   compression=None) as ws:
        ws.send({"tsSubCmds": [{"entityType": "DEVICE", "entityId": device_id, "cmdId": c}
                               for c in range(100)]})
        big = "x" * 8192
        for i in range(60):
            assert api.post_telemetry(token, {"blob": f"{i}{big}"}).status_code == 200
        assert ws.closed_with() == (1008, "Max pending updates limit reached!")


def test_a_socket_that_answers_no_ping_is_closed(tmp_path: Path) -> None:
    """The server pings every third of TB_SERVER_WS_PING_TIMEOUT and closes a silent peer."""
    live = LiveServer(tmp_path / "data", env={"TB_SERVER_WS_PING_TIMEOUT": "900"}).start()
    try:
        token = Api(live.url).login().token
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
            key = base64.b64encode(os.urandom(16)).decode()
            raw.sendall((f"GET /api/ws/plugins/telemetry?token={token} HTTP/1.1\r\n"
                         f"Host: 127.0.0.1:{live.port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            received = b""
            started = time.monotonic()
            while chunk := raw.recv(4096):  # read, never answer: no pong ever goes back
                received += chunk
            silent_for = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 101")
        frames = received.split(b"\r\n\r\n", 1)[1]
        assert frames[0] == 0x89, "the first frame after the handshake is a ping"
        assert silent_for < 8
    finally:
        live.stop()
