"""Tenants as the REST API saves and shows them: with a title and a tenant profile, and every
node's rate limits told when a tenant changes profile (the plain operations, which the CLI and
the first start use, are ``UserService``'s)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from thingport.domain.model import Authority, Tenant
from thingport.errors import BadRequest, NotFound, PermissionDenied
from thingport.services.auth import NOT_ALLOWED, Principal
from thingport.services.rate_limits import RateLimitService
from thingport.services.tenant_profiles import TenantProfileService
from thingport.services.users import UserService


class TenantService:
    """Save a tenant by the system administrator's rules; show one to whoever may see it."""

    def __init__(self, users: UserService, profiles: TenantProfileService,
                 rate_limits: RateLimitService) -> None:
        self._users = users
        self._profiles = profiles
        self._rate_limits = rate_limits

    async def save(self, tenant_id: UUID | None, title: object, *, email: Any = None,
                   additional_info: Any = None, profile_id: UUID | None = None) -> Tenant:
        """Create a tenant (``tenant_id`` None) or update one. Without ``profile_id`` it has
        the default profile, as ThingsBoard assigns it. BadRequest without a title, NotFound
        for an unknown tenant or profile. ``additional_info`` is kept on an update only."""
        if not isinstance(title, str) or not title.strip():
            raise BadRequest("Tenant title should be specified!")
        profile = await self._profiles.for_tenant(profile_id)
        if tenant_id is None:
            return await self._users.create_tenant(title, email, profile)
        tenant = await self._users.get_tenant(tenant_id)
        previous = tenant.tenant_profile_id
        tenant.title = title
        tenant.email = email
        tenant.additional_info = additional_info
        tenant.tenant_profile_id = profile
        await self._users.save_tenant(tenant)
        if previous != profile:
            await self._rate_limits.changed()
        return tenant

    async def get_as(self, caller: Principal, tenant_id: UUID) -> Tenant:
        """The tenant, if the caller may see it: a system administrator any, a tenant
        administrator its own (another is NotFound); a customer user none."""
        if caller.authority is Authority.CUSTOMER_USER:
            raise PermissionDenied(NOT_ALLOWED)
        if caller.authority is Authority.TENANT_ADMIN and caller.tenant_id != tenant_id:
            raise NotFound(f"Tenant with id [{tenant_id}] is not found")
        return await self._users.get_tenant(tenant_id)
