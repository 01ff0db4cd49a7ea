"""TIMESERIES, ATTRIBUTES and TIMESERIES_HISTORY: one device's values, then its changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from thingport.api.common import key_list
from thingport.api.ws.commands import AttributesCmd, HistoryCmd, TimeseriesCmd
from thingport.api.ws.entities import visible_device
from thingport.api.ws.frames import CommandFailed, ErrorCode, telemetry_update
from thingport.clock import now_ms
from thingport.domain.model import Aggregation, AttributeKvEntry, AttributeScope, TsKvEntry
from thingport.errors import BadRequest
from thingport.services import Services
from thingport.services.auth import Principal
from thingport.services.live import AttributeUpdate

#: ThingsBoard's default when a command's limit is 0 or missing.
DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Context:
    """What a command runs with: the services, the authenticated caller, and ``send``, which
    queues a frame on the session's bounded queue."""

    services: Services
    caller: Principal
    send: Callable[[dict[str, object]], None]


def aggregation(raw: str | None) -> Aggregation:
    try:
        return Aggregation((raw or "NONE").upper())
    except ValueError:
        raise CommandFailed(ErrorCode.BAD_REQUEST, f"Invalid aggregation: {raw}") from None


async def history_points(
    out: Context, device_id: UUID, keys: list[str] | None, start: int, end: int,
    interval: int | None, agg: str | None, limit: int | None,
) -> list[TsKvEntry]:
    """Points of ``keys`` in ``[start, end)``, newest first, as ThingsBoard lists them."""
    try:
        found = await out.services.telemetry.history(
            device_id, keys, start, end, interval=interval or 0,
            aggregation=aggregation(agg), limit=limit or DEFAULT_LIMIT,
        )
    except BadRequest as exc:
        raise CommandFailed(ErrorCode.BAD_REQUEST, exc.message) from None
    return [entry for entries in found.values() for entry in entries]


async def timeseries(out: Context, cmd: TimeseriesCmd) -> None:
    """Latest values (all keys, or ``keys``) or a time window, then every new point.
    ``scope: LATEST_TELEMETRY`` drops points no newer than the key's latest."""
    device = await visible_device(out.services, out.caller, cmd.entity_type, cmd.entity_id)
    keys = key_list(cmd.keys) or None
    wanted = set(keys) if keys else None
    latest_only = cmd.scope == "LATEST_TELEMETRY"
    async with out.services.live.watch([device.id], attributes=False) as watch:
        window = cmd.time_window or 0
        if keys and window > 0:
            start = cmd.start_ts or now_ms() - window
            initial = await history_points(out, device.id, keys, start, start + window,
                                           cmd.interval, cmd.agg, cmd.limit)
        else:
            initial = await out.services.telemetry.latest(device.id, keys)
        out.send(telemetry_update(cmd.cmd_id, initial))
        newest: dict[str, int] = {}
        for entry in initial:
            newest[entry.key] = max(entry.ts, newest.get(entry.key, entry.ts))
        # Points committed between entering the watch and reading the store arrive again.
        already_sent = {(entry.key, entry.ts) for entry in initial}
        while True:
            _, points = await watch.next()
            assert isinstance(points, list)
            fresh = []
            for point in points:
                if wanted is not None and point.key not in wanted:
                    continue
                if latest_only:
                    if point.ts <= newest.get(point.key, -1):
                        continue
                elif (point.key, point.ts) in already_sent:
                    continue
                newest[point.key] = max(point.ts, newest.get(point.key, point.ts))
                fresh.append(point)
            if fresh:
                out.send(telemetry_update(cmd.cmd_id, fresh))


def _scopes(raw: str | None) -> list[AttributeScope]:
    if not raw:
        return list(AttributeScope)
    try:
        return [AttributeScope(raw)]
    except ValueError:
        raise CommandFailed(ErrorCode.BAD_REQUEST, f"Invalid scope: {raw}") from None


async def attributes(out: Context, cmd: AttributesCmd) -> None:
    """Current attributes of one scope (or all three), then each save."""
    device = await visible_device(out.services, out.caller, cmd.entity_type, cmd.entity_id)
    keys = key_list(cmd.keys) or None
    wanted = set(keys) if keys else None
    scopes = _scopes(cmd.scope)
    async with out.services.live.watch([device.id], telemetry=False) as watch:
        initial: list[AttributeKvEntry] = []
        for scope in scopes:
            initial.extend(await out.services.attributes.get(device.id, scope, keys))
        out.send(telemetry_update(cmd.cmd_id, initial))
        while True:
            _, update = await watch.next()
            assert isinstance(update, AttributeUpdate)
            if update.scope not in scopes:
                continue
            saved = [e for e in update.saved if wanted is None or e.key in wanted]
            if saved:
                out.send(telemetry_update(cmd.cmd_id, saved))


async def history(out: Context, cmd: HistoryCmd) -> None:
    """One reply: the points of ``keys`` between ``startTs`` and ``endTs``."""
    keys = key_list(cmd.keys)
    if not keys:
        raise CommandFailed(ErrorCode.BAD_REQUEST, "Keys are empty!")
    device = await visible_device(out.services, out.caller, cmd.entity_type, cmd.entity_id)
    end = cmd.end_ts or now_ms()
    points = await history_points(out, device.id, keys, cmd.start_ts or 0, end, cmd.interval,
                                  cmd.agg, cmd.limit)
    out.send(telemetry_update(cmd.cmd_id, points))
