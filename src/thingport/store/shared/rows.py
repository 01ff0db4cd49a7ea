"""Row -> model mappers, one per table, and the SELECT column list each expects.

A mapper takes any sequence indexed by position (a ``sqlite3`` tuple, an ``asyncpg.Record``)
whose columns are in the order of the table's ``*_COLUMNS`` constant, and accepts either
driver's values:

- UUIDs as text (SQLite) or ``uuid.UUID`` and its subclasses (asyncpg's); always returned as a
  plain ``uuid.UUID``;
- JSON as text, bytes or an already decoded object (``None`` stays ``None``);
- booleans as 0/1 or ``bool``.

Use the constants in the SELECT, ``prefixed`` for a join's aliased copy, and slice a joined
row by ``DEVICE_WIDTH`` and the like. ``OTA_COLUMNS`` contains an expression (``data_id IS NOT
NULL``) valid in both dialects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

import orjson

from thingport.domain.model import (
    Authority,
    ChecksumAlgorithm,
    ClaimWindow,
    ClientRpc,
    Customer,
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceInfo,
    DeviceProfile,
    OtaPackage,
    OtaPackageType,
    ProvisionType,
    Rpc,
    RpcStatus,
    Tenant,
    TenantProfile,
    User,
    UserCredentials,
)

Row = Sequence[Any]

TENANT_COLUMNS: Final = "id, title, created_time, email, additional_info, tenant_profile_id"
TENANT_PROFILE_COLUMNS: Final = (
    "id, name, created_time, is_default, description, isolated_tb_rule_engine, profile_data"
)
CUSTOMER_COLUMNS: Final = "id, tenant_id, title, created_time, email, additional_info"
USER_COLUMNS: Final = (
    "id, tenant_id, customer_id, email, authority, created_time, first_name, last_name, "
    "additional_info"
)
USER_CREDENTIALS_COLUMNS: Final = (
    "user_id, password_hash, activate_token, enabled, failed_login_attempts, locked_at"
)
PROFILE_COLUMNS: Final = (
    "id, tenant_id, name, created_time, is_default, description, type, transport_type, "
    "provision_type, provision_device_key, profile_data, firmware_id, software_id"
)
DEVICE_COLUMNS: Final = (
    "id, tenant_id, name, type, device_profile_id, created_time, customer_id, label, "
    "additional_info, firmware_id, software_id"
)
#: How many columns DEVICE_COLUMNS has: a joined row's device part is ``row[:DEVICE_WIDTH]``.
DEVICE_WIDTH: Final = len(DEVICE_COLUMNS.split(","))
CREDENTIALS_COLUMNS: Final = (
    "id, device_id, created_time, credentials_type, credentials_id, credentials_value"
)
RPC_COLUMNS: Final = (
    "id, tenant_id, device_id, created_time, expiration_time, method, params, oneway, "
    "persistent, status, request_id, response, additional_info, retries"
)
CLIENT_RPC_COLUMNS: Final = (
    "id, tenant_id, device_id, created_time, expiration_time, method, params, claimed, response"
)
#: ``claim_window`` without its key column (the caller knows the device).
CLAIM_WINDOW_COLUMNS: Final = "secret_key, expiration_time"
#: ``has_data`` is derived from ``data_id`` (the committed upload), not stored.
OTA_COLUMNS: Final = (
    "id, tenant_id, device_profile_id, type, title, version, created_time, tag, url, "
    "data_id IS NOT NULL, file_name, content_type, checksum_algorithm, checksum, data_size, "
    "additional_info"
)
#: The stored columns of OTA_COLUMNS, for an INSERT (``params.ota_package`` order).
OTA_INSERT_COLUMNS: Final = (
    "id, tenant_id, device_profile_id, type, title, version, created_time, tag, url, "
    "file_name, content_type, checksum_algorithm, checksum, data_size, additional_info"
)


def prefixed(columns: str, alias: str) -> str:
    """``columns`` qualified by a table alias: ``prefixed("id, name", "d")`` is
    ``"d.id, d.name"``."""
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


# -- driver values -----------------------------------------------------------------------------


def uuid_of(v: Any) -> UUID:
    """A plain ``uuid.UUID`` from text or from any UUID object (asyncpg's subclass included)."""
    if isinstance(v, str):
        return UUID(v)
    return v if type(v) is UUID else UUID(int=v.int)


def optional_uuid(v: Any) -> UUID | None:
    """``uuid_of``, with ``None`` for NULL."""
    return None if v is None else uuid_of(v)


def json_of(v: Any) -> Any:
    """A JSON column's value: text or bytes are parsed, a decoded object is returned as it is,
    NULL is ``None``."""
    if v is None:
        return None
    if isinstance(v, str | bytes | bytearray):
        return orjson.loads(v)
    return v


# -- mappers -----------------------------------------------------------------------------------


def tenant(r: Row) -> Tenant:
    """A ``TENANT_COLUMNS`` row."""
    return Tenant(uuid_of(r[0]), r[1], r[2], r[3], json_of(r[4]), optional_uuid(r[5]))


def tenant_profile(r: Row) -> TenantProfile:
    """A ``TENANT_PROFILE_COLUMNS`` row."""
    return TenantProfile(uuid_of(r[0]), r[1], r[2], bool(r[3]), r[4], bool(r[5]),
                         json_of(r[6]) or {})


def customer(r: Row) -> Customer:
    """A ``CUSTOMER_COLUMNS`` row."""
    return Customer(uuid_of(r[0]), uuid_of(r[1]), r[2], r[3], r[4], json_of(r[5]))


def user(r: Row) -> User:
    """A ``USER_COLUMNS`` row."""
    return User(
        uuid_of(r[0]), optional_uuid(r[1]), optional_uuid(r[2]), r[3], Authority(r[4]), r[5],
        r[6], r[7], json_of(r[8]),
    )


def user_credentials(r: Row) -> UserCredentials:
    """A ``USER_CREDENTIALS_COLUMNS`` row."""
    return UserCredentials(uuid_of(r[0]), r[1], r[2], bool(r[3]), int(r[4]), r[5])


def profile(r: Row) -> DeviceProfile:
    """A ``PROFILE_COLUMNS`` row."""
    return DeviceProfile(
        uuid_of(r[0]), uuid_of(r[1]), r[2], r[3], bool(r[4]), r[5], r[6], r[7],
        ProvisionType(r[8]), r[9], json_of(r[10]), optional_uuid(r[11]), optional_uuid(r[12]),
    )


def device(r: Row) -> Device:
    """A ``DEVICE_COLUMNS`` row (or the first ``DEVICE_WIDTH`` columns of a joined one)."""
    return Device(
        uuid_of(r[0]), uuid_of(r[1]), r[2], r[3], uuid_of(r[4]), r[5], optional_uuid(r[6]), r[7],
        json_of(r[8]), optional_uuid(r[9]), optional_uuid(r[10]),
    )


def credentials(r: Row) -> DeviceCredentials:
    """A ``CREDENTIALS_COLUMNS`` row."""
    return DeviceCredentials(
        uuid_of(r[0]), uuid_of(r[1]), r[2], DeviceCredentialsType(r[3]), r[4], r[5]
    )


def device_info(r: Row) -> DeviceInfo:
    """``DEVICE_COLUMNS`` followed by the profile's name, the customer's title, the active flag
    (0/1 or bool) and the last activity time (or NULL)."""
    width = len(r) - 4
    return DeviceInfo(
        device=device(r[:width]), device_profile_name=r[width], customer_title=r[width + 1],
        active=bool(r[width + 2]), last_activity_time=r[width + 3],
    )


def rpc(r: Row) -> Rpc:
    """An ``RPC_COLUMNS`` row."""
    return Rpc(
        uuid_of(r[0]), uuid_of(r[1]), uuid_of(r[2]), r[3], r[4], r[5], r[6], bool(r[7]),
        bool(r[8]), RpcStatus(r[9]), r[10], r[11], json_of(r[12]), r[13],
    )


def client_rpc(r: Row) -> ClientRpc:
    """A ``CLIENT_RPC_COLUMNS`` row."""
    return ClientRpc(
        uuid_of(r[0]), uuid_of(r[1]), uuid_of(r[2]), r[3], r[4], r[5], r[6], bool(r[7]), r[8]
    )


def claim_window(device_id: UUID, r: Row) -> ClaimWindow:
    """A ``CLAIM_WINDOW_COLUMNS`` row of the device's window."""
    return ClaimWindow(device_id, r[0], r[1])


def ota_package(r: Row) -> OtaPackage:
    """An ``OTA_COLUMNS`` row."""
    return OtaPackage(
        id=uuid_of(r[0]), tenant_id=uuid_of(r[1]), device_profile_id=uuid_of(r[2]),
        type=OtaPackageType(r[3]), title=r[4], version=r[5], created_time=r[6], tag=r[7],
        url=r[8], has_data=bool(r[9]), file_name=r[10], content_type=r[11],
        checksum_algorithm=ChecksumAlgorithm(r[12]) if r[12] is not None else None,
        checksum=r[13], data_size=r[14], additional_info=json_of(r[15]),
    )
