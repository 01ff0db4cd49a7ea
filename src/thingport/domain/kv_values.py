"""Typing the values of one upload object as ThingsBoard's transport does (see the spec,
section 2): a number's type depends on its literal text, numeric strings are cast to numbers,
objects and arrays are kept as compact JSON text, nulls are dropped.

``typed_entries`` is the hot loop of every upload: it types the commonest values (a plain
decimal, a string that is no number, an int, a boolean) itself and hands the rest to the
general rules (``number_entry``, ``string_entry``), which give the same answer for them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from thingport.domain.json_parse import NumberLiteral, dumps_compact
from thingport.domain.model import LONG_MAX, LONG_MIN, DataType, KvEntry
from thingport.errors import InvalidPayload


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

# A number too big or too small for a long or a double becomes a STRING of its plain digits.
# A short literal such as 1e999999999 would expand to a billion digits, so the plain text may be
# at most this many characters longer than the literal: enough for any exponent a double has.
_MAX_PLAIN_GROWTH = 400


def typed_entries(obj: dict[str, Any], config: ConverterConfig, drop_nulls: bool) -> list[KvEntry]:
    """The entries of a flat object's values, in order; InvalidPayload for a key or value
    ThingsBoard would refuse (a null too, unless ``drop_nulls``)."""
    entries: list[KvEntry] = []
    append = entries.append
    # The most common values (a plain decimal, a string that is no number) are typed here
    # rather than in number_entry and string_entry, which they would pass straight through.
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
            append(number_entry(key, value, config, from_string=False))
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
                append(string_entry(key, value, config))
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
        return number_entry(key, NumberLiteral(str.__str__(value)), config, from_string=False)
    if isinstance(value, int):
        return typed_entries({key: int(value)}, config, True)[0]
    if isinstance(value, str):
        return string_entry(key, str.__str__(value), config)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidPayload(f"Value for key [{key}] is not a finite number")
        # repr() is the shortest literal of the float, so it types as that literal would.
        return number_entry(key, repr(value), config, from_string=False)
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


def string_entry(key: str, value: str, config: ConverterConfig) -> KvEntry:
    """A string value: kept as it is, or cast to a number when it reads as one."""
    length = _over(value, config.max_string_length)
    if length:
        raise InvalidPayload(
            f"String value length [{length}] for key [{key}] "
            f"is greater than maximum allowed [{config.max_string_length}]"
        )
    if config.type_cast and _PARSABLE.fullmatch(value):
        return number_entry(key, value, config, from_string=True)
    return KvEntry(key, _STRING, value)


def number_entry(key: str, text: str, config: ConverterConfig, *, from_string: bool) -> KvEntry:
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
