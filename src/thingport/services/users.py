"""Tenants, users and the first start of an empty store.

The REST API's rules of who may create, see and change which user are here (the ``*_as``
methods, which take the caller): a system administrator creates tenant administrators and sees
everyone; a tenant administrator creates and changes its own tenant's users (administrators and
customer users), never a system administrator; anyone sees themselves. A user the caller may
not see is NotFound, as if it did not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import (
    Authority,
    Page,
    PageLink,
    Tenant,
    User,
    UserCredentials,
)
from thingport.errors import BadRequest, Conflict, NotFound, PermissionDenied
from thingport.services.auth import NOT_ALLOWED, Principal
from thingport.services.customers import customer_of
from thingport.services.passwords import Passwords
from thingport.services.security_settings import SecuritySettingsService
from thingport.services.tokens import random_alphanumeric
from thingport.store.base import EntityStore

DEFAULT_TENANT_TITLE = "Tenant"


@dataclass(frozen=True)
class FirstLogin:
    """A login created on first start, to be shown once."""

    email: str
    password: str
    authority: Authority
    generated: bool


@dataclass(frozen=True)
class UserDraft:
    """A user as ``POST /api/user`` describes it: ``user_id`` None creates one. ``email``
    None keeps the current one (a new user without one is refused)."""

    authority: Authority
    tenant_id: UUID | None = None
    customer_id: UUID | None = None
    user_id: UUID | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    #: Kept on an update only, as given (ThingsBoard's free-form JSON).
    additional_info: Any = None


class UserService:
    """Tenants and users, and the administrators a fresh store starts with."""

    def __init__(self, store: EntityStore, passwords: Passwords | None = None,
                 security: SecuritySettingsService | None = None) -> None:
        self._store = store
        self._passwords = passwords or Passwords()
        self._security = security or SecuritySettingsService(store)

    async def bootstrap(
        self,
        sysadmin_email: str,
        sysadmin_password: str | None,
        tenant_admin_email: str,
        tenant_admin_password: str | None,
    ) -> list[FirstLogin]:
        """On an empty store, create the system administrator, a default tenant and its
        administrator; passwords not given are generated. Returns what was created."""
        if await self._store.count_users() > 0:
            return []
        created = []
        sys_password = sysadmin_password or random_alphanumeric(16)
        try:
            await self.create_user(
                None, None, sysadmin_email, Authority.SYS_ADMIN, password=sys_password
            )
        except Conflict:
            # Another node sharing the store, started at the same moment, got there first
            # (the email is unique): it creates the rest.
            return []
        created.append(FirstLogin(sysadmin_email, sys_password, Authority.SYS_ADMIN,
                                  sysadmin_password is None))
        tenant = await self.create_tenant(DEFAULT_TENANT_TITLE)
        tenant_password = tenant_admin_password or random_alphanumeric(16)
        await self.create_user(
            tenant.id, None, tenant_admin_email, Authority.TENANT_ADMIN, password=tenant_password
        )
        created.append(FirstLogin(tenant_admin_email, tenant_password, Authority.TENANT_ADMIN,
                                  tenant_admin_password is None))
        return created

    async def default_tenant(self) -> Tenant:
        """The tenant that commands without ``--tenant`` work on: the oldest one."""
        page = await self._store.find_tenants(PageLink(1, 0, sort_property="createdTime"))
        if not page.data:
            raise NotFound("No tenant exists yet")
        return page.data[0]

    async def create_tenant(self, title: str, email: str | None = None,
                            tenant_profile_id: UUID | None = None) -> Tenant:
        """Create a tenant (with the default tenant profile unless one is named)."""
        if not title or not title.strip():
            raise BadRequest("Tenant title should be specified!")
        tenant = Tenant(id=uuid.uuid4(), title=title, created_time=now_ms(), email=email,
                        tenant_profile_id=tenant_profile_id)
        await self._store.save_tenant(tenant)
        return tenant

    async def save_tenant(self, tenant: Tenant) -> Tenant:
        """Update a tenant."""
        await self._store.save_tenant(tenant)
        return tenant

    async def get_tenant(self, tenant_id: UUID) -> Tenant:
        """The tenant, or NotFound."""
        tenant = await self._store.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"Tenant with id [{tenant_id}] is not found")
        return tenant

    async def find_tenants(self, page_link: PageLink) -> Page[Tenant]:
        """A page of tenants."""
        return await self._store.find_tenants(page_link)

    async def create_user(
        self,
        tenant_id: UUID | None,
        customer_id: UUID | None,
        email: str,
        authority: Authority,
        *,
        password: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> tuple[User, UserCredentials]:
        """Create a user; without a password it waits for activation with a token. A password
        must follow the security settings' password policy (BadRequest)."""
        if not email or "@" not in email:
            raise BadRequest(f"Invalid email address format '{email}'!")
        if password is not None:
            await self._security.check_password(password)
        user = User(
            id=uuid.uuid4(), tenant_id=tenant_id, customer_id=customer_id, email=email.strip(),
            authority=authority, created_time=now_ms(), first_name=first_name,
            last_name=last_name,
        )
        if password is not None:
            credentials = UserCredentials(user.id, await self._passwords.hash(password))
        else:
            credentials = UserCredentials(
                user.id, None, activate_token=random_alphanumeric(30), enabled=False
            )
        await self._store.save_user(user, credentials)
        return user, credentials

    async def get_user(self, user_id: UUID) -> User:
        """The user, or NotFound."""
        user = await self._store.get_user(user_id)
        if user is None:
            raise NotFound(f"User with id [{user_id}] is not found")
        return user

    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this email, if any."""
        return await self._store.get_user_by_email(email)

    async def update_user(self, user: User) -> User:
        """Save changed user fields."""
        await self._store.save_user(user)
        return user

    async def set_password(self, email: str, password: str) -> User:
        """Give the user with this e-mail a new password (a lost one reset, by the CLI): it
        must follow the password policy (BadRequest); the account is enabled, any lockout
        lifted and a pending activation dropped. NotFound for an unknown e-mail."""
        user = await self._by_email(email)
        await self._save_password(user, password)
        return user

    async def unlock(self, email: str) -> User:
        """Unlock the account with this e-mail (also one an administrator disabled): enabled,
        with no failed logins counted. NotFound for an unknown e-mail."""
        user = await self._by_email(email)
        await self.set_credentials_enabled(user.id, True)
        return user

    async def set_credentials_enabled(self, user_id: UUID, enabled: bool) -> None:
        """ThingsBoard's ``userCredentialsEnabled``: enable (which also unlocks an account
        locked by the security policy) or disable a user's credentials."""
        if not await self._store.set_user_credentials_enabled(user_id, enabled):
            raise NotFound(f"User credentials for user [{user_id}] are not found")

    async def credentials(self, user_id: UUID) -> UserCredentials | None:
        """The user's credentials (whether enabled, activated, locked), if any."""
        return await self._store.get_user_credentials(user_id)

    async def _by_email(self, email: str) -> User:
        user = await self._store.get_user_by_email(email)
        if user is None:
            raise NotFound(f"User with email [{email}] is not found")
        return user

    async def _save_password(self, user: User, password: str) -> None:
        await self._security.check_password(password)
        await self._store.save_user(
            user, UserCredentials(user.id, await self._passwords.hash(password), None, True),
        )

    async def activation_token(self, user_id: UUID) -> str | None:
        """The token a not yet activated user needs to set a password."""
        credentials = await self._store.get_user_credentials(user_id)
        return credentials.activate_token if credentials else None

    async def activate(self, activate_token: str, password: str) -> User:
        """Set the password of the user waiting with this activation token."""
        credentials = await self._store.get_user_credentials_by_activate_token(activate_token)
        if credentials is None:
            raise NotFound("Unable to find user credentials by activate token")
        user = await self.get_user(credentials.user_id)
        await self._save_password(user, password)
        return user

    async def find_users(
        self, tenant_id: UUID | None, customer_id: UUID | None, page_link: PageLink,
        authority: Authority | None = None,
    ) -> Page[User]:
        """A page of a tenant's or a customer's users, optionally of one authority."""
        return await self._store.find_users(tenant_id, customer_id, page_link, authority)

    async def delete_user(self, user_id: UUID) -> None:
        """Delete a user."""
        await self._store.delete_user(user_id)

    async def save_user_as(self, caller: Principal, draft: UserDraft) -> User:
        """Create or update a user on the caller's behalf. A system administrator creates
        tenant administrators of an existing tenant; a tenant administrator creates its
        tenant's administrators and its customers' users, and changes its tenant's users.
        BadRequest, PermissionDenied or NotFound otherwise."""
        tenant_id, customer_id = await self._scope_of_new_user(caller, draft)
        if draft.user_id is None:
            user, _ = await self.create_user(
                tenant_id, customer_id, draft.email or "", draft.authority,
                first_name=draft.first_name, last_name=draft.last_name,
            )
            return user
        user = await self._managed_user(caller, draft.user_id)
        user.email = draft.email or user.email
        user.first_name = draft.first_name
        user.last_name = draft.last_name
        user.additional_info = draft.additional_info
        return await self.update_user(user)

    async def get_user_as(self, caller: Principal, user_id: UUID) -> User:
        """The user, if the caller may see it: a system administrator anyone, a tenant
        administrator its tenant's users, anyone themselves. NotFound otherwise."""
        user = await self.get_user(user_id)
        visible = (
            caller.authority is Authority.SYS_ADMIN
            or user.id == caller.user_id
            or (caller.authority is Authority.TENANT_ADMIN and user.tenant_id == caller.tenant_id)
        )
        if not visible:
            raise NotFound(f"User with id [{user.id}] is not found")
        return user

    async def set_credentials_enabled_as(self, caller: Principal, user_id: UUID,
                                         enabled: bool) -> None:
        """``set_credentials_enabled`` on the caller's behalf: a system administrator for
        anyone, a tenant administrator for its tenant's users."""
        user = await self._managed_user(caller, user_id)
        await self.set_credentials_enabled(user.id, enabled)

    async def activation_token_as(self, caller: Principal, user_id: UUID) -> str:
        """The activation token of a user the caller manages (as in
        ``set_credentials_enabled_as``); BadRequest once the user is activated."""
        user = await self._managed_user(caller, user_id)
        token = await self.activation_token(user.id)
        if token is None:
            raise BadRequest("User is already activated!")
        return token

    async def _managed_user(self, caller: Principal, user_id: UUID) -> User:
        """The user, if the caller may change it."""
        if caller.authority not in (Authority.SYS_ADMIN, Authority.TENANT_ADMIN):
            raise PermissionDenied(NOT_ALLOWED)
        user = await self.get_user(user_id)
        if caller.authority is Authority.TENANT_ADMIN and user.tenant_id != caller.tenant_id:
            raise NotFound(f"User with id [{user_id}] is not found")
        return user

    async def _scope_of_new_user(self, caller: Principal,
                                 draft: UserDraft) -> tuple[UUID, UUID | None]:
        """The tenant and customer a user saved by the caller belongs to, by the rules of
        ``save_user_as`` (an update is checked too)."""
        if caller.authority is Authority.SYS_ADMIN:
            if draft.authority is not Authority.TENANT_ADMIN or draft.tenant_id is None:
                raise BadRequest("A system administrator creates tenant administrators of a "
                                 "tenant")
            await self.get_tenant(draft.tenant_id)
            return draft.tenant_id, None
        if (caller.authority is not Authority.TENANT_ADMIN or caller.tenant_id is None
                or draft.authority is Authority.SYS_ADMIN):
            raise PermissionDenied(NOT_ALLOWED)
        if draft.authority is Authority.TENANT_ADMIN:
            return caller.tenant_id, None
        if draft.customer_id is None:
            raise BadRequest("A customer user needs a customerId")
        await customer_of(self._store, caller.tenant_id, draft.customer_id)
        return caller.tenant_id, draft.customer_id
