"""ThingsBoard's JSON <-> typed key/value conversion, as pure functions.

Incoming values are typed by the rules of ThingsBoard's transport (see the spec, section 2): a
number's type depends on its literal text, numeric strings are cast to numbers, objects and
arrays are kept as compact JSON text, nulls are dropped. Input comes from
:func:`thingport.domain.json_parse.parse_payload`, which keeps every fractional or exponent
number as a :class:`~thingport.domain.json_parse.NumberLiteral` so that its text is still known.

Reading back, :func:`kv_value` gives the typed Python value for JSON output and
:func:`kv_value_str` ThingsBoard's string rendering (``useStrictDataTypes=false``).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import cached_property
from typing import Any

import orjson

from thingport.domain.json_depth import ORJSON_MAX_DEPTH, deeper_than
from thingport.domain.json_parse import NumberLiteral, dumps_compact
from thingport.domain.model import (
    LONG_MAX,
    LONG_MIN,
    AttributeKvEntry,
    DataType,
    KvEntry,
    TelemetryBatch,
    TsKvEntry,
)
from thingport.errors import InvalidPayload, PayloadTooLarge

__all__ = [
    "BIG_INTEGER_MESSAGE",
    "ConverterConfig",
    "attributes_from_json",
    "java_double_str",
    "kv_value",
    "kv_value_str",
    "telemetry_from_json",
]


@dataclass(frozen=True)
class ConverterConfig:
    """Typing options from ``JSON_TYPE_CAST_ENABLED``, ``JSON_MAX_STRING_VALUE_LENGTH`` and
    ``THINGPORT_JSON_MAX_JSON_VALUE_LENGTH``."""

    type_cast: bool = True
    #: Longest string value accepted, in UTF-16 code units as ThingsBoard counts; 0: no limit.
    max_string_length: int = 0
    #: Longest JSON (object or array) value accepted, in UTF-16 code units of its compact
    #: text; 0: no limit.
    max_json_length: int = 0
    #: Most values one upload may carry (``THINGPORT_MAX_DATA_POINTS_PER_REQUEST``), so that
    #: no request makes unbounded work; 0: no limit.
    max_data_points: int = 0

    @cached_property
    def surely_short(self) -> int:
        """Strings up to this long are within ``max_string_length`` whatever they hold (a
        character is at most two UTF-16 units); -1 when there is no limit."""
        limit = self.max_string_length
        return limit // 2 if limit > 0 else -1


_DEFAULT_CONFIG = ConverterConfig()
# Read once: an enum member read through its class costs a descriptor call every time.
_LONG, _DOUBLE, _STRING = DataType.LONG, DataType.DOUBLE, DataType.STRING
_BOOLEAN, _JSON = DataType.BOOLEAN, DataType.JSON


#: Longest key: ThingsBoard's key columns are varchar(255), and a long key would sit in the key
#: dictionary's unique index, where every comparison reads it whole.
MAX_KEY_LENGTH = 255

#: ThingsBoard's message when a number cannot be stored and type casting is off.
BIG_INTEGER_MESSAGE = "Big integer values are not supported!"

# commons-lang3 NumberUtils.isParsable, restricted to ASCII digits.
_PARSABLE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
# What Long.parseLong accepts for a string "ts" (ASCII digits only).
_LONG_TEXT = re.compile(r"[+-]?[0-9]+")

# A number too big or too small for a long or a double becomes a STRING of its plain digits.
# A short literal such as 1e999999999 would expand to a billion digits, so the plain text may be
# at most this many characters longer than the literal: enough for any exponent a double has.
_MAX_PLAIN_GROWTH = 400


# --------------------------------------------------------------------------------------------
# JSON -> entries
# --------------------------------------------------------------------------------------------


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
    entries = _entries(payload, config, drop_nulls)
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
        return ts, _entries(values, config, drop_nulls)
    return now_ms, _entries(obj, config, drop_nulls)


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


def _entries(obj: dict[str, Any], config: ConverterConfig, drop_nulls: bool) -> list[KvEntry]:
    entries: list[KvEntry] = []
    append = entries.append
    # The most common values (a plain decimal, a string that is no number) are typed here
    # rather than in _number_entry and _string_entry, which they would pass straight through.
    surely_short, type_cast = config.surely_short, config.type_cast
    for key, value in obj.items():
        if len(key) > MAX_KEY_LENGTH:
            raise InvalidPayload(
                f"Key length [{len(key)}] is greater than maximum allowed [{MAX_KEY_LENGTH}]"
            )
        kind = type(value)
        if kind is NumberLiteral:
            if "e" not in value and "E" not in value:
                dot = value.find(".")
                if dot >= 0 and len(value) - dot <= 17:  # a simple double: <= 16 decimals
                    number = float(value)
                    if number and number - number == 0.0:  # not zero, not infinite
                        append(KvEntry(key, _DOUBLE, number))
                        continue
            append(_number_entry(key, value, config, from_string=False))
        elif kind is int:
            if LONG_MIN <= value <= LONG_MAX:
                append(KvEntry(key, _LONG, value))
            elif type_cast:
                append(KvEntry(key, _STRING, str(value)))
            else:
                raise InvalidPayload(BIG_INTEGER_MESSAGE)
        elif kind is str:
            # Within the length limit for sure, and not a number (_PARSABLE needs a digit,
            # "-" or "." first): a string as it is.
            if (surely_short < 0 or len(value) <= surely_short) and (
                    not type_cast or value[:1] not in "-.0123456789"):
                append(KvEntry(key, _STRING, value))
            else:
                append(_string_entry(key, value, config))
        elif kind is bool:
            append(KvEntry(key, _BOOLEAN, value))
        elif value is None:
            if not drop_nulls:
                raise InvalidPayload(f"Value for key [{key}] is null")
        elif isinstance(value, dict | list):
            append(_json_entry(key, value, config))
        else:
            append(_other_entry(key, value, config))
    return entries


def _other_entry(key: str, value: Any, config: ConverterConfig) -> KvEntry:
    """Subclasses and Python floats, which parse_payload never produces but callers might."""
    if isinstance(value, bool):
        return KvEntry(key, _BOOLEAN, bool(value))
    if isinstance(value, NumberLiteral):
        return _number_entry(key, NumberLiteral(str.__str__(value)), config, from_string=False)
    if isinstance(value, int):
        return _entries({key: int(value)}, config, True)[0]
    if isinstance(value, str):
        return _string_entry(key, str.__str__(value), config)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidPayload(f"Value for key [{key}] is not a finite number")
        # repr() is the shortest literal of the float, so it types as that literal would.
        return _number_entry(key, repr(value), config, from_string=False)
    raise InvalidPayload(f"Value for key [{key}] has an unsupported type {type(value).__name__}")


def _over(text: str, limit: int) -> int:
    """``text``'s length when it is above ``limit`` (0: none), else 0. ThingsBoard counts
    UTF-16 code units: a character beyond U+FFFF counts twice."""
    if limit <= 0 or len(text) <= limit // 2:
        return 0
    length = len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2
    return length if length > limit else 0


def _json_entry(key: str, value: dict[str, Any] | list[Any], config: ConverterConfig) -> KvEntry:
    text = dumps_compact(value)
    length = _over(text, config.max_json_length)
    if length:
        raise InvalidPayload(
            f"JSON value length [{length}] for key [{key}] "
            f"is greater than maximum allowed [{config.max_json_length}]"
        )
    return KvEntry(key, _JSON, text)


def _string_entry(key: str, value: str, config: ConverterConfig) -> KvEntry:
    length = _over(value, config.max_string_length)
    if length:
        raise InvalidPayload(
            f"String value length [{length}] for key [{key}] "
            f"is greater than maximum allowed [{config.max_string_length}]"
        )
    if config.type_cast and _PARSABLE.fullmatch(value):
        return _number_entry(key, value, config, from_string=True)
    return KvEntry(key, _STRING, value)


def _number_entry(key: str, text: str, config: ConverterConfig, *, from_string: bool) -> KvEntry:
    """Type a number by its literal ``text``, as ThingsBoard's ``buildNumericKeyValueProto``.

    ``text`` is a JSON number literal, or a string matching ``_PARSABLE`` when ``from_string``.
    """
    if "e" not in text and "E" not in text:
        dot = text.find(".")
        if dot < 0:
            # Plain digits: an integer. 18 characters always fit in a long.
            if len(text) <= 18:
                return KvEntry(key, _LONG, int(text))
        elif len(text) - dot - 1 <= 16:
            # The common case, e.g. 25.5: a "simple double" with at most 16 decimals.
            return _double_entry(key, text, from_string)
    return _decimal_entry(key, text, config, from_string)


def _decimal_entry(key: str, text: str, config: ConverterConfig, from_string: bool) -> KvEntry:
    """The general rules, on the exact decimal value (Java's ``BigDecimal``)."""
    number = Decimal(text)
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # always finite: text is a number literal
    significant = len(digits)
    trailing_zeros = significant - len("".join(map(str, digits)).rstrip("0"))
    is_zero = trailing_zeros == significant
    simple_double = "." in text and "e" not in text and "E" not in text
    if (is_zero or exponent + trailing_zeros >= 0) and not simple_double:
        # Integral: a LONG if it fits. Beyond 19 digits it cannot.
        if is_zero:
            return KvEntry(key, _LONG, 0)
        if significant + exponent <= 19:
            value = int(number)
            if LONG_MIN <= value <= LONG_MAX:
                return KvEntry(key, _LONG, value)
    elif -exponent <= 16:
        return _double_entry(key, text, from_string)
    if not config.type_cast:
        raise InvalidPayload(BIG_INTEGER_MESSAGE)
    return KvEntry(key, _STRING, _plain_text(key, text, number))


def _double_entry(key: str, text: str, from_string: bool) -> KvEntry:
    value = float(text)
    if value == 0.0:
        # Java's BigDecimal has no negative zero, so -0.0 is stored as 0.0.
        value = 0.0
    elif not math.isfinite(value):
        if from_string:
            # ThingsBoard keeps a string it could not cast as the string.
            return KvEntry(key, _STRING, text)
        raise InvalidPayload(f"Number for key [{key}] is too large for a double: {text[:40]}")
    return KvEntry(key, _DOUBLE, value)


def _plain_text(key: str, text: str, number: Decimal) -> str:
    """The number without an exponent, as Java's ``BigDecimal.toPlainString``."""
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    if len(digits) + abs(exponent) > len(text) + _MAX_PLAIN_GROWTH:
        raise InvalidPayload(f"Number for key [{key}] is too large to store: {text[:40]}")
    coefficient = "".join(map(str, digits))
    if exponent >= 0:
        plain = coefficient + "0" * exponent
    else:
        coefficient = coefficient.rjust(1 - exponent, "0")
        plain = f"{coefficient[:exponent]}.{coefficient[exponent:]}"
    # BigDecimal has no negative zero.
    return "-" + plain if sign and any(digits) else plain


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


# --------------------------------------------------------------------------------------------
# Entries -> values
# --------------------------------------------------------------------------------------------


def kv_value(entry: KvEntry | TsKvEntry | AttributeKvEntry) -> Any:
    """The entry's value as Python, for JSON output; a JSON value is parsed back (or, nested
    too deep for orjson to write, kept as an ``orjson.Fragment`` of its text)."""
    kind = entry.type
    value = entry.value
    if kind == DataType.LONG:
        return int(value)
    if kind == DataType.DOUBLE:
        # A float, so that 42.0 is written as 42.0 and not 42 even if a store returned an int.
        return float(value)
    if kind == DataType.BOOLEAN:
        return bool(value)
    if kind == DataType.JSON:
        return _load_json(value)
    return value


#: A response puts a value a few levels deep, and orjson writes only so many; a value nested
#: deeper than this is handed over as its stored (compact, valid) text, written as it is.
_WRITABLE_DEPTH = ORJSON_MAX_DEPTH - 14


def _load_json(text: Any) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        # orjson rejects numbers beyond a double's range; keep the rest of its behaviour.
        value = json.loads(text, parse_int=_loaded_int, parse_float=float)
    if deeper_than(value, _WRITABLE_DEPTH, text):
        return orjson.Fragment(text)
    return value


def _loaded_int(text: str) -> int | float:
    # As orjson does: an integer beyond 64 bits is read as a float.
    if len(text) <= 20:
        value = int(text)
        if LONG_MIN <= value < 2**64:
            return value
    return float(text)


def kv_value_str(entry: KvEntry | TsKvEntry | AttributeKvEntry) -> str:
    """The entry's value as ThingsBoard renders it as a string (``useStrictDataTypes=false``)."""
    kind = entry.type
    value = entry.value
    if kind == DataType.DOUBLE:
        return java_double_str(float(value))
    if kind == DataType.BOOLEAN:
        return "true" if value else "false"
    if kind == DataType.LONG:
        return str(int(value))
    return str(value)


def java_double_str(value: float) -> str:
    """``value`` as Java's ``Double.toString`` (JDK 19+) prints it: ``42.0``, ``1.0E10``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    digits, exponent = _shortest_digits(magnitude)
    if len(digits) == 1 and magnitude < sys.float_info.min:
        digits, exponent = _closest_two_digits(magnitude)
    # ``value`` = 0.d1d2... * 10**(exponent + 1), i.e. d1.d2... * 10**exponent.
    if -3 <= exponent < 7:
        if exponent >= 0:
            whole = digits[: exponent + 1].ljust(exponent + 1, "0")
            fraction = digits[exponent + 1 :] or "0"
            return f"{sign}{whole}.{fraction}"
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


def _shortest_digits(magnitude: float) -> tuple[str, int]:
    """Significant digits (no trailing zeros) of the shortest repr, and its decimal exponent."""
    mantissa, _, exp_text = repr(magnitude).partition("e")
    whole, _, fraction = mantissa.partition(".")
    shift = int(exp_text) if exp_text else 0
    if whole.strip("0"):
        digits = (whole.lstrip("0") + fraction).rstrip("0")
        exponent = len(whole.lstrip("0")) - 1 + shift
    else:
        stripped = fraction.lstrip("0")
        digits = stripped.rstrip("0")
        exponent = -(len(fraction) - len(stripped) + 1) + shift
    return digits, exponent


def _closest_two_digits(magnitude: float) -> tuple[str, int]:
    """Java's choice when one digit would do: the closest decimal of at most two digits.

    For a normal double only ``d.0`` itself can round back to it; for a subnormal the rounding
    interval is wide enough for another two-digit decimal to be closer (Double.MIN_VALUE prints
    as 4.9E-324, not 5.0E-324).
    """
    with localcontext() as context:
        context.prec = 1200
        exact = Decimal(magnitude)
        unit_exponent = exact.adjusted() - 1
        unit = Decimal(1).scaleb(unit_exponent)
        low = int(exact / unit)
        best: tuple[Decimal, int, int] | None = None
        for significand in (low, low + 1):
            candidate = Decimal(significand).scaleb(unit_exponent)
            if float(candidate) != magnitude:
                continue
            distance = abs(candidate - exact)
            ranking = (distance, significand % 2, significand)
            if best is None or ranking < best:
                best = ranking
    assert best is not None  # the one-digit decimal lies on this grid and rounds back
    significand = best[2]
    digits = str(significand).rstrip("0")
    return digits, unit_exponent + len(str(significand)) - 1
