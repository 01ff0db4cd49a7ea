"""ThingsBoard's provision request and answer JSON (``POST /api/v1/provision``), typed.

A request's text fields are read as Gson's ``getAsString`` reads them: numbers and booleans as
their text, an absent field as empty. The answer keeps ThingsBoard's key order:
``credentialsValue``, ``credentialsType``, ``status`` (or ``errorMsg``, ``status``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import orjson

from thingport.domain.gson import as_boolean, as_string
from thingport.domain.model import DeviceCredentials, DeviceCredentialsType
from thingport.errors import InvalidPayload

KEY_FIELD = "provisionDeviceKey"
SECRET_FIELD = "provisionDeviceSecret"


class ProvisionStatus(enum.StrEnum):
    """The outcome a device reads from the answer's ``status``."""

    SUCCESS = "SUCCESS"
    NOT_FOUND = "NOT_FOUND"
    FAILURE = "FAILURE"


#: ThingsBoard's ``errorMsg`` texts.
ERROR_MESSAGES = {
    ProvisionStatus.NOT_FOUND: "Provision data was not found!",
    ProvisionStatus.FAILURE: "Failed to provision device!",
}


@dataclass(frozen=True, slots=True)
class ProvisionRequest:
    """What a device asks for; a field it did not send is empty."""

    provision_device_key: str
    provision_device_secret: str = field(repr=False)
    device_name: str = ""
    credentials_type: DeviceCredentialsType = DeviceCredentialsType.ACCESS_TOKEN
    token: str = field(default="", repr=False)
    client_id: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    #: The X.509 certificate (PEM); ThingsBoard calls the field ``hash``.
    certificate: str = ""
    gateway: bool = False


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    """The outcome, with the device's credentials on SUCCESS."""

    status: ProvisionStatus
    credentials: DeviceCredentials | None = None


def request_from_json(body: Any) -> ProvisionRequest:
    """The request in a parsed body; InvalidPayload when it is not an object, lacks the key or
    the secret field, or names an unknown credentials type (ThingsBoard answers 500 to all)."""
    if not isinstance(body, dict):
        raise InvalidPayload("The provision request must be a JSON object")
    for required in (KEY_FIELD, SECRET_FIELD):
        if body.get(required) is None:
            raise InvalidPayload(f"Failed to find the field {required} in the provision request")
    kind = DeviceCredentialsType.ACCESS_TOKEN
    if body.get("credentialsType") is not None:
        name = as_string(body.get("credentialsType"), "credentialsType")
        try:
            kind = DeviceCredentialsType(name)
        except ValueError:
            raise InvalidPayload(f"Unknown credentialsType: {name}") from None
    return ProvisionRequest(
        provision_device_key=as_string(body.get(KEY_FIELD), KEY_FIELD),
        provision_device_secret=as_string(body.get(SECRET_FIELD), SECRET_FIELD),
        device_name=as_string(body.get("deviceName"), "deviceName"),
        credentials_type=kind,
        token=as_string(body.get("token"), "token"),
        client_id=as_string(body.get("clientId"), "clientId"),
        username=as_string(body.get("username"), "username"),
        password=as_string(body.get("password"), "password"),
        certificate=as_string(body.get("hash"), "hash"),
        gateway=as_boolean(body.get("gateway"), "gateway"),
    )


def response_json(result: ProvisionResult) -> dict[str, Any]:
    """The answer's JSON object, in ThingsBoard's key order."""
    if result.status is not ProvisionStatus.SUCCESS:
        return {"errorMsg": ERROR_MESSAGES[result.status], "status": result.status.value}
    credentials = result.credentials
    assert credentials is not None
    value: Any
    if credentials.credentials_type is DeviceCredentialsType.ACCESS_TOKEN:
        value = credentials.credentials_id
    elif credentials.credentials_type is DeviceCredentialsType.MQTT_BASIC:
        # Stored as JSON text; the answer carries it as an object.
        value = orjson.loads(credentials.credentials_value or "{}")
    else:
        value = credentials.credentials_value
    return {
        "credentialsValue": value,
        "credentialsType": credentials.credentials_type.value,
        "status": ProvisionStatus.SUCCESS.value,
    }
