"""The entities part of the store contract: tenants, customers, users, device profiles, devices
with their credentials, and device infos (a device with its profile, customer and state).

The rules of ``thingport.store.base`` (committed before answering, Conflict for duplicates,
None for what does not exist) hold for every method.
"""

from __future__ import annotations

import abc
from typing import Any
from uuid import UUID

from thingport.domain.model import (
    Authority,
    Customer,
    Device,
    DeviceCredentials,
    DeviceInfo,
    DeviceProfile,
    Page,
    PageLink,
    Tenant,
    User,
    UserCredentials,
)


class EntityStore(abc.ABC):
    """Tenants, customers, users, device profiles, devices and their credentials."""

    # -- tenants, customers, users -------------------------------------------------------------
    @abc.abstractmethod
    async def save_tenant(self, tenant: Tenant) -> None:
        """Insert or update a tenant; one without ``tenant_profile_id`` is stored with the
        default tenant profile's, when there is one."""

    @abc.abstractmethod
    async def get_tenant(self, tenant_id: UUID) -> Tenant | None:
        """The tenant with this id."""

    @abc.abstractmethod
    async def find_tenants(self, page_link: PageLink) -> Page[Tenant]:
        """A page of tenants, searched and sorted by title."""

    @abc.abstractmethod
    async def save_customer(self, customer: Customer) -> None:
        """Insert or update a customer; a duplicate title in the tenant raises Conflict."""

    @abc.abstractmethod
    async def get_customer(self, customer_id: UUID) -> Customer | None:
        """The customer with this id."""

    @abc.abstractmethod
    async def find_customers(self, tenant_id: UUID, page_link: PageLink) -> Page[Customer]:
        """A page of the tenant's customers, searched and sorted by title."""

    @abc.abstractmethod
    async def delete_customer(self, customer_id: UUID) -> None:
        """Delete a customer, its users, and unassign its devices."""

    @abc.abstractmethod
    async def save_user(self, user: User, credentials: UserCredentials | None = None) -> None:
        """Insert or update a user (and its credentials when given); a duplicate email raises
        Conflict."""

    @abc.abstractmethod
    async def get_user(self, user_id: UUID) -> User | None:
        """The user with this id."""

    @abc.abstractmethod
    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively."""

    @abc.abstractmethod
    async def get_user_credentials(self, user_id: UUID) -> UserCredentials | None:
        """The user's password hash and activation state."""

    @abc.abstractmethod
    async def get_user_credentials_by_activate_token(self, token: str) -> UserCredentials | None:
        """The credentials waiting for activation with this token."""

    @abc.abstractmethod
    async def find_users(
        self, tenant_id: UUID | None, customer_id: UUID | None, page_link: PageLink,
        authority: Authority | None = None,
    ) -> Page[User]:
        """A page of users of a tenant (customer_id None: all of them) or of one customer,
        optionally only those of one authority."""

    @abc.abstractmethod
    async def delete_user(self, user_id: UUID) -> None:
        """Delete a user and its credentials."""

    @abc.abstractmethod
    async def count_users(self) -> int:
        """How many users exist; zero means a fresh store that needs its first administrators."""

    # -- login failures, locks and the system's settings ---------------------------------------
    @abc.abstractmethod
    async def add_failed_login(self, user_id: UUID) -> int:
        """Add one to the user's failed logins in a row, atomically (nodes sharing the store
        never lose a count); the new count, or 0 when the user has no credentials."""

    @abc.abstractmethod
    async def reset_failed_logins(self, user_id: UUID) -> None:
        """Set the user's failed logins in a row back to 0."""

    @abc.abstractmethod
    async def lock_user_credentials(self, user_id: UUID, locked_at: int) -> None:
        """Disable the credentials, locked by the security policy at ``locked_at`` (ms)."""

    @abc.abstractmethod
    async def unlock_user_credentials(self, user_id: UUID, locked_at: int) -> bool:
        """Enable the credentials with no failed logins, only if the policy's lock of
        ``locked_at`` still holds (not when someone unlocked or disabled them meanwhile);
        whether this call lifted it."""

    @abc.abstractmethod
    async def set_user_credentials_enabled(self, user_id: UUID, enabled: bool) -> bool:
        """An administrator enables (failed logins back to 0, any lock lifted) or disables
        (no delay lifts it) the credentials; False when the user has none."""

    @abc.abstractmethod
    async def get_admin_settings(self, key: str) -> dict[str, Any] | None:
        """The system-wide settings object stored under ``key`` (``securitySettings``)."""

    @abc.abstractmethod
    async def save_admin_settings(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``, replacing what was there."""

    # -- device profiles -----------------------------------------------------------------------
    @abc.abstractmethod
    async def save_device_profile(self, profile: DeviceProfile) -> None:
        """Insert or update a profile. Marking it default unmarks the tenant's previous default.
        A duplicate name, or a provision key used by another profile, raises Conflict."""

    @abc.abstractmethod
    async def get_device_profile(self, profile_id: UUID) -> DeviceProfile | None:
        """The profile with this id."""

    @abc.abstractmethod
    async def get_device_profile_by_name(self, tenant_id: UUID, name: str) -> DeviceProfile | None:
        """The tenant's profile with this name."""

    @abc.abstractmethod
    async def get_default_device_profile(self, tenant_id: UUID) -> DeviceProfile | None:
        """The tenant's default profile."""

    @abc.abstractmethod
    async def get_device_profile_by_provision_key(self, key: str) -> DeviceProfile | None:
        """The profile (of any tenant) whose provision device key is this."""

    @abc.abstractmethod
    async def find_device_profiles(
        self, tenant_id: UUID, page_link: PageLink
    ) -> Page[DeviceProfile]:
        """A page of the tenant's profiles, searched and sorted by name."""

    @abc.abstractmethod
    async def delete_device_profile(self, profile_id: UUID) -> None:
        """Delete a profile; the caller has checked that no device uses it."""

    @abc.abstractmethod
    async def count_devices_with_profile(self, profile_id: UUID) -> int:
        """How many devices use this profile."""

    # -- devices and credentials ---------------------------------------------------------------
    @abc.abstractmethod
    async def create_device(self, device: Device, credentials: DeviceCredentials) -> None:
        """Insert a device and its credentials in one transaction. A duplicate name in the tenant
        or a duplicate credentials id raises Conflict and stores nothing."""

    @abc.abstractmethod
    async def update_device(self, device: Device) -> None:
        """Update a device's fields; a duplicate name raises Conflict."""

    @abc.abstractmethod
    async def get_device(self, device_id: UUID) -> Device | None:
        """The device with this id."""

    @abc.abstractmethod
    async def get_device_by_name(self, tenant_id: UUID, name: str) -> Device | None:
        """The tenant's device with this exact name."""

    @abc.abstractmethod
    async def find_devices(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_type: str | None = None,
    ) -> Page[Device]:
        """A page of the tenant's devices (or only one customer's), searched by a
        case-insensitive "contains" on the name, sorted by name, type, label or createdTime."""

    @abc.abstractmethod
    async def find_device_infos(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_profile_id: UUID | None = None, active: bool | None = None,
    ) -> Page[DeviceInfo]:
        """A page of the tenant's devices (or only one customer's, or one profile's) with their
        profile's name, customer's title and state: ``active`` is the SERVER_SCOPE attribute
        ``active`` when it is the boolean true (else False), ``last_activity_time`` the LONG
        attribute ``lastActivityTime`` (else None). ``active`` True or False keeps only
        devices in that state. ``text_search`` is a case-insensitive "contains" on the name,
        label, profile name or customer title; sorted by createdTime (default), name, label,
        type, deviceProfileName or customerTitle."""

    @abc.abstractmethod
    async def find_stale_active_devices(
        self, before_ts: int, after: UUID | None, limit: int
    ) -> list[tuple[UUID, int | None]]:
        """Up to ``limit`` devices (of every tenant), in id order after the device ``after``,
        whose SERVER_SCOPE attribute ``active`` is the boolean true and whose LONG attribute
        ``lastActivityTime`` is older than ``before_ts`` or missing; each with that time."""

    @abc.abstractmethod
    async def delete_device(self, device_id: UUID) -> None:
        """Delete a device with its credentials, time series and attributes."""

    @abc.abstractmethod
    async def get_device_credentials(self, device_id: UUID) -> DeviceCredentials | None:
        """The device's credentials."""

    @abc.abstractmethod
    async def get_device_by_credentials_id(
        self, credentials_id: str
    ) -> tuple[Device, DeviceCredentials] | None:
        """The device whose credentials id (an access token, for ACCESS_TOKEN) is exactly this."""

    @abc.abstractmethod
    async def update_device_credentials(self, credentials: DeviceCredentials) -> None:
        """Replace the device's credentials; a credentials id used by another device raises
        Conflict."""
