"""The frames thingport sends, shaped exactly as ThingsBoard's.

Legacy commands (TIMESERIES, ATTRIBUTES, TIMESERIES_HISTORY) are answered with
``{"subscriptionId": cmdId, "errorCode", "errorMsg", "data": {key: [[ts, "value"]]},
"latestValues": {key: ts}}``; the others with ``{"cmdId", "cmdUpdateType", "errorCode",
"errorMsg", ..}``. Values are strings in Java's ``toString`` form (``42.0``, ``73``, ``true``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from thingport.domain.kv_render import kv_value_str
from thingport.domain.model import AttributeKvEntry, TsKvEntry


class ErrorCode(enum.IntEnum):
    """ThingsBoard's SubscriptionErrorCode."""

    NO_ERROR = 0
    INTERNAL_ERROR = 1
    BAD_REQUEST = 2
    UNAUTHORIZED = 3


class CommandFailed(Exception):
    """A command cannot run: answered with an error frame, the session goes on."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def telemetry_update(
    subscription_id: int, entries: Iterable[TsKvEntry | AttributeKvEntry]
) -> dict[str, Any]:
    """A legacy update: each key's ``[ts, value]`` pairs in the given order (keys sorted), and
    the ts of each key's last pair."""
    data: dict[str, list[list[Any]]] = {}
    for entry in entries:
        ts = entry.ts if isinstance(entry, TsKvEntry) else entry.last_update_ts
        data.setdefault(entry.key, []).append([ts, kv_value_str(entry)])
    ordered = {key: data[key] for key in sorted(data)}
    return {
        "subscriptionId": subscription_id,
        "errorCode": ErrorCode.NO_ERROR,
        "errorMsg": None,
        "data": ordered,
        "latestValues": {key: points[-1][0] for key, points in ordered.items()},
    }


def telemetry_error(subscription_id: int, code: ErrorCode, message: str) -> dict[str, Any]:
    """A legacy error: no data."""
    return {"subscriptionId": subscription_id, "errorCode": code, "errorMsg": message,
            "data": None, "latestValues": {}}


def cmd_update(cmd_id: int, update_type: str, **fields: Any) -> dict[str, Any]:
    """A reply to one of the newer commands (ENTITY_DATA, ENTITY_COUNT, ALARM_*, ...)."""
    return {"cmdId": cmd_id, "cmdUpdateType": update_type, "errorCode": ErrorCode.NO_ERROR,
            "errorMsg": None, **fields}


def cmd_error(cmd_id: int, update_type: str, code: ErrorCode, message: str) -> dict[str, Any]:
    """An error reply to one of the newer commands."""
    return {"cmdId": cmd_id, "cmdUpdateType": update_type, "errorCode": code,
            "errorMsg": message}


def empty_page() -> dict[str, Any]:
    return {"data": [], "totalPages": 0, "totalElements": 0, "hasNext": False}


def ts_value(ts: int, value: str) -> dict[str, Any]:
    """ENTITY_DATA's ``{"ts", "value"}``; a missing key is ``{"ts": 0, "value": ""}``."""
    return {"ts": ts, "value": value}


def entry_value(entry: TsKvEntry | AttributeKvEntry) -> dict[str, Any]:
    ts = entry.ts if isinstance(entry, TsKvEntry) else entry.last_update_ts
    return ts_value(ts, kv_value_str(entry))
