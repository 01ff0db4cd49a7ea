"""ENTITY_DATA and ENTITY_COUNT: a page of devices with values, then their changes.

The first frame of a query carries ``data`` (the page); every later frame carries ``update``
with only the changed devices. ``latestCmd`` subscribes to latest values, ``tsCmd`` sends a
time window and then each new point, ``historyCmd`` sends a time window once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from thingport.api.render import entity_id
from thingport.api.ws.commands import EntityCountCmd, EntityDataCmd, EntityKey, EntityQuery
from thingport.api.ws.entities import ENTITY_FIELDS, MAX_ENTITIES, find_devices, page_of
from thingport.api.ws.frames import (
    CommandFailed,
    ErrorCode,
    cmd_update,
    entry_value,
    ts_value,
)
from thingport.api.ws.telemetry_cmds import Context, history_points
from thingport.clock import now_ms
from thingport.domain.model import AttributeScope, Device, TsKvEntry
from thingport.services.live import AttributeUpdate

#: ENTITY_DATA key types naming attributes, and the scopes each reads.
ATTRIBUTE_TYPES = {
    "ATTRIBUTE": tuple(AttributeScope),
    "CLIENT_ATTRIBUTE": (AttributeScope.CLIENT_SCOPE,),
    "SHARED_ATTRIBUTE": (AttributeScope.SHARED_SCOPE,),
    "SERVER_ATTRIBUTE": (AttributeScope.SERVER_SCOPE,),
}
MISSING = ts_value(0, "")


def refuse_key_filters(query: EntityQuery) -> None:
    """Key filters are not supported: say so rather than answer as if there were none."""
    if query.key_filters:
        raise CommandFailed(ErrorCode.BAD_REQUEST, "keyFilters are not supported by thingport")


def _entity(device_id: UUID, latest: dict[str, Any] | None = None,
            timeseries: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"entityId": entity_id("DEVICE", device_id), "latest": latest or {},
            "timeseries": timeseries or {}, "aggLatest": {}}


def _keys_of(keys: Iterable[EntityKey], kind: str) -> list[str]:
    return list(dict.fromkeys(k.key for k in keys if k.type == kind))


async def _latest(out: Context, device: Device, keys: list[EntityKey]) -> dict[str, Any]:
    """``{TYPE: {key: {ts, value}}}`` for each asked key; a missing one as ``{0, ""}``."""
    latest: dict[str, dict[str, Any]] = {}
    fields = _keys_of(keys, "ENTITY_FIELD")
    if fields:
        latest["ENTITY_FIELD"] = {
            k: ts_value(0, ENTITY_FIELDS[k](device)) if k in ENTITY_FIELDS else MISSING
            for k in fields
        }
    ts_keys = _keys_of(keys, "TIME_SERIES")
    if ts_keys:
        found = {e.key: entry_value(e)
                 for e in await out.services.telemetry.latest(device.id, ts_keys)}
        latest["TIME_SERIES"] = {k: found.get(k, MISSING) for k in ts_keys}
    for kind, scopes in ATTRIBUTE_TYPES.items():
        attr_keys = _keys_of(keys, kind)
        if not attr_keys:
            continue
        values: dict[str, Any] = {}
        for scope in scopes:
            for entry in await out.services.attributes.get(device.id, scope, attr_keys):
                values[entry.key] = entry_value(entry)
        latest[kind] = {k: values.get(k, MISSING) for k in attr_keys}
    return latest


def _series(points: Iterable[TsKvEntry]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        series.setdefault(point.key, []).append(entry_value(point))
    return series


class EntityDataQueries:
    """The last query of each ENTITY_DATA cmdId: a later cmd with the same id and only a
    sub-command (the UI moving a chart's time window) runs against it."""

    def __init__(self) -> None:
        self.queries: dict[int, EntityQuery] = {}

    async def run(self, out: Context, cmd: EntityDataCmd) -> None:
        """Answer ``cmd``, then push changes for as long as the subscription lives."""
        query = cmd.query or self.queries.get(cmd.cmd_id)
        if query is None:
            raise CommandFailed(ErrorCode.BAD_REQUEST, "Query is empty!")
        refuse_key_filters(query)
        self.queries[cmd.cmd_id] = query
        page = page_of(await find_devices(out.services, out.caller, query.entity_filter),
                       query.page_link)
        latest_keys = [*query.entity_fields, *query.latest_values,
                       *(cmd.latest_cmd.keys if cmd.latest_cmd else [])]
        devices = page.data
        async with out.services.live.watch([d.id for d in devices]) as watch:
            if cmd.query is not None:
                out.send(cmd_update(
                    cmd.cmd_id, "ENTITY_DATA", update=None, allowedEntities=MAX_ENTITIES,
                    data={"data": [_entity(d.id, await _latest(out, d, latest_keys))
                                   for d in devices],
                          "totalPages": page.total_pages, "totalElements": page.total_elements,
                          "hasNext": page.has_next}))
            for window in (cmd.history_cmd, cmd.ts_cmd):
                if window is None or not window.keys:
                    continue
                start = window.start_ts or 0
                end = getattr(window, "end_ts", None) or start + (
                    getattr(window, "time_window", None) or 0)
                if end <= start:
                    end = now_ms()
                update = []
                for device in devices:
                    points = await history_points(out, device.id, window.keys, start, end,
                                                  window.interval, window.agg, window.limit)
                    update.append(_entity(device.id, timeseries=_series(points)))
                out.send(cmd_update(cmd.cmd_id, "ENTITY_DATA", data=None, update=update,
                                    allowedEntities=MAX_ENTITIES))
            pushed_ts = set(cmd.ts_cmd.keys) if cmd.ts_cmd else set()
            if cmd.latest_cmd is None and not pushed_ts:
                return
            await self._push(out, cmd.cmd_id, watch, latest_keys, pushed_ts)

    async def _push(self, out: Context, cmd_id: int, watch: Any, latest_keys: list[EntityKey],
                    pushed_ts: set[str]) -> None:
        latest_ts = set(_keys_of(latest_keys, "TIME_SERIES"))
        while True:
            device_id, change = await watch.next()
            if isinstance(change, AttributeUpdate):
                latest = self._attribute_latest(change, latest_keys)
                entity = _entity(device_id, latest) if latest else None
            else:
                newest: dict[str, TsKvEntry] = {}
                for point in change:
                    if point.key in latest_ts and (
                            point.key not in newest or point.ts > newest[point.key].ts):
                        newest[point.key] = point
                series = _series(p for p in change if p.key in pushed_ts)
                entity = None
                if newest or series:
                    latest = {"TIME_SERIES": {k: entry_value(p) for k, p in newest.items()}} \
                        if newest else {}
                    entity = _entity(device_id, latest, series)
            if entity is not None:
                out.send(cmd_update(cmd_id, "ENTITY_DATA", data=None, update=[entity],
                                    allowedEntities=MAX_ENTITIES))

    @staticmethod
    def _attribute_latest(change: AttributeUpdate, keys: list[EntityKey]) -> dict[str, Any]:
        latest: dict[str, dict[str, Any]] = {}
        for kind, scopes in ATTRIBUTE_TYPES.items():
            if change.scope not in scopes:
                continue
            wanted = set(_keys_of(keys, kind))
            values = {e.key: entry_value(e) for e in change.saved if e.key in wanted}
            values.update({k: MISSING for k in change.deleted if k in wanted})
            if values:
                latest[kind] = values
        return latest

    def forget(self, cmd_id: int) -> None:
        self.queries.pop(cmd_id, None)


async def entity_count(out: Context, cmd: EntityCountCmd) -> None:
    """How many devices the query's filter selects."""
    if cmd.query is None:
        raise CommandFailed(ErrorCode.BAD_REQUEST, "Query is empty!")
    refuse_key_filters(cmd.query)
    devices = await find_devices(out.services, out.caller, cmd.query.entity_filter)
    out.send(cmd_update(cmd.cmd_id, "COUNT_DATA", count=len(devices)))
