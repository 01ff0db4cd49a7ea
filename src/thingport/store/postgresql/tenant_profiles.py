"""Tenant profiles on PostgreSQL: group-committed writes, pooled reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from uuid import UUID

from thingport.domain.model import Page, PageLink, TenantProfile
from thingport.errors import Conflict
from thingport.store.postgresql.core import PgCore
from thingport.store.shared import paging, params, rows
from thingport.store.shared.errors import TENANT_PROFILE_IN_USE

if TYPE_CHECKING:
    import asyncpg

_SELECT: Final = f"SELECT {rows.TENANT_PROFILE_COLUMNS} FROM tenant_profile"


class PgTenantProfiles(PgCore):
    """The store contract's tenant profiles part, for ``PostgresStore``."""

    async def save_tenant_profile(self, profile: TenantProfile) -> None:
        """Insert or update a profile; marking it default unmarks the previous default.
        A duplicate name raises Conflict."""
        args = params.tenant_profile(profile, params.as_is)

        async def op(conn: asyncpg.Connection) -> None:
            if profile.default:
                await conn.execute(
                    "UPDATE tenant_profile SET is_default = false WHERE is_default AND id <> $1",
                    profile.id,
                )
            await conn.execute(
                f"INSERT INTO tenant_profile ({rows.TENANT_PROFILE_COLUMNS}) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "is_default = excluded.is_default, description = excluded.description, "
                "isolated_tb_rule_engine = excluded.isolated_tb_rule_engine, "
                "profile_data = excluded.profile_data",
                *args,
            )

        await self._write(op)

    async def get_tenant_profile(self, profile_id: UUID) -> TenantProfile | None:
        """The profile with this id."""
        return await self._one(f"{_SELECT} WHERE id = $1", [profile_id], rows.tenant_profile)

    async def get_default_tenant_profile(self) -> TenantProfile | None:
        """The default profile."""
        return await self._one(f"{_SELECT} WHERE is_default", [], rows.tenant_profile)

    async def find_tenant_profiles(self, page_link: PageLink) -> Page[TenantProfile]:
        """A page of profiles, searched and sorted by name."""
        return await self._page(paging.TENANT_PROFILES, [], [], page_link, rows.tenant_profile)

    async def delete_tenant_profile(self, profile_id: UUID) -> None:
        """Delete a profile; Conflict while a tenant names it."""
        import asyncpg

        async def op(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute("DELETE FROM tenant_profile WHERE id = $1", profile_id)
            except asyncpg.ForeignKeyViolationError as exc:
                raise Conflict(TENANT_PROFILE_IN_USE) from exc

        await self._write(op)
