"""Devices with their state in SQLite: the device table's listing (ThingsBoard's DeviceInfo) and
the inactivity check's query.

A device's state is its SERVER_SCOPE attributes ``active`` and ``lastActivityTime``; both
queries join them to ``device`` by its ``seq`` (attribute_kv's primary key is (device, scope,
key), so each join is one index lookup per device). The key ids are looked up inside the SQL,
so a key nobody has written yet simply matches nothing.

A mixin of ``SQLiteStore``, as ``sqlite_ota`` is: it imports ``thingport.store.sqlite`` (paging
and row helpers) only inside its functions, since ``sqlite.py`` imports this module.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar
from uuid import UUID

from thingport.domain.model import (
    ACTIVE_ATTRIBUTE,
    LAST_ACTIVITY_TIME_ATTRIBUTE,
    DeviceInfo,
    Page,
    PageLink,
)

if TYPE_CHECKING:
    from thingport.store.sqlite import _Listing

_R = TypeVar("_R")

# SERVER_SCOPE, and the type codes of BOOLEAN and LONG (see sqlite.py's _SCOPE_CODE and
# _TYPE_CODE, part of the on-disk format).
_SERVER, _BOOLEAN, _LONG = 2, 1, 2


def _state_join(alias: str, key: str, kind: str = "LEFT JOIN") -> str:
    # `key` is one of our constant attribute names, never user text, so it may be inlined.
    return (
        f" {kind} attribute_kv {alias} ON {alias}.device = d.seq AND {alias}.scope = {_SERVER} "
        f"AND {alias}.key = (SELECT key_id FROM key_dictionary WHERE key = '{key}')"
    )


_FROM: Final = (
    "device d JOIN device_profile p ON p.id = d.device_profile_id "
    "LEFT JOIN customer c ON c.id = d.customer_id"
    + _state_join("act", ACTIVE_ATTRIBUTE)
    + _state_join("lat", LAST_ACTIVITY_TIME_ATTRIBUTE)
)
# Only the boolean true is active: a value of another type written by hand is not a state.
_ACTIVE: Final = f"COALESCE(act.type = {_BOOLEAN} AND act.v = 1, 0)"
_LAST_ACTIVITY: Final = f"CASE WHEN lat.type = {_LONG} THEN lat.v END"


@functools.cache
def _device_columns() -> str:
    from thingport.store.sqlite import _DEVICE_COLS

    return ", ".join("d." + column.strip() for column in _DEVICE_COLS.split(","))


@functools.cache
def _listing() -> _Listing:
    """How device infos are paged; built on first use (see the module docstring)."""
    from thingport.store.sqlite import _Listing

    return _Listing(
        _FROM,
        f"{_device_columns()}, p.name, c.title, {_ACTIVE}, {_LAST_ACTIVITY}",
        {
            "createdTime": ("d.created_time", False), "id": ("d.id", True),
            "name": ("d.name", True), "label": ("d.label", True), "type": ("d.type", True),
            "deviceProfileName": ("p.name", True), "customerTitle": ("c.title", True),
        },
        "createdTime", ("d.name", "d.label", "p.name", "c.title"), tiebreak="d.id",
    )


def _device_info(r: Sequence[Any]) -> DeviceInfo:
    from thingport.store.sqlite import _device

    width = len(r) - 4
    return DeviceInfo(
        device=_device(r[:width]), device_profile_name=r[width], customer_title=r[width + 1],
        active=bool(r[width + 2]), last_activity_time=r[width + 3],
    )


class SQLiteDeviceInfoMixin:
    """The store contract's device-info and device-state queries, for ``SQLiteStore``."""

    if TYPE_CHECKING:
        async def _read(self, fn: Callable[[sqlite3.Connection], _R]) -> _R: ...

    async def find_device_infos(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_profile_id: UUID | None = None, active: bool | None = None,
    ) -> Page[DeviceInfo]:
        """A page of the tenant's devices with profile name, customer title and state,
        filtered, searched, sorted and counted in one read transaction."""
        from thingport.store.sqlite import _page

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
        listing = _listing()
        return await self._read(
            lambda c: _page(c, listing, where, params, page_link, _device_info)
        )

    async def find_stale_active_devices(
        self, before_ts: int, after: UUID | None, limit: int
    ) -> list[tuple[UUID, int | None]]:
        """Devices marked active whose last activity is older than ``before_ts`` (or
        unknown), in id order after ``after``."""
        sql = (
            f"SELECT d.id, {_LAST_ACTIVITY} FROM device d"
            + _state_join("act", ACTIVE_ATTRIBUTE, "JOIN")
            + _state_join("lat", LAST_ACTIVITY_TIME_ATTRIBUTE)
            + f" WHERE act.type = {_BOOLEAN} AND act.v = 1 AND d.id > ? "
            f"AND (lat.type IS NOT {_LONG} OR lat.v < ?) ORDER BY d.id LIMIT ?"
        )
        params = ("" if after is None else str(after), before_ts, limit)

        def read(conn: sqlite3.Connection) -> list[tuple[UUID, int | None]]:
            return [(UUID(row[0]), row[1]) for row in conn.execute(sql, params)]

        return await self._read(read)
