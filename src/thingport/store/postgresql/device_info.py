"""Devices with their state on PostgreSQL: the device table's listing (ThingsBoard's
DeviceInfo) and the inactivity check's query.

A device's state is its SERVER_SCOPE attributes ``active`` and ``lastActivityTime``, joined by
attribute_kv's primary key (entity_id, attribute_type, attribute_key): one index lookup per
device each. The key ids are looked up inside the SQL, so a key nobody has written yet simply
matches nothing.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from thingport.domain.model import (
    ACTIVE_ATTRIBUTE,
    LAST_ACTIVITY_TIME_ATTRIBUTE,
    DeviceInfo,
    Page,
    PageLink,
)
from thingport.store.postgresql.core import PgCore
from thingport.store.shared import paging, rows
from thingport.store.shared.values import SERVER_SCOPE_CODE


def _state_join(alias: str, key: str, kind: str = "LEFT JOIN") -> str:
    # `key` is one of our constant attribute names, never user text, so it may be inlined.
    return (
        f" {kind} attribute_kv {alias} ON {alias}.entity_id = d.id "
        f"AND {alias}.attribute_type = {SERVER_SCOPE_CODE} AND {alias}.attribute_key = "
        f"(SELECT key_id FROM key_dictionary WHERE key = '{key}')"
    )


# Only the boolean true is active: a value of another type written by hand is not a state.
_ACTIVE: Final = "coalesce(act.bool_v, false)"
_LAST_ACTIVITY: Final = "lat.long_v"
_INFOS: Final = paging.DEVICE_INFOS.over(
    paging.DEVICE_INFOS.table + _state_join("act", ACTIVE_ATTRIBUTE)
    + _state_join("lat", LAST_ACTIVITY_TIME_ATTRIBUTE),
    f"{paging.DEVICE_INFOS.columns}, {_ACTIVE}, {_LAST_ACTIVITY}",
)
_STALE: Final = (
    "SELECT d.id, lat.long_v FROM device d"
    + _state_join("act", ACTIVE_ATTRIBUTE, "JOIN")
    + _state_join("lat", LAST_ACTIVITY_TIME_ATTRIBUTE)
    + " WHERE act.bool_v AND ($1::uuid IS NULL OR d.id > $1) "
    "AND (lat.long_v IS NULL OR lat.long_v < $2) ORDER BY d.id LIMIT $3"
)


class PgDeviceInfo(PgCore):
    """The store contract's device-info and device-state queries."""

    async def find_device_infos(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_profile_id: UUID | None = None, active: bool | None = None,
    ) -> Page[DeviceInfo]:
        """A page of the tenant's devices with profile name, customer title and state,
        filtered, searched, sorted and counted in one statement."""
        where = ["d.tenant_id = $1"]
        args: list[Any] = [tenant_id]
        if customer_id is not None:
            args.append(customer_id)
            where.append(f"d.customer_id = ${len(args)}")
        if device_profile_id is not None:
            args.append(device_profile_id)
            where.append(f"d.device_profile_id = ${len(args)}")
        if active is not None:
            args.append(active)
            where.append(f"{_ACTIVE} = ${len(args)}")
        return await self._page(_INFOS, where, args, page_link, rows.device_info)

    async def find_stale_active_devices(
        self, before_ts: int, after: UUID | None, limit: int
    ) -> list[tuple[UUID, int | None]]:
        """Devices marked active whose last activity is older than ``before_ts`` (or
        unknown), in id order after ``after``."""
        found = await self._fetch(_STALE, after, before_ts, limit)
        return [(rows.uuid_of(r[0]), r[1]) for r in found]
