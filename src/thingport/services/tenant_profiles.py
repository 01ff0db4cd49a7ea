"""Tenant profiles, as the system administrator manages them (ThingsBoard's rules).

One profile is the default, created on first start: a tenant that names none has it. A
profile's ``profileData`` is kept as given, unknown fields included; only the transport rate
limits of its ``configuration`` are read (``domain.rate_limit``), and checked when it is saved.
Every change is announced to every node's rate limits (``RateLimitService.changed``).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import Page, PageLink, TenantProfile
from thingport.domain.rate_limit import TransportLimits
from thingport.errors import BadRequest, Conflict, NotFound
from thingport.services.rate_limits import RateLimitService
from thingport.store.base import Store

DEFAULT_NAME = "Default"
DEFAULT_DESCRIPTION = "Default tenant profile"


def default_profile_data() -> dict[str, Any]:
    """ThingsBoard's profile data of a new profile: a DEFAULT configuration, no limits."""
    return {"configuration": {"type": "DEFAULT"}}


def check_profile_data(profile_data: Any) -> dict[str, Any]:
    """``profile_data`` if ThingsBoard would save it and its rate limits parse; BadRequest
    naming the field otherwise."""
    if not isinstance(profile_data, dict):
        raise BadRequest("Tenant profile data should be specified!")
    configuration = profile_data.get("configuration")
    if not isinstance(configuration, dict):
        raise BadRequest("Tenant profile data configuration should be specified!")
    try:
        TransportLimits.from_configuration(configuration)
    except ValueError as exc:
        raise BadRequest(f"profileData.configuration.{exc}") from None
    return profile_data


class TenantProfileService:
    """Create, find, change and delete tenant profiles; pick the default one."""

    def __init__(self, store: Store, rate_limits: RateLimitService) -> None:
        self._store = store
        self._rate_limits = rate_limits

    async def default_profile(self) -> TenantProfile:
        """The default profile, created (named "Default", no limits) when there is none."""
        profile = await self._store.get_default_tenant_profile()
        if profile is not None:
            return profile
        profile = TenantProfile(
            id=uuid.uuid4(), name=DEFAULT_NAME, created_time=now_ms(), default=True,
            description=DEFAULT_DESCRIPTION, profile_data=default_profile_data(),
        )
        try:
            await self._store.save_tenant_profile(profile)
        except Conflict:
            # Another node created it first (or a profile already has the name).
            existing = await self._store.get_default_tenant_profile()
            if existing is None:
                raise
            return existing
        await self._rate_limits.changed()
        return profile

    async def get(self, profile_id: UUID) -> TenantProfile:
        """The profile, or NotFound."""
        profile = await self._store.get_tenant_profile(profile_id)
        if profile is None:
            raise NotFound(f"Tenant profile with id [{profile_id}] is not found")
        return profile

    async def find(self, page_link: PageLink) -> Page[TenantProfile]:
        """A page of profiles."""
        return await self._store.find_tenant_profiles(page_link)

    async def for_tenant(self, profile_id: UUID | None) -> UUID:
        """The profile a tenant saved with ``profile_id`` gets: that one (NotFound unless it
        exists), or the default when None."""
        if profile_id is None:
            return (await self.default_profile()).id
        return (await self.get(profile_id)).id

    async def save(
        self, profile_id: UUID | None, *, name: Any, description: Any = None,
        default: bool = False, isolated_tb_rule_engine: bool = False,
        profile_data: Any = None,
    ) -> TenantProfile:
        """Create (``profile_id`` None) or update a profile. BadRequest for a missing name, a
        name taken, profile data without a configuration or with a rate limit not in
        ThingsBoard's syntax, or a second default (``set_default`` moves it)."""
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("Tenant profile name should be specified!")
        if description is not None and not isinstance(description, str):
            raise BadRequest("Tenant profile description must be a string")
        data = check_profile_data(default_profile_data() if profile_data is None
                                  else profile_data)
        current = None if profile_id is None else await self.get(profile_id)
        if current is not None:
            # There is always a default: it stops being one only when another becomes it.
            default = default or current.default
            if isolated_tb_rule_engine != current.isolated_tb_rule_engine:
                raise BadRequest("Can't update isolatedTbRuleEngine property!")
        if default and (current is None or not current.default):
            existing = await self._store.get_default_tenant_profile()
            if existing is not None:
                raise BadRequest("Another default tenant profile is present!")
        if current is None:
            profile = TenantProfile(
                id=uuid.uuid4(), name=name, created_time=now_ms(), default=default,
                description=description, isolated_tb_rule_engine=isolated_tb_rule_engine,
                profile_data=data,
            )
        else:
            profile = replace(current, name=name, description=description, default=default,
                              profile_data=data)
        await self._store.save_tenant_profile(profile)
        await self._rate_limits.changed()
        return profile

    async def set_default(self, profile_id: UUID) -> TenantProfile:
        """Make the profile the default (the previous default stops being it)."""
        profile = await self.get(profile_id)
        if not profile.default:
            profile = replace(profile, default=True)
            await self._store.save_tenant_profile(profile)
            await self._rate_limits.changed()
        return profile

    async def delete(self, profile_id: UUID) -> None:
        """Delete a profile: BadRequest for the default one or one a tenant has."""
        profile = await self.get(profile_id)
        if profile.default:
            raise BadRequest("Deletion of Default Tenant Profile is prohibited!")
        await self._store.delete_tenant_profile(profile_id)
        await self._rate_limits.changed()
