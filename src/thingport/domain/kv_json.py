"""ThingsBoard's upload JSON -> typed key/value entries, as pure functions.

An upload is a flat object, a ``{"ts", "values"}`` object or an array of either (telemetry), or
a flat object (attributes); its values are typed by ``domain.kv_values``. Input comes from
:func:`thingport.domain.json_parse.parse_payload`, which keeps every fractional or exponent
number as a :class:`~thingport.domain.json_parse.NumberLiteral` so that its text is still known.
Reading entries back is ``domain.kv_render``.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from thingport.domain.json_parse import NumberLiteral
from thingport.domain.kv_values import ConverterConfig, typed_entries
from thingport.domain.model import LONG_MAX, LONG_MIN, KvEntry, TelemetryBatch
from thingport.errors import InvalidPayload, PayloadTooLarge

__all__ = ["ConverterConfig", "attributes_from_json", "telemetry_from_json"]

_DEFAULT_CONFIG = ConverterConfig()
# What Long.parseLong accepts for a string "ts" (ASCII digits only).
_LONG_TEXT = re.compile(r"[+-]?[0-9]+")


def telemetry_from_json(
    payload: Any,
    now_ms: int,
    config: ConverterConfig = _DEFAULT_CONFIG,
    *,
    drop_nulls: bool = True,
) -> TelemetryBatch:
    """Type a telemetry upload: a flat object, ``{"ts", "values"}``, or an array of either.

    Each object becomes its own group, in order, even when it is empty or shares a timestamp
    with another (``{}`` gives ``[(now_ms, [])]``, ``[]`` gives ``[]``). A flat object gets
    ``now_ms``. ``drop_nulls=False`` is the tenant REST path, where a null value is an error.
    """
    if isinstance(payload, dict):
        group = _telemetry_group(payload, now_ms, config, drop_nulls)
        _check_data_points(len(group[1]), config)
        return [group]
    if isinstance(payload, list):
        batch: TelemetryBatch = []
        points, most = 0, config.max_data_points
        for index, item in enumerate(payload):
            if not isinstance(item, dict):
                raise InvalidPayload(
                    f"Telemetry array item {index} must be a JSON object, not {_describe(item)}"
                )
            group = _telemetry_group(item, now_ms, config, drop_nulls)
            points += len(group[1])
            # Checked as it grows: past the limit, no more work is done for the request.
            if most and points > most:
                _check_data_points(points, config)
            batch.append(group)
        return batch
    raise InvalidPayload(
        f"Telemetry must be a JSON object or an array of objects, not {_describe(payload)}"
    )


def attributes_from_json(
    payload: Any,
    config: ConverterConfig = _DEFAULT_CONFIG,
    drop_nulls: bool = True,
) -> list[KvEntry]:
    """Type an attributes upload, a flat object (``ts`` and ``values`` are ordinary keys here).

    ``drop_nulls=False`` is the tenant REST path, where a null value is an error.
    """
    if not isinstance(payload, dict):
        raise InvalidPayload(f"Attributes must be a JSON object, not {_describe(payload)}")
    entries = typed_entries(payload, config, drop_nulls)
    _check_data_points(len(entries), config)
    return entries


def _check_data_points(points: int, config: ConverterConfig) -> None:
    if config.max_data_points and points > config.max_data_points:
        raise PayloadTooLarge(
            f"The upload carries more than {config.max_data_points} values (data points), the "
            "most one request may (THINGPORT_MAX_DATA_POINTS_PER_REQUEST)"
        )


def _telemetry_group(
    obj: dict[str, Any], now_ms: int, config: ConverterConfig, drop_nulls: bool
) -> tuple[int, list[KvEntry]]:
    # The client-timestamp form needs both keys; with only one, "ts" is an ordinary value.
    if "ts" in obj and "values" in obj:
        values = obj["values"]
        if not isinstance(values, dict):
            raise InvalidPayload(f'"values" must be a JSON object, not {_describe(values)}')
        ts = obj["ts"]
        if type(ts) is not int or not LONG_MIN <= ts <= LONG_MAX:  # else _timestamp's answer
            ts = _timestamp(ts)
        return ts, typed_entries(values, config, drop_nulls)
    return now_ms, typed_entries(obj, config, drop_nulls)


def _timestamp(value: Any) -> int:
    """Read ``ts`` as ThingsBoard's ``getAsLong`` does, but refuse what does not fit a long."""
    ts: int | None = None
    if type(value) is int:
        ts = value
    elif type(value) is NumberLiteral:
        number = Decimal(value)
        # Fractions are truncated toward zero; the adjusted() test keeps int() cheap.
        if number.adjusted() < 19:
            ts = int(number)
    elif isinstance(value, str) and _LONG_TEXT.fullmatch(value):
        # Leading zeros are allowed, as Long.parseLong allows them; int() stays cheap.
        if len(value.lstrip("+-").lstrip("0")) <= 19:
            ts = int(value)
    else:
        raise InvalidPayload(f'"ts" must be a number of milliseconds, not {_describe(value)}')
    if ts is None or not LONG_MIN <= ts <= LONG_MAX:
        raise InvalidPayload(
            f'"ts" must be a number of milliseconds that fits in 64 bits, not {_describe(value)}'
        )
    return ts


def _describe(value: Any) -> str:
    """A short description of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | float | NumberLiteral):
        text = str.__str__(value) if isinstance(value, str) else repr(value)
        return f"the number {_shorten(text)}"
    if isinstance(value, str):
        return f"the string {json.dumps(_shorten(value), ensure_ascii=False)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
