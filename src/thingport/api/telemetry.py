"""Time series and attributes over REST: ``/api/plugins/telemetry/...``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from thingport.api.common import (
    JSONResponse,
    body_bytes,
    bool_param,
    empty_ok,
    int_param,
    key_list,
    services,
    uuid_param,
    visible_device,
)
from thingport.clock import now_ms
from thingport.domain.kv_json import ConverterConfig, attributes_from_json, telemetry_from_json
from thingport.domain.kv_render import kv_value, kv_value_str
from thingport.domain.model import Aggregation, AttributeScope, TsKvEntry
from thingport.errors import BadRequest, InvalidJson
from thingport.http.json_body import parse_json
from thingport.http.operations import JSON_ANY, Param, operation

PREFIX = "/api/plugins/telemetry"
WRITABLE_SCOPES = (AttributeScope.SERVER_SCOPE, AttributeScope.SHARED_SCOPE)


async def _device_id(request: Request) -> UUID:
    """The device named in the path, checked to belong to the caller's tenant."""
    entity_type = request.path_params.get("entityType", "DEVICE")
    if entity_type != "DEVICE":
        raise BadRequest(f"Entity type {entity_type} is not supported; only DEVICE is")
    _, device = await visible_device(request, uuid_param(request.path_params["entityId"]))
    return device.id


def _scope(request: Request, writable: bool = False) -> AttributeScope:
    raw = request.path_params["scope"]
    try:
        scope = AttributeScope(raw)
    except ValueError:
        raise BadRequest(f"Invalid scope: {raw}") from None
    if writable and scope not in WRITABLE_SCOPES:
        raise BadRequest(f"Invalid scope: {raw}")
    return scope


def _converter(request: Request) -> ConverterConfig:
    converter: ConverterConfig = request.app.state.converter
    return converter


def _keys(request: Request) -> list[str] | None:
    """``keys=a,b`` or repeated ``key=a&key=b``."""
    keys = key_list(request.query_params.get("keys"))
    repeated = request.query_params.getlist("key")
    if repeated:
        keys = (keys or []) + [k for k in repeated if k]
    return keys


async def _payload(request: Request, what: str) -> Any:
    body = await body_bytes(request)
    if not body.strip():
        raise BadRequest(f"No {what} data found in request body!")
    try:
        return await parse_json(body)
    except InvalidJson as exc:
        raise BadRequest(f"Unable to parse {what} payload: {exc.message}") from None


# -- time series ---------------------------------------------------------------------------------
def _ts_json(entry: TsKvEntry, strict: bool) -> dict[str, Any]:
    return {"ts": entry.ts, "value": kv_value(entry) if strict else kv_value_str(entry)}


@operation(query=(
    Param("keys", description="Keys, comma-separated (default: all)"),
    Param("startTs", type="integer"), Param("endTs", type="integer"),
    Param("interval", type="integer"), Param("intervalType", enum=("MILLISECONDS",)),
    Param("limit", type="integer"), Param("agg", enum=tuple(a.value for a in Aggregation)),
    Param("orderBy", enum=("ASC", "DESC")), Param("useStrictDataTypes", type="boolean")))
async def get_timeseries(request: Request) -> Response:
    """Latest values, or history when ``startTs``/``endTs`` are given."""
    device_id = await _device_id(request)
    telemetry = services(request).telemetry
    keys = _keys(request)
    strict = bool_param(request, "useStrictDataTypes")
    history = "startTs" in request.query_params or request.url.path.endswith("/history")
    result: dict[str, list[dict[str, Any]]] = {}
    if not history:
        latest = await telemetry.latest(device_id, keys)
        for entry in latest:
            result[entry.key] = [_ts_json(entry, strict)]
        if keys:
            now = now_ms()
            # ThingsBoard answers a requested key without data with a null value.
            ordered = {k: result.get(k, [{"ts": now, "value": None}]) for k in keys}
            result = ordered
        return JSONResponse(result)
    agg_raw = (request.query_params.get("agg") or "NONE").upper()
    try:
        aggregation = Aggregation(agg_raw)
    except ValueError:
        raise BadRequest(f"Invalid aggregation: {agg_raw}") from None
    interval_type = (request.query_params.get("intervalType") or "MILLISECONDS").upper()
    if interval_type != "MILLISECONDS":
        raise BadRequest(f"intervalType {interval_type} is not supported; use MILLISECONDS")
    order = (request.query_params.get("orderBy") or "DESC").upper()
    if order not in {"ASC", "DESC"}:
        raise BadRequest(f"Invalid orderBy: {order}")
    values = await telemetry.history(
        device_id, keys, int_param(request, "startTs"), int_param(request, "endTs"),
        interval=int_param(request, "interval", 0), aggregation=aggregation,
        limit=int_param(request, "limit", 100), descending=order == "DESC",
    )
    return JSONResponse(
        {key: [_ts_json(e, strict) for e in entries] for key, entries in values.items()}
    )


async def timeseries_keys(request: Request) -> Response:
    device_id = await _device_id(request)
    return JSONResponse(await services(request).telemetry.keys(device_id))


@operation(body=JSON_ANY)
async def save_timeseries(request: Request) -> Response:
    """``POST .../timeseries/{scope}[/{ttl}]``: the device API's three shapes."""
    device_id = await _device_id(request)
    batch = telemetry_from_json(await _payload(request, "time series"), now_ms(),
                                _converter(request))
    if not any(entries for _, entries in batch):
        raise BadRequest("No time series data found in request body!")
    await services(request).telemetry.save(device_id, batch)
    return empty_ok()


@operation(query=(
    Param("keys", True, description="Keys, comma-separated"),
    Param("deleteAllDataForKeys", type="boolean"),
    Param("startTs", type="integer"), Param("endTs", type="integer"),
    Param("rewriteLatestIfDeleted", type="boolean")))
async def delete_timeseries(request: Request) -> Response:
    device_id = await _device_id(request)
    keys = _keys(request)
    if not keys:
        raise BadRequest("Parameter 'keys' can't be empty")
    if bool_param(request, "deleteAllDataForKeys"):
        start = end = None
    else:
        start, end = int_param(request, "startTs"), int_param(request, "endTs")
    await services(request).telemetry.delete(
        device_id, keys, start, end, bool_param(request, "rewriteLatestIfDeleted", True)
    )
    return empty_ok()


# -- attributes ----------------------------------------------------------------------------------
async def save_attributes(request: Request) -> Response:
    device_id = await _device_id(request)
    scope = _scope(request, writable=True)
    payload = await _payload(request, "attributes")
    if not isinstance(payload, dict):
        raise BadRequest("Request is not a JSON object")
    entries = attributes_from_json(payload, _converter(request), drop_nulls=False)
    if not entries:
        raise BadRequest("No attributes data found in request body!")
    if any(not e.key.strip() for e in entries):
        raise BadRequest("Key cannot be blank")
    await services(request).attributes.save(device_id, scope, entries)
    return empty_ok()


async def save_device_attributes(request: Request) -> Response:
    """The legacy ``POST /api/plugins/telemetry/{deviceId}/{scope}`` form."""
    request.path_params["entityId"] = request.path_params.pop("deviceId")
    return await save_attributes(request)


@operation(query=(Param("keys", description="Keys, comma-separated (default: all)"),))
async def get_attributes(request: Request) -> Response:
    device_id = await _device_id(request)
    attributes = services(request).attributes
    keys = _keys(request)
    scopes = [_scope(request)] if "scope" in request.path_params else list(AttributeScope)
    result = []
    for scope in scopes:
        for entry in await attributes.get(device_id, scope, keys):
            result.append(
                {"lastUpdateTs": entry.last_update_ts, "key": entry.key, "value": kv_value(entry)}
            )
    return JSONResponse(result)


async def attribute_keys(request: Request) -> Response:
    device_id = await _device_id(request)
    scope = _scope(request) if "scope" in request.path_params else None
    return JSONResponse(await services(request).attributes.keys(device_id, scope))


@operation(query=(Param("keys", True, description="Keys, comma-separated"),))
async def delete_attributes(request: Request) -> Response:
    device_id = await _device_id(request)
    scope = _scope(request)
    keys = _keys(request)
    if not keys:
        raise BadRequest("Parameter 'keys' can't be empty")
    await services(request).attributes.delete(device_id, scope, keys)
    return empty_ok()


E = PREFIX + "/{entityType}/{entityId}"
routes = [
    Route(E + "/values/timeseries", get_timeseries, methods=["GET"]),
    Route(E + "/values/timeseries/history", get_timeseries, methods=["GET"]),
    Route(E + "/keys/timeseries", timeseries_keys, methods=["GET"]),
    Route(E + "/timeseries/delete", delete_timeseries, methods=["DELETE"]),
    Route(E + "/timeseries/{scope}", save_timeseries, methods=["POST"]),
    Route(E + "/timeseries/{scope}/{ttl:int}", save_timeseries, methods=["POST"]),
    Route(E + "/values/attributes", get_attributes, methods=["GET"]),
    Route(E + "/values/attributes/{scope}", get_attributes, methods=["GET"]),
    Route(E + "/keys/attributes", attribute_keys, methods=["GET"]),
    Route(E + "/keys/attributes/{scope}", attribute_keys, methods=["GET"]),
    Route(E + "/attributes/{scope}", save_attributes, methods=["POST"]),
    Route(E + "/{scope}", save_attributes, methods=["POST"]),
    Route(E + "/{scope}", delete_attributes, methods=["DELETE"]),
    Route(PREFIX + "/{deviceId}/{scope}", save_device_attributes, methods=["POST"]),
]
