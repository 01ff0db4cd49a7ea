"""Provision requests read as ThingsBoard reads them, answers in its key order."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from thingport.domain.model import DeviceCredentials, DeviceCredentialsType
from thingport.domain.provisioning import (
    ProvisionRequest,
    ProvisionResult,
    ProvisionStatus,
    request_from_json,
    response_json,
)
from thingport.errors import InvalidPayload

KEYS = {"provisionDeviceKey": "k", "provisionDeviceSecret": "s"}


def test_fields_default_to_empty_and_text_is_read_as_gson_does() -> None:
    assert request_from_json(KEYS) == ProvisionRequest("k", "s")
    request = request_from_json({**KEYS, "deviceName": 42, "token": True, "gateway": "TRUE",
                                 "credentialsType": "MQTT_BASIC", "clientId": "c",
                                 "username": "u", "password": "p", "hash": "pem"})
    assert request == ProvisionRequest(
        "k", "s", device_name="42", credentials_type=DeviceCredentialsType.MQTT_BASIC, token="true",
        client_id="c", username="u", password="p", certificate="pem", gateway=True,
    )
    assert request_from_json({**KEYS, "provisionDeviceKey": ""}).provision_device_key == ""


def test_secrets_stay_out_of_repr() -> None:
    request = request_from_json({**KEYS, "provisionDeviceSecret": "hunter2", "password": "pw1",
                                 "token": "tok1"})
    assert "hunter2" not in repr(request) and "pw1" not in repr(request)
    assert "tok1" not in repr(request)


@pytest.mark.parametrize("body", [
    [KEYS], "text", 42, {"provisionDeviceKey": "k"}, {"provisionDeviceSecret": "s"},
    {**KEYS, "provisionDeviceSecret": None}, {**KEYS, "credentialsType": "LWM2M_CREDENTIALS"},
    {**KEYS, "credentialsType": ""}, {**KEYS, "deviceName": {"a": 1}}, {**KEYS, "gateway": [1]},
])
def test_malformed_requests_are_invalid_payloads(body: Any) -> None:
    with pytest.raises(InvalidPayload):
        request_from_json(body)


def _credentials(
    kind: DeviceCredentialsType, credentials_id: str, value: str | None
) -> DeviceCredentials:
    return DeviceCredentials(uuid.uuid4(), uuid.uuid4(), 1, kind, credentials_id, value)


def test_answers_in_thingsboard_shapes_and_key_order() -> None:
    token = _credentials(DeviceCredentialsType.ACCESS_TOKEN, "tok", None)
    body = response_json(ProvisionResult(ProvisionStatus.SUCCESS, token))
    assert list(body.items()) == [("credentialsValue", "tok"),
                                  ("credentialsType", "ACCESS_TOKEN"), ("status", "SUCCESS")]
    mqtt = _credentials(DeviceCredentialsType.MQTT_BASIC, "id",
                        '{"clientId":"c1","userName":"u1","password":"p1"}')
    assert response_json(ProvisionResult(ProvisionStatus.SUCCESS, mqtt))["credentialsValue"] \
        == {"clientId": "c1", "userName": "u1", "password": "p1"}
    cert = _credentials(DeviceCredentialsType.X509_CERTIFICATE, "hash",
                        "-----BEGIN CERTIFICATE-----")
    assert response_json(ProvisionResult(ProvisionStatus.SUCCESS, cert))["credentialsValue"] \
        == "-----BEGIN CERTIFICATE-----"
    assert response_json(ProvisionResult(ProvisionStatus.NOT_FOUND)) == {
        "errorMsg": "Provision data was not found!", "status": "NOT_FOUND"}
    assert response_json(ProvisionResult(ProvisionStatus.FAILURE)) == {
        "errorMsg": "Failed to provision device!", "status": "FAILURE"}
