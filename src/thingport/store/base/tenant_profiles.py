"""The tenant profiles part of the store contract: system-wide profiles, one of them default.

The rules of ``thingport.store.base`` (committed before answering, Conflict for duplicates,
None for what does not exist) hold for every method.
"""

from __future__ import annotations

import abc
from uuid import UUID

from thingport.domain.model import Page, PageLink, TenantProfile


class TenantProfileStore(abc.ABC):
    """Tenant profiles (ThingsBoard's), which tenants name by ``tenant_profile_id``."""

    @abc.abstractmethod
    async def save_tenant_profile(self, profile: TenantProfile) -> None:
        """Insert or update a profile (``profile_data`` kept as given). Marking it default
        unmarks the previous default in the same transaction. A duplicate name raises
        Conflict."""

    @abc.abstractmethod
    async def get_tenant_profile(self, profile_id: UUID) -> TenantProfile | None:
        """The profile with this id."""

    @abc.abstractmethod
    async def get_default_tenant_profile(self) -> TenantProfile | None:
        """The default profile."""

    @abc.abstractmethod
    async def find_tenant_profiles(self, page_link: PageLink) -> Page[TenantProfile]:
        """A page of profiles, searched and sorted by name."""

    @abc.abstractmethod
    async def delete_tenant_profile(self, profile_id: UUID) -> None:
        """Delete a profile; Conflict, and nothing deleted, while a tenant names it."""
