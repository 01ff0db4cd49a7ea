"""Tenants, customers, users, device profiles, devices and their credentials on PostgreSQL.

Writes are group-committed (``PgCore._write``); a write's statements run in its own savepoint,
so a duplicate name (Conflict) leaves nothing of that write behind and nothing of its
neighbours undone. Row mapping, parameters, paging rules and conflict messages are shared with
the SQLite store (``store.shared``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
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
from thingport.store.postgresql.logins import PgLogins
from thingport.store.shared import paging, params, rows
from thingport.store.shared.errors import PROFILE_IN_USE, device_not_found

if TYPE_CHECKING:
    import asyncpg

_U: Final = params.as_is
_USERS: Final = paging.USERS.over("tb_user", rows.USER_COLUMNS)
_DEVICE_AND_CREDENTIALS: Final = (
    f"SELECT {rows.prefixed(rows.DEVICE_COLUMNS, 'd')}, "
    f"{rows.prefixed(rows.CREDENTIALS_COLUMNS, 'c')} FROM device_credentials c "
    "JOIN device d ON d.id = c.device_id WHERE c.credentials_id = $1"
)


def _placeholders(count: int, first: int = 1) -> str:
    return ", ".join(f"${n}" for n in range(first, first + count))


def _affected(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])


class PgEntities(PgLogins):
    """The store contract's tenants, customers, users, profiles, devices and credentials."""

    # -- tenants -------------------------------------------------------------------------------
    async def save_tenant(self, tenant: Tenant) -> None:
        """Insert or update a tenant (with the default tenant profile unless it names one)."""
        args = params.tenant(tenant, _U)

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                f"INSERT INTO tenant ({rows.TENANT_COLUMNS}) VALUES ({_placeholders(5)}, "
                "COALESCE($6, (SELECT id FROM tenant_profile WHERE is_default))) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, email = excluded.email, "
                "additional_info = excluded.additional_info, "
                "tenant_profile_id = excluded.tenant_profile_id",
                *args,
            )

        await self._write(op)

    async def get_tenant(self, tenant_id: UUID) -> Tenant | None:
        """The tenant with this id."""
        return await self._one(
            f"SELECT {rows.TENANT_COLUMNS} FROM tenant WHERE id = $1", [tenant_id], rows.tenant
        )

    async def find_tenants(self, page_link: PageLink) -> Page[Tenant]:
        """A page of tenants, searched and sorted by title."""
        return await self._page(paging.TENANTS, [], [], page_link, rows.tenant)

    # -- customers -----------------------------------------------------------------------------
    async def save_customer(self, customer: Customer) -> None:
        """Insert or update a customer; a duplicate title in the tenant raises Conflict."""
        args = params.customer(customer, _U)

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                f"INSERT INTO customer ({rows.CUSTOMER_COLUMNS}) VALUES ({_placeholders(6)}) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, email = excluded.email, "
                "additional_info = excluded.additional_info",
                *args,
            )

        await self._write(op)

    async def get_customer(self, customer_id: UUID) -> Customer | None:
        """The customer with this id."""
        return await self._one(
            f"SELECT {rows.CUSTOMER_COLUMNS} FROM customer WHERE id = $1", [customer_id],
            rows.customer,
        )

    async def find_customers(self, tenant_id: UUID, page_link: PageLink) -> Page[Customer]:
        """A page of the tenant's customers, searched and sorted by title."""
        return await self._page(
            paging.CUSTOMERS, ["tenant_id = $1"], [tenant_id], page_link, rows.customer
        )

    async def delete_customer(self, customer_id: UUID) -> None:
        """Delete a customer, its users, and unassign its devices."""
        # The foreign keys do the rest: users ON DELETE CASCADE (their credentials with them),
        # devices ON DELETE SET NULL.
        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute("DELETE FROM customer WHERE id = $1", customer_id)

        await self._write(op)

    # -- users ---------------------------------------------------------------------------------
    async def save_user(self, user: User, credentials: UserCredentials | None = None) -> None:
        """Insert or update a user (and its credentials when given); a duplicate email raises
        Conflict."""
        if credentials is not None and credentials.user_id != user.id:
            raise ValueError("credentials.user_id must be the user's id")
        args = params.user(user, _U)
        credential_args = None if credentials is None else params.user_credentials(
            credentials, _U
        )

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                f"INSERT INTO tb_user ({rows.USER_COLUMNS}, email_lower) "
                f"VALUES ({_placeholders(10)}) "
                "ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, "
                "customer_id = excluded.customer_id, email = excluded.email, "
                "email_lower = excluded.email_lower, authority = excluded.authority, "
                "first_name = excluded.first_name, last_name = excluded.last_name, "
                "additional_info = excluded.additional_info",
                *args,
            )
            if credential_args is not None:
                await conn.execute(
                    f"INSERT INTO user_credentials ({rows.USER_CREDENTIALS_COLUMNS}) "
                    f"VALUES ({_placeholders(6)}) ON CONFLICT (user_id) DO UPDATE SET "
                    "password_hash = excluded.password_hash, "
                    "activate_token = excluded.activate_token, enabled = excluded.enabled, "
                    "failed_login_attempts = excluded.failed_login_attempts, "
                    "locked_at = excluded.locked_at",
                    *credential_args,
                )

        await self._write(op)

    async def get_user(self, user_id: UUID) -> User | None:
        """The user with this id."""
        return await self._one(
            f"SELECT {rows.USER_COLUMNS} FROM tb_user WHERE id = $1", [user_id], rows.user
        )

    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively (Python's ``str.lower``, as
        the SQLite store folds it)."""
        return await self._one(
            f"SELECT {rows.USER_COLUMNS} FROM tb_user WHERE email_lower = $1", [email.lower()],
            rows.user,
        )

    async def get_user_credentials(self, user_id: UUID) -> UserCredentials | None:
        """The user's password hash and activation state."""
        return await self._one(
            f"SELECT {rows.USER_CREDENTIALS_COLUMNS} FROM user_credentials WHERE user_id = $1",
            [user_id], rows.user_credentials,
        )

    async def get_user_credentials_by_activate_token(self, token: str) -> UserCredentials | None:
        """The credentials waiting for activation with this token."""
        return await self._one(
            f"SELECT {rows.USER_CREDENTIALS_COLUMNS} FROM user_credentials "
            "WHERE activate_token = $1",
            [token], rows.user_credentials,
        )

    async def find_users(
        self, tenant_id: UUID | None, customer_id: UUID | None, page_link: PageLink,
        authority: Authority | None = None,
    ) -> Page[User]:
        """A page of users of a tenant (customer_id None: all of them) or of one customer,
        optionally only those of one authority. A tenant_id of None selects the users of no
        tenant (system administrators)."""
        where = ["tenant_id IS NOT DISTINCT FROM $1::uuid"]
        args: list[Any] = [tenant_id]
        if customer_id is not None:
            args.append(customer_id)
            where.append(f"customer_id = ${len(args)}")
        if authority is not None:
            args.append(authority.value)
            where.append(f"authority = ${len(args)}")
        return await self._page(_USERS, where, args, page_link, rows.user)

    async def delete_user(self, user_id: UUID) -> None:
        """Delete a user and its credentials."""
        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute("DELETE FROM tb_user WHERE id = $1", user_id)

        await self._write(op)

    async def count_users(self) -> int:
        """How many users exist; zero means a fresh store that needs its first administrators."""
        return int(await self._fetchval("SELECT count(*) FROM tb_user"))

    # -- device profiles -----------------------------------------------------------------------
    async def save_device_profile(self, profile: DeviceProfile) -> None:
        """Insert or update a profile. Marking it default unmarks the tenant's previous default.
        A duplicate name, or a provision key used by another profile, raises Conflict."""
        args = params.profile(profile, _U)

        async def op(conn: asyncpg.Connection) -> None:
            if profile.default:
                await conn.execute(
                    "UPDATE device_profile SET is_default = false "
                    "WHERE tenant_id = $1 AND is_default AND id <> $2",
                    profile.tenant_id, profile.id,
                )
            await conn.execute(
                f"INSERT INTO device_profile ({rows.PROFILE_COLUMNS}) "
                f"VALUES ({_placeholders(13)}) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "is_default = excluded.is_default, description = excluded.description, "
                "type = excluded.type, transport_type = excluded.transport_type, "
                "provision_type = excluded.provision_type, "
                "provision_device_key = excluded.provision_device_key, "
                "profile_data = excluded.profile_data, firmware_id = excluded.firmware_id, "
                "software_id = excluded.software_id",
                *args,
            )

        await self._write(op)

    async def get_device_profile(self, profile_id: UUID) -> DeviceProfile | None:
        """The profile with this id."""
        return await self._one(
            f"SELECT {rows.PROFILE_COLUMNS} FROM device_profile WHERE id = $1", [profile_id],
            rows.profile,
        )

    async def get_device_profile_by_name(self, tenant_id: UUID, name: str) -> DeviceProfile | None:
        """The tenant's profile with this name."""
        return await self._one(
            f"SELECT {rows.PROFILE_COLUMNS} FROM device_profile WHERE tenant_id = $1 "
            "AND name = $2",
            [tenant_id, name], rows.profile,
        )

    async def get_default_device_profile(self, tenant_id: UUID) -> DeviceProfile | None:
        """The tenant's default profile."""
        return await self._one(
            f"SELECT {rows.PROFILE_COLUMNS} FROM device_profile WHERE tenant_id = $1 "
            "AND is_default",
            [tenant_id], rows.profile,
        )

    async def get_device_profile_by_provision_key(self, key: str) -> DeviceProfile | None:
        """The profile (of any tenant) whose provision device key is this."""
        return await self._one(
            f"SELECT {rows.PROFILE_COLUMNS} FROM device_profile WHERE provision_device_key = $1",
            [key], rows.profile,
        )

    async def find_device_profiles(
        self, tenant_id: UUID, page_link: PageLink
    ) -> Page[DeviceProfile]:
        """A page of the tenant's profiles, searched and sorted by name."""
        return await self._page(
            paging.PROFILES, ["tenant_id = $1"], [tenant_id], page_link, rows.profile
        )

    async def delete_device_profile(self, profile_id: UUID) -> None:
        """Delete a profile; the caller has checked that no device uses it (if one still does,
        Conflict, and nothing is deleted)."""
        import asyncpg

        async def op(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute("DELETE FROM device_profile WHERE id = $1", profile_id)
            except asyncpg.ForeignKeyViolationError as exc:
                raise Conflict(PROFILE_IN_USE) from exc

        await self._write(op)

    async def count_devices_with_profile(self, profile_id: UUID) -> int:
        """How many devices use this profile."""
        return int(await self._fetchval(
            "SELECT count(*) FROM device WHERE device_profile_id = $1", profile_id
        ))

    # -- devices and credentials ---------------------------------------------------------------
    async def create_device(self, device: Device, credentials: DeviceCredentials) -> None:
        """Insert a device and its credentials in one transaction. A duplicate name in the tenant
        or a duplicate credentials id raises Conflict and stores nothing."""
        if credentials.device_id != device.id:
            raise ValueError("credentials.device_id must be the device's id")
        device_args = params.device(device, _U)
        credential_args = params.credentials(credentials, _U)

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                f"INSERT INTO device ({rows.DEVICE_COLUMNS}) VALUES ({_placeholders(11)})",
                *device_args,
            )
            await conn.execute(
                f"INSERT INTO device_credentials ({rows.CREDENTIALS_COLUMNS}) "
                f"VALUES ({_placeholders(6)})",
                *credential_args,
            )

        await self._write(op, device.id)

    async def update_device(self, device: Device) -> None:
        """Update a device's fields (all but its id, tenant and creation time); a duplicate name
        raises Conflict, an unknown device NotFound."""
        a = params.device(device, _U)
        # DEVICE_COLUMNS order: id, tenant_id, name, type, device_profile_id, created_time,
        # customer_id, label, additional_info, firmware_id, software_id.
        args = (a[0], a[2], a[3], a[4], a[6], a[7], a[8], a[9], a[10])

        async def op(conn: asyncpg.Connection) -> None:
            status = await conn.execute(
                "UPDATE device SET name = $2, type = $3, device_profile_id = $4, "
                "customer_id = $5, label = $6, additional_info = $7, firmware_id = $8, "
                "software_id = $9 WHERE id = $1",
                *args,
            )
            if _affected(status) == 0:
                raise device_not_found(device.id)

        await self._write(op, device.id)

    async def get_device(self, device_id: UUID) -> Device | None:
        """The device with this id."""
        return await self._one(
            f"SELECT {rows.DEVICE_COLUMNS} FROM device WHERE id = $1", [device_id], rows.device
        )

    async def get_device_by_name(self, tenant_id: UUID, name: str) -> Device | None:
        """The tenant's device with this exact name."""
        return await self._one(
            f"SELECT {rows.DEVICE_COLUMNS} FROM device WHERE tenant_id = $1 AND name = $2",
            [tenant_id, name], rows.device,
        )

    async def find_devices(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_type: str | None = None,
    ) -> Page[Device]:
        """A page of the tenant's devices (or only one customer's), whose name contains the
        search text case-insensitively, sorted by name, type, label or createdTime."""
        where = ["tenant_id = $1"]
        args: list[Any] = [tenant_id]
        if customer_id is not None:
            args.append(customer_id)
            where.append(f"customer_id = ${len(args)}")
        if device_type is not None:
            args.append(device_type)
            where.append(f"type = ${len(args)}")
        return await self._page(paging.DEVICES, where, args, page_link, rows.device)

    async def delete_device(self, device_id: UUID) -> None:
        """Delete a device with its credentials, time series, attributes, pending
        shared-attribute changes, server- and client-side RPCs and claim window."""

        async def op(conn: asyncpg.Connection) -> None:
            # The device row first: its lock makes a concurrent batch of this device's samples
            # (which holds FOR KEY SHARE on it) finish before the rows below are deleted, and
            # a later one find no device. Credentials, RPCs, client RPCs and the claim window
            # go by their cascading foreign keys.
            gone = await conn.fetchval("DELETE FROM device WHERE id = $1 RETURNING id", device_id)
            if gone is None:
                return
            for table in ("ts_kv", "ts_kv_latest", "attribute_kv", "attribute_change"):
                await conn.execute(f"DELETE FROM {table} WHERE entity_id = $1", device_id)

        await self._write(op, device_id)

    async def get_device_credentials(self, device_id: UUID) -> DeviceCredentials | None:
        """The device's credentials."""
        return await self._one(
            f"SELECT {rows.CREDENTIALS_COLUMNS} FROM device_credentials WHERE device_id = $1",
            [device_id], rows.credentials,
        )

    async def get_device_by_credentials_id(
        self, credentials_id: str
    ) -> tuple[Device, DeviceCredentials] | None:
        """The device whose credentials id (an access token, for ACCESS_TOKEN) is exactly this."""
        row = await self._fetchrow(_DEVICE_AND_CREDENTIALS, credentials_id)
        if row is None:
            return None
        width = rows.DEVICE_WIDTH
        values = tuple(row)
        return rows.device(values[:width]), rows.credentials(values[width:])

    async def update_device_credentials(self, credentials: DeviceCredentials) -> None:
        """Replace the device's credentials (every field, keyed by device_id); a credentials id
        used by another device raises Conflict, a device without credentials NotFound."""
        args = params.credentials(credentials, _U)

        async def op(conn: asyncpg.Connection) -> None:
            status = await conn.execute(
                "UPDATE device_credentials SET id = $1, created_time = $3, "
                "credentials_type = $4, credentials_id = $5, credentials_value = $6 "
                "WHERE device_id = $2",
                *args,
            )
            if _affected(status) == 0:
                raise device_not_found(credentials.device_id)

        await self._write(op, credentials.device_id)
