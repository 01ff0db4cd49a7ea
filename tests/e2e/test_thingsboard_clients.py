"""ThingsBoard's own Python clients, unchanged, against a live thingport.

``tb-mqtt-client`` installs a top-level ``utils`` and pip-installs ``mmh3`` at import when it is
missing: the test extra installs ``mmh3`` first, and this file imports it before the SDK.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator

import mmh3  # noqa: F401  - must be importable before tb_device_http is
import pytest
from tb_device_http import TBHTTPDevice
from tb_rest_client.models.device import Device
from tb_rest_client.rest_client import RestClient

from tests.api_client import Api
from tests.live import TENANT_ADMIN, LiveServer
from tests.waiting import open_long_polls, until


@pytest.fixture
def rest(server: LiveServer) -> Iterator[RestClient]:
    client = RestClient(base_url=server.url)
    client.login(username=TENANT_ADMIN[0], password=TENANT_ADMIN[1])
    yield client
    client.stop()


def test_rest_client_creates_a_device_and_tb_http_device_sends_to_it(
    rest: RestClient, server: LiveServer
) -> None:
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    device = rest.save_device(Device(name=name, type="default"))
    assert device.name == name
    credentials = rest.get_device_credentials_by_device_id(device.id)
    token = credentials.credentials_id
    assert len(token) == 20

    http_device = TBHTTPDevice(server.url, token)
    assert http_device.test_connection()
    http_device.send_telemetry({"temperature": 21.5, "status": "ok"}, queued=False)
    http_device.send_attributes({"model": "T-1000"})
    assert http_device.request_attributes() == {"client": {"model": "T-1000"}}

    latest = rest.get_latest_timeseries(device.id, keys="temperature,status",
                                        use_strict_data_types=True)
    assert latest["temperature"][0].value == 21.5
    assert latest["status"][0].value == "ok"

    rest.save_device_attributes(device.id, "SHARED_SCOPE", {"targetTemp": 22})
    assert http_device.request_attributes() == {"client": {"model": "T-1000"},
                                                "shared": {"targetTemp": 22}}
    attributes = rest.get_attributes_by_scope(device.id, "SHARED_SCOPE", keys="targetTemp")
    assert [(a.key, a.value) for a in attributes] == [("targetTemp", 22)]

    assert rest.get_tenant_device(name).id.id == device.id.id
    page = rest.get_tenant_devices(page_size=10, page=0, text_search=name)
    assert [d.name for d in page.data] == [name]

    rest.delete_device(device.id)
    assert not TBHTTPDevice(server.url, token).test_connection()


def test_rest_client_reads_history_and_saves_telemetry(rest: RestClient, api: Api) -> None:
    device = rest.save_device(Device(name=f"sdk-h-{uuid.uuid4().hex[:8]}", type="default"))
    rest.save_entity_telemetry(device.id, "ANY", {"ts": 1000, "values": {"v": 1}})
    rest.save_entity_telemetry(device.id, "ANY", {"ts": 2000, "values": {"v": 2}})
    history = rest.get_timeseries(device.id, start_ts=0, end_ts=10_000, keys="v")
    assert [p.value for p in history["v"]] == ["2", "1"]
    assert rest.get_timeseries_keys_v1(device.id) == ["v"]


def test_tb_http_device_subscribes_to_rpc_and_shared_attributes(
    rest: RestClient, server: LiveServer, api: Api
) -> None:
    device = rest.save_device(Device(name=f"sdk-sub-{uuid.uuid4().hex[:8]}", type="default"))
    token = rest.get_device_credentials_by_device_id(device.id).credentials_id
    http_device = TBHTTPDevice(server.url, token)
    updates: queue.Queue[dict[str, object]] = queue.Queue()

    def on_rpc(request: dict[str, object]) -> None:
        # The SDK replies with the id it was given; id 0 would be dropped by `if rpc_id`.
        http_device.send_rpc(name="reply", params={"echo": request["params"]},
                             rpc_id=request["id"])

    before = {kind: open_long_polls(server.url, kind) for kind in ("rpc", "attributes")}
    http_device.subscribe("rpc", on_rpc)
    http_device.subscribe("attributes", updates.put)
    try:
        # The SDK's threads poll both: a command and a change now reach a waiting device.
        until(lambda: all(open_long_polls(server.url, kind) > count
                          for kind, count in before.items()), "the SDK's polls wait")
        answer = api.http.post(f"/api/rpc/twoway/{device.id.id}",
                               json={"method": "setLed", "params": {"on": True}})
        assert answer.status_code == 200
        assert answer.json() == {"method": "reply", "params": {"echo": {"on": True}}}
        rest.save_device_attributes(device.id, "SHARED_SCOPE", {"targetTemp": 23})
        assert updates.get(timeout=10) == {"targetTemp": 23}
    finally:
        http_device.unsubscribe("rpc")
        http_device.unsubscribe("attributes")
