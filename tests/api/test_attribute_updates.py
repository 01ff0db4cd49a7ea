"""The shared-attribute long poll: ``GET /api/v1/$TOKEN/attributes/updates``."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from tests.api_client import Api

pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)


@pytest.fixture
def device(api: Api) -> tuple[str, str]:
    created, token = api.create_device()
    return created["id"]["id"], token


def test_an_open_poll_gets_the_change_typed_and_flat(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    poll = pool.submit(api.device_get, token, "attributes/updates", params={"timeout": 10000})
    time.sleep(0.3)
    api.save_shared(device_id, {"targetTemp": 22, "mode": "eco", "cfg": {"a": [1]}})
    response = poll.result(10)
    assert response.status_code == 200
    assert response.json() == {"targetTemp": 22, "mode": "eco", "cfg": {"a": [1]}}


def test_changes_made_while_not_polling_come_merged(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    api.save_shared(device_id, {"a": 1, "b": 1, "c": 1})
    api.save_shared(device_id, {"a": 2})
    deleted = api.http.delete(f"/api/plugins/telemetry/DEVICE/{device_id}/SHARED_SCOPE",
                              params={"keys": "b"})
    assert deleted.status_code == 200
    response = api.device_get(token, "attributes/updates", params={"timeout": 2000})
    assert response.status_code == 200
    assert response.json() == {"a": 2, "c": 1, "deleted": ["b"]}
    # Handed over once: the next poll waits for new changes.
    assert api.device_get(token, "attributes/updates", params={"timeout": 200}).status_code == 408


def test_a_deletion_alone_is_reported_as_deleted(api: Api, device: tuple[str, str]) -> None:
    device_id, token = device
    api.save_shared(device_id, {"x": 1})
    api.device_get(token, "attributes/updates", params={"timeout": 2000})
    poll = pool.submit(api.device_get, token, "attributes/updates", params={"timeout": 10000})
    time.sleep(0.3)
    api.http.delete(f"/api/plugins/telemetry/DEVICE/{device_id}/SHARED_SCOPE",
                    params={"keys": "x"})
    assert poll.result(10).json() == {"deleted": ["x"]}


def test_client_and_server_attributes_do_not_wake_the_poll(
    api: Api, device: tuple[str, str]
) -> None:
    device_id, token = device
    poll = pool.submit(api.device_get, token, "attributes/updates", params={"timeout": 800})
    time.sleep(0.2)
    api.post_attributes(token, {"client": 1})
    api.http.post(f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SERVER_SCOPE",
                  json={"server": 1})
    response = poll.result(10)
    assert response.status_code == 408 and response.content == b""
