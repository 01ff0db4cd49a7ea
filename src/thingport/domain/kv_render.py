"""Typed entries back to values: :func:`kv_value` the typed Python value for JSON output,
:func:`kv_value_str` ThingsBoard's string rendering (``useStrictDataTypes=false``)."""

from __future__ import annotations

import json
import math
import sys
from decimal import Decimal, localcontext
from typing import Any

import orjson

from thingport.domain.json_depth import ORJSON_MAX_DEPTH, deeper_than
from thingport.domain.model import LONG_MIN, DataType, TypedValue

__all__ = ["java_double_str", "kv_value", "kv_value_str"]


def kv_value(entry: TypedValue) -> Any:
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


def kv_value_str(entry: TypedValue) -> str:
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
