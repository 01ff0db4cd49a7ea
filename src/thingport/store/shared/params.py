"""Model -> statement parameters, in the column order of ``rows``' constants.

Every function takes ``uuid``, how the driver wants a UUID bound: ``str`` for SQLite (the
default; its columns hold UUIDs as text), ``as_is`` for asyncpg's ``uuid`` columns. JSON is
bound as compact text (asyncpg takes text for ``json``/``jsonb`` unless a codec is set);
booleans as ``bool`` (SQLite stores them as 0/1); enums as their values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import orjson

from thingport.domain.model import (
    ClientRpc,
    Customer,
    Device,
    DeviceCredentials,
    DeviceProfile,
    OtaPackage,
    Rpc,
    RpcStatus,
    Tenant,
    TenantProfile,
    User,
    UserCredentials,
)

#: How a UUID is bound.
UuidBinding = Callable[[UUID], Any]


def as_is(u: UUID) -> UUID:
    """Bind a UUID as itself (asyncpg)."""
    return u


def dumps(data: Any) -> str | None:
    """Compact JSON text, or None for None."""
    return None if data is None else orjson.dumps(data).decode()


def _opt(uuid: UuidBinding, u: UUID | None) -> Any:
    return None if u is None else uuid(u)


def tenant(t: Tenant, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``TENANT_COLUMNS``."""
    return (uuid(t.id), t.title, t.created_time, t.email, dumps(t.additional_info),
            _opt(uuid, t.tenant_profile_id))


def tenant_profile(p: TenantProfile, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``TENANT_PROFILE_COLUMNS``."""
    return (uuid(p.id), p.name, p.created_time, p.default, p.description,
            p.isolated_tb_rule_engine, orjson.dumps(p.profile_data).decode())


def customer(c: Customer, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``CUSTOMER_COLUMNS``."""
    return (
        uuid(c.id), uuid(c.tenant_id), c.title, c.created_time, c.email,
        dumps(c.additional_info),
    )


def user(u: User, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``USER_COLUMNS`` followed by ``email_lower`` (the email compared case-insensitively,
    the key of the unique index)."""
    return (
        uuid(u.id), _opt(uuid, u.tenant_id), _opt(uuid, u.customer_id), u.email,
        u.authority.value, u.created_time, u.first_name, u.last_name,
        dumps(u.additional_info), u.email.lower(),
    )


def user_credentials(c: UserCredentials, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``USER_CREDENTIALS_COLUMNS``."""
    return (uuid(c.user_id), c.password_hash, c.activate_token, c.enabled,
            c.failed_login_attempts, c.locked_at)


def profile(p: DeviceProfile, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``PROFILE_COLUMNS``."""
    return (
        uuid(p.id), uuid(p.tenant_id), p.name, p.created_time, p.default, p.description,
        p.type, p.transport_type, p.provision_type, p.provision_device_key,
        orjson.dumps(p.profile_data).decode(), _opt(uuid, p.firmware_id),
        _opt(uuid, p.software_id),
    )


def device(d: Device, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``DEVICE_COLUMNS``."""
    return (
        uuid(d.id), uuid(d.tenant_id), d.name, d.type, uuid(d.device_profile_id),
        d.created_time, _opt(uuid, d.customer_id), d.label, dumps(d.additional_info),
        _opt(uuid, d.firmware_id), _opt(uuid, d.software_id),
    )


def credentials(c: DeviceCredentials, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``CREDENTIALS_COLUMNS``."""
    return (
        uuid(c.id), uuid(c.device_id), c.created_time, c.credentials_type.value,
        c.credentials_id, c.credentials_value,
    )


def rpc(r: Rpc, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``RPC_COLUMNS``."""
    return (
        uuid(r.id), uuid(r.tenant_id), uuid(r.device_id), r.created_time, r.expiration_time,
        r.method, r.params, r.oneway, r.persistent, RpcStatus(r.status).value, r.request_id,
        r.response, dumps(r.additional_info), r.retries,
    )


def client_rpc(r: ClientRpc, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``CLIENT_RPC_COLUMNS``."""
    return (
        uuid(r.id), uuid(r.tenant_id), uuid(r.device_id), r.created_time, r.expiration_time,
        r.method, r.params, r.claimed, r.response,
    )


def ota_package(p: OtaPackage, uuid: UuidBinding = str) -> tuple[Any, ...]:
    """``OTA_INSERT_COLUMNS``."""
    return (
        uuid(p.id), uuid(p.tenant_id), uuid(p.device_profile_id), p.type.value, p.title,
        p.version, p.created_time, p.tag, p.url, p.file_name, p.content_type,
        p.checksum_algorithm.value if p.checksum_algorithm else None, p.checksum,
        p.data_size, dumps(p.additional_info),
    )
