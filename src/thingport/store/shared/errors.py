"""Constraint violations -> the domain errors the store contract promises, with ThingsBoard's
messages, and the other messages both stores raise.

A dialect only finds out which unique key was violated and calls ``conflict``:

- by table and columns, ``conflict("device", ["tenant_id", "name"])`` (SQLite's message names
  them: ``UNIQUE constraint failed: device.tenant_id, device.name``);
- or by constraint name, ``conflict_for_constraint("device_tenant_id_name_key")``, for names in
  PostgreSQL's default style (``<table>_<columns>_key`` for UNIQUE, ``<table>_pkey`` for a
  primary key: ``constraint_name`` spells them); give an expression index (``lower(email)``)
  the name ``constraint_name`` gives its key (``user_email_lower_key``).

A key not listed gives "Duplicate <table>.<column>, ..." (or "Duplicate <name>").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from uuid import UUID

from thingport.errors import ConfigError, Conflict, NotFound

#: (table, key columns in order, is the primary key) -> ThingsBoard's message.
UNIQUE_KEYS: Final[dict[tuple[str, tuple[str, ...]], tuple[bool, str]]] = {
    ("device", ("tenant_id", "name")): (False, "Device with such name already exists!"),
    ("device", ("id",)): (True, "Device with such id already exists!"),
    ("device_credentials", ("credentials_id",)): (
        False, "Device credentials are already assigned to another device!"
    ),
    ("device_credentials", ("device_id",)): (False, "Device already has credentials!"),
    ("device_credentials", ("id",)): (True, "Device credentials with such id already exist!"),
    ("user", ("email_lower",)): (False, "User with such email already exists!"),
    ("user_credentials", ("activate_token",)): (False, "Activation token is already in use!"),
    ("customer", ("tenant_id", "title")): (False, "Customer with such title already exists!"),
    ("device_profile", ("tenant_id", "name")): (
        False, "Device profile with such name already exists!"
    ),
    ("device_profile", ("provision_device_key",)): (
        False, "Device profile with such provision device key already exists!"
    ),
    ("rpc", ("id",)): (True, "RPC with such id already exists!"),
    ("tenant_profile", ("name",)): (False, "Tenant profile with such name already exists!"),
    ("tenant_profile", ("is_default",)): (False, "Another default tenant profile is present!"),
    ("client_rpc", ("id",)): (True, "Client-side RPC with such id already exists!"),
    ("ota_package", ("device_profile_id", "type", "title", "version")): (
        False, "OtaPackage with such title and version already exists!"
    ),
}

#: A second package with the same title and version for the same profile and type.
OTA_DUPLICATE: Final = UNIQUE_KEYS[
    ("ota_package", ("device_profile_id", "type", "title", "version"))
][1]
#: delete_device_profile while a device still uses the profile.
PROFILE_IN_USE: Final = "The device profile is used by devices"
#: delete_tenant_profile while a tenant still has the profile.
TENANT_PROFILE_IN_USE: Final = "The tenant profile referenced by the tenants cannot be deleted!"
#: delete_ota_package while a device or a profile is assigned the package.
OTA_USED_BY_DEVICES: Final = "The otaPackage referenced by the devices cannot be deleted!"
OTA_USED_BY_PROFILE: Final = "The otaPackage referenced by the device profile cannot be deleted!"
#: commit_ota_upload for a package that has bytes or a URL already.
OTA_DATA_PROHIBITED: Final = "Updating otaPackage data is prohibited!"


def constraint_name(table: str, columns: Sequence[str], primary: bool = False) -> str:
    """PostgreSQL's default name of a key: ``<table>_pkey`` or ``<table>_<col>_<col>_key``."""
    return f"{table}_pkey" if primary else f"{table}_{'_'.join(columns)}_key"


_BY_NAME: Final[dict[str, str]] = {
    constraint_name(table, columns, primary): message
    for (table, columns), (primary, message) in UNIQUE_KEYS.items()
}


def conflict(table: str, columns: Sequence[str]) -> Conflict:
    """The Conflict for a violated unique key of ``table`` on ``columns`` (in key order)."""
    known = UNIQUE_KEYS.get((table, tuple(columns)))
    if known is not None:
        return Conflict(known[1])
    return Conflict("Duplicate " + ", ".join(f"{table}.{column}" for column in columns))


def conflict_for_constraint(name: str) -> Conflict:
    """The Conflict for a violated constraint named as ``constraint_name`` names it."""
    return Conflict(_BY_NAME.get(name, f"Duplicate {name}"))


def missing_reference() -> NotFound:
    """A foreign key violated on insert or update: what the row refers to does not exist."""
    return NotFound("A referenced entity does not exist")


def device_not_found(device_id: UUID) -> NotFound:
    """ThingsBoard's message for an unknown device."""
    return NotFound(f"Device with id [{device_id}] is not found")


def ota_package_not_found(package_id: UUID) -> NotFound:
    """ThingsBoard's message for an unknown OTA package."""
    return NotFound(f"OtaPackage with id [{package_id}] is not found")


class StoreMissing(ConfigError):
    """``open(create=False)`` found no store where it looked."""
