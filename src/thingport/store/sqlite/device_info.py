"""Devices with their state in SQLite: the device table's listing (ThingsBoard's DeviceInfo) and
the inactivity check's query.

A device's state is its SERVER_SCOPE attributes ``active`` and ``lastActivityTime``; both
queries join them to ``device`` by its ``seq`` (attribute_kv's primary key is (device, scope,
key), so each join is one index lookup per device). The key ids are looked up inside the SQL,
so a key nobody has written yet simply matches nothing.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final
from uuid import UUID

from thingport.domain.model import (
    ACTIVE_ATTRIBUTE,
    LAST_ACTIVITY_TIME_ATTRIBUTE,
    DeviceInfo,
    Page,
    PageLink,
)
from thingport.store.shared import paging
from thingport.store.shared.rows import device_info as _device_info
from thingport.store.shared.values import CODE_BOOLEAN, CODE_LONG, SERVER_SCOPE_CODE
from thingport.store.sqlite.connection import read_page
from thingport.store.sqlite.core import SQLiteCore


def _state_join(alias: str, key: str, kind: str = "LEFT JOIN") -> str:
    # `key` is one of our constant attribute names, never user text, so it may be inlined.
    return (
        f" {kind} attribute_kv {alias} ON {alias}.device = d.seq "
        f"AND {alias}.scope = {SERVER_SCOPE_CODE} "
        f"AND {alias}.key = (SELECT key_id FROM key_dictionary WHERE key = '{key}')"
    )


# Only the boolean true is active: a value of another type written by hand is not a state.
_ACTIVE: Final = f"COALESCE(act.type = {CODE_BOOLEAN} AND act.v = 1, 0)"
_LAST_ACTIVITY: Final = f"CASE WHEN lat.type = {CODE_LONG} THEN lat.v END"
_LISTING: Final = paging.DEVICE_INFOS.over(
    paging.DEVICE_INFOS.table
    + _state_join("act", ACTIVE_ATTRIBUTE)
    + _state_join("lat", LAST_ACTIVITY_TIME_ATTRIBUTE),
    f"{paging.DEVICE_INFOS.columns}, {_ACTIVE}, {_LAST_ACTIVITY}",
)
_STALE: Final = (
    f"SELECT d.id, {_LAST_ACTIVITY} FROM device d"
    + _state_join("act", ACTIVE_ATTRIBUTE, "JOIN")
    + _state_join("lat", LAST_ACTIVITY_TIME_ATTRIBUTE)
    + f" WHERE act.type = {CODE_BOOLEAN} AND act.v = 1 AND d.id > ? "
    f"AND (lat.type IS NOT {CODE_LONG} OR lat.v < ?) ORDER BY d.id LIMIT ?"
)


class SQLiteDeviceInfos(SQLiteCore):
    """The store contract's device-info and device-state queries, for ``SQLiteStore``."""

    async def find_device_infos(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_profile_id: UUID | None = None, active: bool | None = None,
    ) -> Page[DeviceInfo]:
        """A page of the tenant's devices with profile name, customer title and state,
        filtered, searched, sorted and counted in one read transaction."""
        where = ["d.tenant_id = ?"]
        params: list[Any] = [str(tenant_id)]
        if customer_id is not None:
            where.append("d.customer_id = ?")
            params.append(str(customer_id))
        if device_profile_id is not None:
            where.append("d.device_profile_id = ?")
            params.append(str(device_profile_id))
        if active is not None:
            where.append(f"{_ACTIVE} = ?")
            params.append(int(active))
        return await self._read(
            lambda c: read_page(c, _LISTING, where, params, page_link, _device_info)
        )

    async def find_stale_active_devices(
        self, before_ts: int, after: UUID | None, limit: int
    ) -> list[tuple[UUID, int | None]]:
        """Devices marked active whose last activity is older than ``before_ts`` (or
        unknown), in id order after ``after``."""
        params = ("" if after is None else str(after), before_ts, limit)

        def read(conn: sqlite3.Connection) -> list[tuple[UUID, int | None]]:
            return [(UUID(row[0]), row[1]) for row in conn.execute(_STALE, params)]

        return await self._read(read)
