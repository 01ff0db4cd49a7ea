"""Reading JSON values as ThingsBoard's Gson reads them (``getAsString``, ``getAsBoolean``,
``getAsLong``), where devices send loosely typed fields (claim offers, provision requests)."""

from __future__ import annotations

from typing import Any

from thingport.domain.model import LONG_MAX, LONG_MIN
from thingport.errors import InvalidPayload


def as_string(value: Any, name: str) -> str:
    """A JSON primitive as text: numbers and booleans as their text; absent is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise InvalidPayload(f"{name} must be a string")
    return str(value)


def as_boolean(value: Any, name: str) -> bool:
    """A boolean, or text that reads "true" in any case; absent is false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (dict, list)):
        raise InvalidPayload(f"{name} must be a boolean")
    return str(value).lower() == "true"


def as_long(value: Any, name: str) -> int:
    """A JSON number or numeric string as a Java long (fractions truncated); absent is 0."""
    if value is None:
        return 0
    if isinstance(value, (bool, dict, list)):
        raise InvalidPayload(f"{name} must be a number")
    try:
        number = int(float(value)) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise InvalidPayload(f"{name} must be a number") from None
    except OverflowError:  # inf, or a string past a double
        raise InvalidPayload(f"{name} is out of range") from None
    if not LONG_MIN <= number <= LONG_MAX:
        raise InvalidPayload(f"{name} is out of range")
    return number
