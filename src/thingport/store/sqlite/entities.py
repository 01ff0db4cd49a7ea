"""The entities in SQLite: tenants, customers, users, device profiles, devices and credentials.

Every write is one operation of the writer (``_write``), every read one reader call; listings
page with ``store.shared.paging``'s rules (``read_page``). Device infos and the inactivity
check's query are in ``device_info.py``.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final
from uuid import UUID

from thingport.domain.model import (
    Authority,
    Customer,
    Device,
    DeviceCredentials,
    DeviceProfile,
    Page,
    PageLink,
    Tenant,
    User,
    UserCredentials,
)
from thingport.errors import Conflict
from thingport.store.base import EntityStore
from thingport.store.shared import paging
from thingport.store.shared.errors import PROFILE_IN_USE, device_not_found
from thingport.store.shared.params import credentials as _credentials_params
from thingport.store.shared.params import customer as _customer_params
from thingport.store.shared.params import device as _device_params
from thingport.store.shared.params import profile as _profile_params
from thingport.store.shared.params import tenant as _tenant_params
from thingport.store.shared.params import user as _user_params
from thingport.store.shared.params import user_credentials as _user_credentials_params
from thingport.store.shared.rows import (
    CREDENTIALS_COLUMNS,
    CUSTOMER_COLUMNS,
    DEVICE_COLUMNS,
    DEVICE_WIDTH,
    PROFILE_COLUMNS,
    TENANT_COLUMNS,
    USER_COLUMNS,
    USER_CREDENTIALS_COLUMNS,
    prefixed,
)
from thingport.store.shared.rows import credentials as _credentials
from thingport.store.shared.rows import customer as _customer
from thingport.store.shared.rows import device as _device
from thingport.store.shared.rows import profile as _profile
from thingport.store.shared.rows import tenant as _tenant
from thingport.store.shared.rows import user as _user
from thingport.store.shared.rows import user_credentials as _user_credentials
from thingport.store.sqlite.connection import read_page
from thingport.store.sqlite.device_info import SQLiteDeviceInfos
from thingport.store.sqlite.logins import SQLiteLogins
from thingport.store.sqlite.tx import Tx

_BY_CREDENTIALS_ID: Final = (
    f"SELECT {prefixed(DEVICE_COLUMNS, 'd')}, {prefixed(CREDENTIALS_COLUMNS, 'c')} "
    "FROM device_credentials c JOIN device d ON d.id = c.device_id WHERE c.credentials_id = ?"
)


def _s(uuid: UUID | None) -> str | None:
    return None if uuid is None else str(uuid)


class SQLiteEntities(SQLiteDeviceInfos, SQLiteLogins, EntityStore):
    """The store contract's entities part, for ``SQLiteStore``."""

    # -- tenants -----------------------------------------------------------------------------
    async def save_tenant(self, tenant: Tenant) -> None:
        """Insert or update a tenant (with the default tenant profile unless it names one)."""
        params = _tenant_params(tenant)

        def op(tx: Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO tenant ({TENANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, "
                "COALESCE(?, (SELECT id FROM tenant_profile WHERE is_default))) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, email = excluded.email, "
                "additional_info = excluded.additional_info, "
                "tenant_profile_id = excluded.tenant_profile_id",
                params,
            )

        await self._write(op)

    async def get_tenant(self, tenant_id: UUID) -> Tenant | None:
        """The tenant with this id."""
        return await self._one(
            f"SELECT {TENANT_COLUMNS} FROM tenant WHERE id = ?", (str(tenant_id),), _tenant
        )

    async def find_tenants(self, page_link: PageLink) -> Page[Tenant]:
        """A page of tenants, searched and sorted by title."""
        return await self._read(lambda c: read_page(c, paging.TENANTS, [], [], page_link, _tenant))

    # -- customers ---------------------------------------------------------------------------
    async def save_customer(self, customer: Customer) -> None:
        """Insert or update a customer; a duplicate title in the tenant raises Conflict."""
        params = _customer_params(customer)

        def op(tx: Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO customer ({CUSTOMER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, email = excluded.email, "
                "additional_info = excluded.additional_info",
                params,
            )

        await self._write(op)

    async def get_customer(self, customer_id: UUID) -> Customer | None:
        """The customer with this id."""
        return await self._one(
            f"SELECT {CUSTOMER_COLUMNS} FROM customer WHERE id = ?", (str(customer_id),), _customer
        )

    async def find_customers(self, tenant_id: UUID, page_link: PageLink) -> Page[Customer]:
        """A page of the tenant's customers, searched and sorted by title."""
        return await self._read(
            lambda c: read_page(
                c, paging.CUSTOMERS, ["tenant_id = ?"], [str(tenant_id)], page_link, _customer
            )
        )

    async def delete_customer(self, customer_id: UUID) -> None:
        """Delete a customer, its users, and unassign its devices."""
        # The foreign keys do the rest: users ON DELETE CASCADE (and their credentials with
        # them), devices ON DELETE SET NULL.
        def op(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM customer WHERE id = ?", (str(customer_id),))

        await self._write(op)

    # -- users -------------------------------------------------------------------------------
    async def save_user(self, user: User, credentials: UserCredentials | None = None) -> None:
        """Insert or update a user (and its credentials when given); a duplicate email raises
        Conflict."""
        if credentials is not None and credentials.user_id != user.id:
            raise ValueError("credentials.user_id must be the user's id")
        params = _user_params(user)

        def op(tx: Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO user ({USER_COLUMNS}, email_lower) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, "
                "customer_id = excluded.customer_id, email = excluded.email, "
                "email_lower = excluded.email_lower, authority = excluded.authority, "
                "first_name = excluded.first_name, last_name = excluded.last_name, "
                "additional_info = excluded.additional_info",
                params,
            )
            if credentials is not None:
                _upsert_user_credentials(tx.conn, credentials)

        await self._write(op)

    async def get_user(self, user_id: UUID) -> User | None:
        """The user with this id."""
        return await self._one(
            f"SELECT {USER_COLUMNS} FROM user WHERE id = ?", (str(user_id),), _user
        )

    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively."""
        return await self._one(
            f"SELECT {USER_COLUMNS} FROM user WHERE email_lower = ?", (email.lower(),), _user
        )

    async def get_user_credentials(self, user_id: UUID) -> UserCredentials | None:
        """The user's password hash and activation state."""
        return await self._one(
            f"SELECT {USER_CREDENTIALS_COLUMNS} FROM user_credentials WHERE user_id = ?",
            (str(user_id),), _user_credentials,
        )

    async def get_user_credentials_by_activate_token(self, token: str) -> UserCredentials | None:
        """The credentials waiting for activation with this token."""
        return await self._one(
            f"SELECT {USER_CREDENTIALS_COLUMNS} FROM user_credentials WHERE activate_token = ?",
            (token,), _user_credentials,
        )

    async def find_users(
        self, tenant_id: UUID | None, customer_id: UUID | None, page_link: PageLink,
        authority: Authority | None = None,
    ) -> Page[User]:
        """A page of users of a tenant (customer_id None: all of them) or of one customer,
        optionally only those of one authority. A tenant_id of None selects the users of no
        tenant (system administrators)."""
        where = ["tenant_id IS ?"]
        params: list[Any] = [_s(tenant_id)]
        if customer_id is not None:
            where.append("customer_id = ?")
            params.append(str(customer_id))
        if authority is not None:
            where.append("authority = ?")
            params.append(authority.value)
        return await self._read(
            lambda c: read_page(c, paging.USERS, where, params, page_link, _user)
        )

    async def delete_user(self, user_id: UUID) -> None:
        """Delete a user and its credentials."""
        def op(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM user WHERE id = ?", (str(user_id),))

        await self._write(op)

    async def count_users(self) -> int:
        """How many users exist; zero means a fresh store that needs its first administrators."""
        return await self._read(lambda c: int(c.execute("SELECT count(*) FROM user").fetchone()[0]))

    # -- device profiles ---------------------------------------------------------------------
    async def save_device_profile(self, profile: DeviceProfile) -> None:
        """Insert or update a profile. Marking it default unmarks the tenant's previous default.
        A duplicate name, or a provision key used by another profile, raises Conflict."""
        params = _profile_params(profile)

        def op(tx: Tx) -> None:
            if profile.default:
                tx.conn.execute(
                    "UPDATE device_profile SET is_default = 0 "
                    "WHERE tenant_id = ? AND is_default AND id <> ?",
                    (str(profile.tenant_id), str(profile.id)),
                )
            tx.conn.execute(
                f"INSERT INTO device_profile ({PROFILE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "is_default = excluded.is_default, description = excluded.description, "
                "type = excluded.type, transport_type = excluded.transport_type, "
                "provision_type = excluded.provision_type, "
                "provision_device_key = excluded.provision_device_key, "
                "profile_data = excluded.profile_data, firmware_id = excluded.firmware_id, "
                "software_id = excluded.software_id",
                params,
            )

        await self._write(op)

    async def get_device_profile(self, profile_id: UUID) -> DeviceProfile | None:
        """The profile with this id."""
        return await self._one(
            f"SELECT {PROFILE_COLUMNS} FROM device_profile WHERE id = ?", (str(profile_id),),
            _profile,
        )

    async def get_device_profile_by_name(self, tenant_id: UUID, name: str) -> DeviceProfile | None:
        """The tenant's profile with this name."""
        return await self._one(
            f"SELECT {PROFILE_COLUMNS} FROM device_profile WHERE tenant_id = ? AND name = ?",
            (str(tenant_id), name), _profile,
        )

    async def get_default_device_profile(self, tenant_id: UUID) -> DeviceProfile | None:
        """The tenant's default profile."""
        return await self._one(
            f"SELECT {PROFILE_COLUMNS} FROM device_profile WHERE tenant_id = ? AND is_default",
            (str(tenant_id),), _profile,
        )

    async def get_device_profile_by_provision_key(self, key: str) -> DeviceProfile | None:
        """The profile (of any tenant) whose provision device key is this."""
        return await self._one(
            f"SELECT {PROFILE_COLUMNS} FROM device_profile WHERE provision_device_key = ?",
            (key,), _profile,
        )

    async def find_device_profiles(
        self, tenant_id: UUID, page_link: PageLink
    ) -> Page[DeviceProfile]:
        """A page of the tenant's profiles, searched and sorted by name."""
        return await self._read(
            lambda c: read_page(
                c, paging.PROFILES, ["tenant_id = ?"], [str(tenant_id)], page_link, _profile
            )
        )

    async def delete_device_profile(self, profile_id: UUID) -> None:
        """Delete a profile; the caller has checked that no device uses it (if one still does,
        Conflict, and nothing is deleted)."""

        def op(tx: Tx) -> None:
            try:
                tx.conn.execute("DELETE FROM device_profile WHERE id = ?", (str(profile_id),))
            except sqlite3.IntegrityError as exc:
                raise Conflict(PROFILE_IN_USE) from exc

        await self._write(op)

    async def count_devices_with_profile(self, profile_id: UUID) -> int:
        """How many devices use this profile."""
        return await self._read(
            lambda c: int(
                c.execute(
                    "SELECT count(*) FROM device WHERE device_profile_id = ?", (str(profile_id),)
                ).fetchone()[0]
            )
        )

    # -- devices and credentials -------------------------------------------------------------
    async def create_device(self, device: Device, credentials: DeviceCredentials) -> None:
        """Insert a device and its credentials in one transaction. A duplicate name in the tenant
        or a duplicate credentials id raises Conflict and stores nothing."""
        if credentials.device_id != device.id:
            raise ValueError("credentials.device_id must be the device's id")
        device_params = _device_params(device)
        credentials_params = _credentials_params(credentials)

        def op(tx: Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO device ({DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                device_params,
            )
            tx.conn.execute(
                f"INSERT INTO device_credentials ({CREDENTIALS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                credentials_params,
            )

        await self._write(op)

    async def update_device(self, device: Device) -> None:
        """Update a device's fields (all but its id, tenant and creation time); a duplicate name
        raises Conflict, an unknown device NotFound."""
        params = _device_params(device)

        def op(tx: Tx) -> None:
            cur = tx.conn.execute(
                "UPDATE device SET name = ?3, type = ?4, device_profile_id = ?5, "
                "customer_id = ?7, label = ?8, additional_info = ?9, firmware_id = ?10, "
                "software_id = ?11 WHERE id = ?1",
                params,
            )
            if cur.rowcount == 0:
                raise device_not_found(device.id)

        await self._write(op)

    async def get_device(self, device_id: UUID) -> Device | None:
        """The device with this id."""
        return await self._one(
            f"SELECT {DEVICE_COLUMNS} FROM device WHERE id = ?", (str(device_id),), _device
        )

    async def get_device_by_name(self, tenant_id: UUID, name: str) -> Device | None:
        """The tenant's device with this exact name."""
        return await self._one(
            f"SELECT {DEVICE_COLUMNS} FROM device WHERE tenant_id = ? AND name = ?",
            (str(tenant_id), name), _device,
        )

    async def find_devices(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_type: str | None = None,
    ) -> Page[Device]:
        """A page of the tenant's devices (or only one customer's), whose name contains the
        search text case-insensitively (as ThingsBoard's repositories do), sorted by name, type,
        label or createdTime."""
        where = ["tenant_id = ?"]
        params: list[Any] = [str(tenant_id)]
        if customer_id is not None:
            where.append("customer_id = ?")
            params.append(str(customer_id))
        if device_type is not None:
            where.append("type = ?")
            params.append(device_type)
        return await self._read(
            lambda c: read_page(c, paging.DEVICES, where, params, page_link, _device)
        )

    async def delete_device(self, device_id: UUID) -> None:
        """Delete a device with its credentials, time series, attributes, pending
        shared-attribute changes, server- and client-side RPCs and claim window."""

        def op(tx: Tx) -> None:
            # Forget first: if this savepoint rolls back, a cache miss is harmless.
            tx.forget_device(device_id)
            row = tx.conn.execute(
                "SELECT seq FROM device WHERE id = ?", (str(device_id),)
            ).fetchone()
            if row is None:
                return
            seq = row[0]
            # No foreign keys on the hot tables (see the schema), so delete their rows here.
            for table in ("ts_kv", "ts_kv_log", "ts_kv_held", "ts_kv_latest", "attribute_kv",
                          "attribute_change"):
                tx.conn.execute(f"DELETE FROM {table} WHERE device = ?", (seq,))
            # These have cascading foreign keys too; deleting them here keeps this correct
            # on a connection where foreign keys are off.
            for table in ("rpc", "client_rpc", "claim_window"):
                tx.conn.execute(f"DELETE FROM {table} WHERE device_id = ?", (str(device_id),))
            tx.conn.execute("DELETE FROM device WHERE seq = ?", (seq,))

        await self._write(op)

    async def get_device_credentials(self, device_id: UUID) -> DeviceCredentials | None:
        """The device's credentials."""
        return await self._one(
            f"SELECT {CREDENTIALS_COLUMNS} FROM device_credentials WHERE device_id = ?",
            (str(device_id),), _credentials,
        )

    async def get_device_by_credentials_id(
        self, credentials_id: str
    ) -> tuple[Device, DeviceCredentials] | None:
        """The device whose credentials id (an access token, for ACCESS_TOKEN) is exactly this."""
        def read(conn: sqlite3.Connection) -> tuple[Device, DeviceCredentials] | None:
            row = conn.execute(_BY_CREDENTIALS_ID, (credentials_id,)).fetchone()
            if row is None:
                return None
            return _device(row[:DEVICE_WIDTH]), _credentials(row[DEVICE_WIDTH:])

        return await self._read(read)

    async def update_device_credentials(self, credentials: DeviceCredentials) -> None:
        """Replace the device's credentials (every field, keyed by device_id); a credentials id
        used by another device raises Conflict, a device without credentials NotFound."""
        params = _credentials_params(credentials)

        def op(tx: Tx) -> None:
            cur = tx.conn.execute(
                "UPDATE device_credentials SET id = ?1, created_time = ?3, "
                "credentials_type = ?4, credentials_id = ?5, credentials_value = ?6 "
                "WHERE device_id = ?2",
                params,
            )
            if cur.rowcount == 0:
                raise device_not_found(credentials.device_id)

        await self._write(op)


def _upsert_user_credentials(conn: sqlite3.Connection, c: UserCredentials) -> None:
    conn.execute(
        f"INSERT INTO user_credentials ({USER_CREDENTIALS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
        "activate_token = excluded.activate_token, enabled = excluded.enabled, "
        "failed_login_attempts = excluded.failed_login_attempts, locked_at = excluded.locked_at",
        _user_credentials_params(c),
    )
