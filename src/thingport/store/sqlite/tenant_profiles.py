"""Tenant profiles in SQLite: one writer operation per write, one reader call per read."""

from __future__ import annotations

import sqlite3
from uuid import UUID

from thingport.domain.model import Page, PageLink, TenantProfile
from thingport.errors import Conflict
from thingport.store.base import TenantProfileStore
from thingport.store.shared import paging
from thingport.store.shared.errors import TENANT_PROFILE_IN_USE
from thingport.store.shared.params import tenant_profile as _params
from thingport.store.shared.rows import TENANT_PROFILE_COLUMNS
from thingport.store.shared.rows import tenant_profile as _row
from thingport.store.sqlite.connection import read_page
from thingport.store.sqlite.core import SQLiteCore
from thingport.store.sqlite.tx import Tx


class SQLiteTenantProfiles(SQLiteCore, TenantProfileStore):
    """The store contract's tenant profiles part, for ``SQLiteStore``."""

    async def save_tenant_profile(self, profile: TenantProfile) -> None:
        """Insert or update a profile; marking it default unmarks the previous default.
        A duplicate name raises Conflict."""
        params = _params(profile)

        def op(tx: Tx) -> None:
            if profile.default:
                tx.conn.execute(
                    "UPDATE tenant_profile SET is_default = 0 WHERE is_default AND id <> ?",
                    (str(profile.id),),
                )
            tx.conn.execute(
                f"INSERT INTO tenant_profile ({TENANT_PROFILE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "is_default = excluded.is_default, description = excluded.description, "
                "isolated_tb_rule_engine = excluded.isolated_tb_rule_engine, "
                "profile_data = excluded.profile_data",
                params,
            )

        await self._write(op)

    async def get_tenant_profile(self, profile_id: UUID) -> TenantProfile | None:
        """The profile with this id."""
        return await self._one(
            f"SELECT {TENANT_PROFILE_COLUMNS} FROM tenant_profile WHERE id = ?",
            (str(profile_id),), _row,
        )

    async def get_default_tenant_profile(self) -> TenantProfile | None:
        """The default profile."""
        return await self._one(
            f"SELECT {TENANT_PROFILE_COLUMNS} FROM tenant_profile WHERE is_default", (), _row,
        )

    async def find_tenant_profiles(self, page_link: PageLink) -> Page[TenantProfile]:
        """A page of profiles, searched and sorted by name."""
        return await self._read(
            lambda c: read_page(c, paging.TENANT_PROFILES, [], [], page_link, _row)
        )

    async def delete_tenant_profile(self, profile_id: UUID) -> None:
        """Delete a profile; Conflict while a tenant names it."""

        def op(tx: Tx) -> None:
            try:
                tx.conn.execute("DELETE FROM tenant_profile WHERE id = ?", (str(profile_id),))
            except sqlite3.IntegrityError as exc:
                raise Conflict(TENANT_PROFILE_IN_USE) from exc

        await self._write(op)
