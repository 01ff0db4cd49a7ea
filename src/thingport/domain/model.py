"""The entities thingport keeps, as plain dataclasses shared by every layer."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

from thingport.errors import BadRequest

#: The range of a Java long, which ThingsBoard reads timestamps, ids and durations into.
LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1

#: ThingsBoard renders "no customer" and "no tenant" as this id, not as null.
NULL_UUID = UUID("13814000-1dd2-11b2-8080-808080808080")


class DataType(enum.StrEnum):
    """ThingsBoard's value types; a value keeps its type from upload to read-back."""

    BOOLEAN = "BOOLEAN"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    STRING = "STRING"
    JSON = "JSON"


class TypedValue:
    """What the entries below share: a key, its value's type, and the value (a JSON value as
    its compact JSON text), so that code reading values takes any of them.

    Each is pickled between worker processes (a history page of 10,000 entries crosses from
    the primary to a worker) as its class and fields alone, about three times cheaper than the
    default of a frozen dataclass with slots. Each writes its own ``__reduce__``: a shared one
    (``attrgetter`` of the fields) costs a quarter more.
    """

    __slots__ = ()

    key: str
    type: DataType
    value: bool | int | float | str


@dataclass(frozen=True, slots=True)
class KvEntry(TypedValue):
    """One typed key/value."""

    key: str
    type: DataType
    value: bool | int | float | str

    def __reduce__(self) -> tuple[Any, ...]:
        return KvEntry, (self.key, self.type, self.value)


@dataclass(frozen=True, slots=True)
class TsKvEntry(TypedValue):
    """A key/value with the time (ms since the epoch) it was measured."""

    ts: int
    key: str
    type: DataType
    value: bool | int | float | str

    def __reduce__(self) -> tuple[Any, ...]:
        return TsKvEntry, (self.ts, self.key, self.type, self.value)


@dataclass(frozen=True, slots=True)
class AttributeKvEntry(TypedValue):
    """An attribute with the time (ms) it was last written."""

    key: str
    type: DataType
    value: bool | int | float | str
    last_update_ts: int

    def __reduce__(self) -> tuple[Any, ...]:
        return AttributeKvEntry, (self.key, self.type, self.value, self.last_update_ts)


#: A telemetry upload: groups of entries, each group sharing one timestamp.
TelemetryBatch = list[tuple[int, list[KvEntry]]]


class AttributeScope(enum.StrEnum):
    CLIENT_SCOPE = "CLIENT_SCOPE"
    SERVER_SCOPE = "SERVER_SCOPE"
    SHARED_SCOPE = "SHARED_SCOPE"


class Aggregation(enum.StrEnum):
    NONE = "NONE"
    MIN = "MIN"
    MAX = "MAX"
    AVG = "AVG"
    SUM = "SUM"
    COUNT = "COUNT"


class Authority(enum.StrEnum):
    SYS_ADMIN = "SYS_ADMIN"
    TENANT_ADMIN = "TENANT_ADMIN"
    CUSTOMER_USER = "CUSTOMER_USER"


class ProvisionType(enum.StrEnum):
    """Whether a device profile lets devices provision themselves, and how."""

    DISABLED = "DISABLED"
    #: A new device is created in the profile.
    ALLOW_CREATE_NEW_DEVICES = "ALLOW_CREATE_NEW_DEVICES"
    #: A device of that name must already exist in the profile.
    CHECK_PRE_PROVISIONED_DEVICES = "CHECK_PRE_PROVISIONED_DEVICES"


class DeviceCredentialsType(enum.StrEnum):
    """How a device authenticates (ThingsBoard's DeviceCredentialsType)."""

    ACCESS_TOKEN = "ACCESS_TOKEN"
    MQTT_BASIC = "MQTT_BASIC"
    X509_CERTIFICATE = "X509_CERTIFICATE"


@dataclass(slots=True)
class Tenant:
    id: UUID
    title: str
    created_time: int
    email: str | None = None
    additional_info: dict[str, Any] | None = None
    #: None: whichever tenant profile is the default.
    tenant_profile_id: UUID | None = None


@dataclass(slots=True)
class TenantProfile:
    """ThingsBoard's tenant profile; ``profile_data`` is kept as given (its ``configuration``
    holds the rate limits, see ``domain.rate_limit``)."""

    id: UUID
    name: str
    created_time: int
    default: bool = False
    description: str | None = None
    isolated_tb_rule_engine: bool = False
    profile_data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Customer:
    id: UUID
    tenant_id: UUID
    title: str
    created_time: int
    email: str | None = None
    additional_info: dict[str, Any] | None = None


@dataclass(slots=True)
class User:
    id: UUID
    tenant_id: UUID | None
    customer_id: UUID | None
    email: str
    authority: Authority
    created_time: int
    first_name: str | None = None
    last_name: str | None = None
    additional_info: dict[str, Any] | None = None


@dataclass(slots=True)
class UserCredentials:
    """How a user proves who they are: a password hash, or an activation token until one is set;
    ``failed_login_attempts`` wrong passwords in a row, and ``locked_at`` (ms) when the security
    policy locked the account for them (``enabled`` is then False)."""

    user_id: UUID
    password_hash: str | None
    activate_token: str | None = None
    enabled: bool = True
    failed_login_attempts: int = 0
    locked_at: int | None = None


@dataclass(slots=True)
class DeviceProfile:
    id: UUID
    tenant_id: UUID
    name: str
    created_time: int
    default: bool = False
    description: str | None = None
    type: str = "DEFAULT"
    transport_type: str = "DEFAULT"
    provision_type: ProvisionType = ProvisionType.DISABLED
    provision_device_key: str | None = None
    profile_data: dict[str, Any] = field(default_factory=dict)
    firmware_id: UUID | None = None
    software_id: UUID | None = None

    @property
    def provision_device_secret(self) -> str | None:
        """The secret devices present with the provision key; kept where ThingsBoard's JSON
        has it, in ``profileData.provisionConfiguration.provisionDeviceSecret``."""
        config = self.profile_data.get("provisionConfiguration")
        secret = config.get("provisionDeviceSecret") if isinstance(config, dict) else None
        return secret if isinstance(secret, str) else None


@dataclass(slots=True)
class Device:
    id: UUID
    tenant_id: UUID
    name: str
    type: str
    device_profile_id: UUID
    created_time: int
    customer_id: UUID | None = None
    label: str | None = None
    additional_info: dict[str, Any] | None = None
    firmware_id: UUID | None = None
    software_id: UUID | None = None


@dataclass(slots=True)
class DeviceCredentials:
    id: UUID
    device_id: UUID
    created_time: int
    credentials_type: DeviceCredentialsType
    credentials_id: str
    credentials_value: str | None = None


#: ThingsBoard's device state, kept as SERVER_SCOPE attributes (DefaultDeviceStateService).
ACTIVE_ATTRIBUTE = "active"
LAST_ACTIVITY_TIME_ATTRIBUTE = "lastActivityTime"
INACTIVITY_ALARM_TIME_ATTRIBUTE = "inactivityAlarmTime"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device with what a device table shows beside it (ThingsBoard's DeviceInfo)."""

    device: Device
    device_profile_name: str
    customer_title: str | None
    #: The ``active`` server attribute; False when the device has none.
    active: bool
    #: The ``lastActivityTime`` server attribute (ms); None when unknown.
    last_activity_time: int | None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageLink:
    """A page request as ThingsBoard's REST API takes it."""

    page_size: int
    page: int = 0
    text_search: str | None = None
    sort_property: str | None = None
    sort_order: str = "ASC"

    def check(self) -> None:
        """BadRequest, with ThingsBoard's messages, for a page size below 1, a negative page or
        a sort order other than ASC or DESC (in any case)."""
        if self.page_size < 1:
            raise BadRequest("Page size must be greater than zero")
        if self.page < 0:
            raise BadRequest("Page must be positive integer")
        if self.sort_order.upper() not in ("ASC", "DESC"):
            raise BadRequest(f"Invalid sort order: {self.sort_order}")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    data: list[T]
    total_pages: int
    total_elements: int
    has_next: bool


class RpcStatus(enum.StrEnum):
    """A server-side RPC's life: QUEUED until a poll takes it, DELIVERED once written to the
    device, then SUCCESSFUL (replied), or TIMEOUT / EXPIRED / FAILED."""

    QUEUED = "QUEUED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    SUCCESSFUL = "SUCCESSFUL"
    TIMEOUT = "TIMEOUT"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    DELETED = "DELETED"


#: States after which nothing more happens to an RPC.
RPC_FINAL = frozenset(
    {RpcStatus.SUCCESSFUL, RpcStatus.TIMEOUT, RpcStatus.EXPIRED, RpcStatus.FAILED,
     RpcStatus.DELETED}
)


@dataclass(slots=True)
class Rpc:
    """A server-side command to a device. ``request_id`` is the per-device integer the device
    sees and replies to; ``params`` and ``response`` are JSON texts."""

    id: UUID
    tenant_id: UUID
    device_id: UUID
    created_time: int
    expiration_time: int
    method: str
    params: str
    oneway: bool
    persistent: bool
    status: RpcStatus = RpcStatus.QUEUED
    request_id: int = 0
    response: str | None = None
    additional_info: dict[str, Any] | None = None
    retries: int = 0


@dataclass(slots=True)
class ClientRpc:
    """A device's request to the server (client-side RPC), waiting for an application's answer."""

    id: UUID
    tenant_id: UUID
    device_id: UUID
    created_time: int
    expiration_time: int
    method: str
    params: str
    claimed: bool = False
    response: str | None = None


class ClaimResult(enum.StrEnum):
    """A customer user's claim of a device, as ThingsBoard answers it."""

    SUCCESS = "SUCCESS"
    #: The device has a customer already (whatever the key).
    CLAIMED = "CLAIMED"
    #: No open claim window, an expired one, or a wrong secret key.
    FAILURE = "FAILURE"


@dataclass(frozen=True, slots=True)
class ClaimWindow:
    """A device's offer to be claimed with ``secret_key`` until ``expiration_time`` (ms)."""

    device_id: UUID
    secret_key: str
    expiration_time: int


@dataclass(frozen=True, slots=True)
class AttributeChanges:
    """Shared-attribute changes not yet handed to the device, merged: later wins."""

    updated: list[AttributeKvEntry]
    deleted: list[str]

    def __bool__(self) -> bool:
        return bool(self.updated or self.deleted)


class OtaPackageType(enum.StrEnum):
    """What an OTA package updates; it decides the attribute prefix (``fw_`` or ``sw_``)."""

    FIRMWARE = "FIRMWARE"
    SOFTWARE = "SOFTWARE"


class ChecksumAlgorithm(enum.StrEnum):
    """ThingsBoard's checksum algorithms for OTA package data."""

    MD5 = "MD5"
    SHA256 = "SHA256"
    SHA384 = "SHA384"
    SHA512 = "SHA512"
    CRC32 = "CRC32"
    MURMUR3_32 = "MURMUR3_32"
    MURMUR3_128 = "MURMUR3_128"


@dataclass(slots=True)
class OtaPackage:
    """A firmware or software package of a device profile (ThingsBoard's OtaPackageInfo).

    It is either uploaded bytes (``has_data``, with their file name, content type, checksum and
    size) or an external ``url`` that devices fetch themselves. The bytes live in the store,
    never in this object.
    """

    id: UUID
    tenant_id: UUID
    device_profile_id: UUID
    type: OtaPackageType
    title: str
    version: str
    created_time: int
    tag: str | None = None
    url: str | None = None
    has_data: bool = False
    file_name: str | None = None
    content_type: str | None = None
    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum: str | None = None
    data_size: int | None = None
    additional_info: dict[str, Any] | None = None
