"""Typing ThingsBoard key/values from JSON, and rendering them back."""

from __future__ import annotations

import contextlib
import json
import math
import struct
import sys
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thingport.domain.json_parse import MAX_DEPTH, NumberLiteral, parse_payload
from thingport.domain.kv_json import ConverterConfig, attributes_from_json, telemetry_from_json
from thingport.domain.kv_render import java_double_str, kv_value, kv_value_str
from thingport.domain.kv_values import BIG_INTEGER_MESSAGE
from thingport.domain.model import AttributeKvEntry, DataType, KvEntry, TsKvEntry
from thingport.errors import InvalidJson, InvalidPayload

NOW = 1_700_000_000_000
DEFAULT = ConverterConfig()
NO_CAST = ConverterConfig(type_cast=False)
LONG, DOUBLE, STRING = DataType.LONG, DataType.DOUBLE, DataType.STRING
BOOLEAN, JSON = DataType.BOOLEAN, DataType.JSON


def attributes(text: str, config: ConverterConfig = DEFAULT) -> list[KvEntry]:
    return attributes_from_json(parse_payload(text.encode()), config)


def one(text: str, config: ConverterConfig = DEFAULT) -> tuple[DataType, Any]:
    """The type and value stored for ``{"a": <text>}``."""
    [entry] = attributes('{"a":' + text + "}", config)
    assert entry.key == "a"
    return entry.type, entry.value


def exactly(value: Any) -> tuple[type, Any]:
    """Compare values with their types: 42 == 42.0 and 0.0 == -0.0 would hide mistakes."""
    if isinstance(value, float):
        return float, struct.pack(">d", value)
    return type(value), value


# --------------------------------------------------------------------------------------------
# Value typing (spec section 2)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("json_value", "expected_type", "expected_value"),
    [
        # The examples of section 2.
        ("73", LONG, 73),
        ('"73"', LONG, 73),
        ("42.0", DOUBLE, 42.0),
        ('"abc"', STRING, "abc"),
        ("1e2", LONG, 100),
        ('"1e2"', STRING, "1e2"),
        ("[1,2]", JSON, "[1,2]"),
        ('{"b":1}', JSON, '{"b":1}'),
        ("12345678901234567890", STRING, "12345678901234567890"),
        # The number rules.
        ("true", BOOLEAN, True),
        ("false", BOOLEAN, False),
        ("1e3", LONG, 1000),
        ("1.5E3", LONG, 1500),
        ("1.50e2", LONG, 150),
        ("100e-2", LONG, 1),
        ("1.25e1", DOUBLE, 12.5),
        ("12.5e-1", DOUBLE, 1.25),
        ("1.5e-3", DOUBLE, 0.0015),
        ("-2.5", DOUBLE, -2.5),
        ("0", LONG, 0),
        ("-0", LONG, 0),
        ("0e5", LONG, 0),
        ("0.0", DOUBLE, 0.0),
        ("-0.0", DOUBLE, 0.0),  # Java's BigDecimal has no negative zero
        ("100.0", DOUBLE, 100.0),
        ("9223372036854775807", LONG, 9223372036854775807),
        ("-9223372036854775808", LONG, -9223372036854775808),
        ("9223372036854775808", STRING, "9223372036854775808"),
        ("-9223372036854775809", STRING, "-9223372036854775809"),
        ("9.223372036854775807e18", LONG, 9223372036854775807),
        ("1e19", STRING, "10000000000000000000"),
        ("1.0e19", STRING, "10000000000000000000"),
        ("0.1234567890123456", DOUBLE, 0.1234567890123456),
        ("0.12345678901234567", STRING, "0.12345678901234567"),
        ("1.00000000000000000000", STRING, "1.00000000000000000000"),
        ("1e-16", DOUBLE, 1e-16),
        ("1e-17", STRING, "0.00000000000000001"),
        ("-1.5e-20", STRING, "-0.000000000000000000015"),
        ("1e300", STRING, "1" + "0" * 300),
        # Strings cast to numbers: isParsable, ASCII digits only.
        ('"42"', LONG, 42),
        ('"-42"', LONG, -42),
        ('"007"', LONG, 7),
        ('"1.5"', DOUBLE, 1.5),
        ('"1.0"', DOUBLE, 1.0),
        ('".5"', DOUBLE, 0.5),
        ('"-.5"', DOUBLE, -0.5),
        ('"0.12345678901234567"', STRING, "0.12345678901234567"),
        ('"00012345678901234567890"', STRING, "12345678901234567890"),
        ('"+5"', STRING, "+5"),
        ('" 5"', STRING, " 5"),
        ('"5 "', STRING, "5 "),
        ('"5."', STRING, "5."),
        ('"1e3"', STRING, "1e3"),
        ('"0x1F"', STRING, "0x1F"),
        ('"1.2.3"', STRING, "1.2.3"),
        ('"-"', STRING, "-"),
        ('""', STRING, ""),
        ('"NaN"', STRING, "NaN"),
        ('"١٢٣"', STRING, "١٢٣"),  # Arabic-Indic digits are not cast
        ('"true"', STRING, "true"),
        # Unquoted values, read leniently.
        ("on", STRING, "on"),
        ("TRUE", BOOLEAN, True),
        # Objects and arrays: compact JSON, number literals as written.
        ('[{"x": 1.50}, [ ], "é", null]', JSON, '[{"x":1.50},[],"é",null]'),
        ("{'b': {c: [1e3]}}", JSON, '{"b":{"c":[1e3]}}'),
        ("[]", JSON, "[]"),
        ("{}", JSON, "{}"),
    ],
)
def test_values_are_typed_as_thingsboard_types_them(
    json_value: str, expected_type: DataType, expected_value: Any
) -> None:
    stored_type, stored_value = one(json_value)
    assert stored_type is expected_type
    assert exactly(stored_value) == exactly(expected_value)


def test_a_huge_string_of_digits_is_kept_as_its_plain_digits() -> None:
    digits = "9" * 5000
    assert one(digits) == (STRING, digits)
    assert one(f'"{digits}"') == (STRING, digits)


def test_numbers_that_would_expand_enormously_are_refused() -> None:
    with pytest.raises(InvalidPayload, match=r"Number for key \[a\] is too large to store"):
        one("1e999999999")
    with pytest.raises(InvalidPayload, match="too large to store"):
        one("1e-999999999")


def test_a_double_beyond_the_range_of_a_double_is_refused() -> None:
    huge = "9" * 400 + ".5"
    with pytest.raises(InvalidPayload, match=r"Number for key \[a\] is too large for a double"):
        one(huge)
    # As a string it cannot be cast, so it stays a string.
    assert one(f'"{huge}"') == (STRING, huge)


def test_nulls_are_dropped() -> None:
    assert attributes('{"a": null, "b": 1}') == [KvEntry("b", LONG, 1)]


def test_keys_keep_their_order_and_are_not_validated() -> None:
    entries = attributes('{"z": 1, "": 2, "with space": 3, "a": 4, "z": 5}')
    assert [(e.key, e.value) for e in entries] == [("z", 5), ("", 2), ("with space", 3), ("a", 4)]


# --------------------------------------------------------------------------------------------
# Type casting off
# --------------------------------------------------------------------------------------------


def test_without_type_casting_numeric_strings_stay_strings() -> None:
    assert one('"73"', NO_CAST) == (STRING, "73")
    assert one('"1.5"', NO_CAST) == (STRING, "1.5")
    assert one("73", NO_CAST) == (LONG, 73)
    assert one("1.5", NO_CAST) == (DOUBLE, 1.5)


@pytest.mark.parametrize("json_value", ["12345678901234567890", "1e19", "0.12345678901234567"])
def test_without_type_casting_numbers_that_do_not_fit_are_refused(json_value: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        one(json_value, NO_CAST)
    assert caught.value.message == BIG_INTEGER_MESSAGE == "Big integer values are not supported!"


def test_without_type_casting_a_huge_numeric_string_is_just_a_string() -> None:
    assert one('"12345678901234567890"', NO_CAST) == (STRING, "12345678901234567890")


# --------------------------------------------------------------------------------------------
# String length limit
# --------------------------------------------------------------------------------------------


def test_strings_up_to_the_limit_pass() -> None:
    assert one('"abcde"', ConverterConfig(max_string_length=5)) == (STRING, "abcde")


def test_a_longer_string_is_refused_with_thingsboards_message() -> None:
    with pytest.raises(InvalidPayload) as caught:
        attributes('{"serial": "abcdef"}', ConverterConfig(max_string_length=5))
    assert caught.value.message == (
        "String value length [6] for key [serial] is greater than maximum allowed [5]"
    )


def test_the_limit_counts_utf16_units_as_java_does() -> None:
    limited = ConverterConfig(max_string_length=3)
    assert one('"éé"', limited) == (STRING, "éé")
    with pytest.raises(InvalidPayload, match=r"length \[4\]"):
        one('"😀😀"', limited)


def test_the_limit_applies_before_casting_and_not_to_json_values_or_keys() -> None:
    limited = ConverterConfig(max_string_length=3)
    with pytest.raises(InvalidPayload):
        one('"12345"', limited)
    assert one("12345", limited) == (LONG, 12345)
    assert one('["long string"]', limited) == (JSON, '["long string"]')
    assert attributes('{"a long key": 1}', limited) == [KvEntry("a long key", LONG, 1)]


def test_json_values_have_a_limit_of_their_own_on_their_compact_text() -> None:
    limited = ConverterConfig(max_json_length=11)
    assert one('{ "a" : [ 1, 2 ] }', limited) == (JSON, '{"a":[1,2]}')  # 11 when compact
    with pytest.raises(InvalidPayload) as caught:
        attributes('{"cfg": {"a": [1, 2, 3]}}', limited)
    assert caught.value.message == (
        "JSON value length [13] for key [cfg] is greater than maximum allowed [11]"
    )
    assert one('"a string longer than eleven"', limited)[0] == STRING  # not a JSON value
    assert one('{"a":[1,2,3]}', ConverterConfig())[0] == JSON  # 0: no limit


# --------------------------------------------------------------------------------------------
# Telemetry shapes (spec section 3)
# --------------------------------------------------------------------------------------------


def telemetry(text: str) -> list[tuple[int, list[KvEntry]]]:
    return telemetry_from_json(parse_payload(text.encode()), NOW)


def test_a_flat_object_gets_the_server_time() -> None:
    assert telemetry('{"temperature": 26, "humidity": 87.5}') == [
        (NOW, [KvEntry("temperature", LONG, 26), KvEntry("humidity", DOUBLE, 87.5)])
    ]


def test_an_object_with_ts_and_values_uses_the_client_time() -> None:
    assert telemetry('{"ts": 1634712287000, "values": {"temperature": 26}, "other": 1}') == [
        (1634712287000, [KvEntry("temperature", LONG, 26)])
    ]


def test_ts_without_values_or_values_without_ts_are_ordinary_keys() -> None:
    assert telemetry('{"ts": 1634712287000, "t": 1}') == [
        (NOW, [KvEntry("ts", LONG, 1634712287000), KvEntry("t", LONG, 1)])
    ]
    assert telemetry('{"values": {"t": 1}}') == [(NOW, [KvEntry("values", JSON, '{"t":1}')])]


def test_an_array_mixes_both_forms_one_group_per_object() -> None:
    text = """[{"ts": 1634712287000, "values": {"t": 26}},
               {"ts": 1634712588000, "values": {"t": 25}},
               {"h": 40},
               {"ts": 1634712287000, "values": {"t": 27}}]"""
    assert telemetry(text) == [
        (1634712287000, [KvEntry("t", LONG, 26)]),
        (1634712588000, [KvEntry("t", LONG, 25)]),
        (NOW, [KvEntry("h", LONG, 40)]),
        (1634712287000, [KvEntry("t", LONG, 27)]),
    ]


def test_empty_uploads() -> None:
    assert telemetry("{}") == [(NOW, [])]
    assert telemetry("[]") == []
    assert telemetry('{"ts": 5, "values": {}}') == [(5, [])]
    assert telemetry('{"a": null}') == [(NOW, [])]


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("1634712287000", 1634712287000),
        ('"1634712287000"', 1634712287000),
        ('"+5"', 5),
        ('"-5"', -5),
        ('"0000000000000000000000012"', 12),
        ("1634712287000.9", 1634712287000),
        ("-1.9", -1),
        ("1.6347122870009e12", 1634712287000),
        ("1e-30", 0),
        ("0", 0),
        ("-1", -1),
        ("9223372036854775807", 9223372036854775807),
    ],
)
def test_ts_is_read_as_a_long(ts: str, expected: int) -> None:
    [(stored_ts, _)] = telemetry('{"ts": ' + ts + ', "values": {"a": 1}}')
    assert stored_ts == expected


@pytest.mark.parametrize(
    ("ts", "message"),
    [
        ('"abc"', '"ts" must be a number of milliseconds, not the string "abc"'),
        ('"1.5"', '"ts" must be a number of milliseconds, not the string "1.5"'),
        ('" 5"', '"ts" must be a number of milliseconds, not the string " 5"'),
        ("true", '"ts" must be a number of milliseconds, not the boolean true'),
        ("null", '"ts" must be a number of milliseconds, not null'),
        ("[5]", '"ts" must be a number of milliseconds, not an array'),
        ("{}", '"ts" must be a number of milliseconds, not an object'),
        ("9223372036854775808", '"ts" must be a number of milliseconds that fits in 64 bits'),
        ("1e19", '"ts" must be a number of milliseconds that fits in 64 bits, not the number 1e19'),
        ('"99999999999999999999"', '"ts" must be a number of milliseconds that fits in 64 bits'),
    ],
)
def test_a_ts_that_is_not_a_long_is_refused(ts: str, message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        telemetry('{"ts": ' + ts + ', "values": {"a": 1}}')
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"ts": 1, "values": [1]}', '"values" must be a JSON object, not an array'),
        ('{"ts": 1, "values": null}', '"values" must be a JSON object, not null'),
        ('{"ts": 1, "values": 5}', '"values" must be a JSON object, not the number 5'),
        ('[{"a": 1}, 5]', "Telemetry array item 1 must be a JSON object, not the number 5"),
        ('[{"a": 1}, [2]]', "Telemetry array item 1 must be a JSON object, not an array"),
        ("5", "Telemetry must be a JSON object or an array of objects, not the number 5"),
        ("2.5", "Telemetry must be a JSON object or an array of objects, not the number 2.5"),
        ('"x"', 'Telemetry must be a JSON object or an array of objects, not the string "x"'),
        ("null", "Telemetry must be a JSON object or an array of objects, not null"),
        ("true", "Telemetry must be a JSON object or an array of objects, not the boolean true"),
    ],
)
def test_telemetry_of_the_wrong_shape_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        telemetry(text)
    assert caught.value.message == message


def test_the_rest_path_refuses_null_telemetry_values() -> None:
    with pytest.raises(InvalidPayload, match=r"Value for key \[t\] is null"):
        telemetry_from_json({"t": None}, NOW, drop_nulls=False)


# --------------------------------------------------------------------------------------------
# Attributes (spec sections 4 and 13.3)
# --------------------------------------------------------------------------------------------


def test_attributes_are_a_flat_object_where_ts_and_values_mean_nothing() -> None:
    assert attributes('{"ts": 1, "values": {"a": 1}, "firmwareVersion": "1.2.3"}') == [
        KvEntry("ts", LONG, 1),
        KvEntry("values", JSON, '{"a":1}'),
        KvEntry("firmwareVersion", STRING, "1.2.3"),
    ]


@pytest.mark.parametrize(
    ("text", "what"), [("[]", "an array"), ("5", "the number 5"), ("null", "null")]
)
def test_attributes_must_be_an_object(text: str, what: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        attributes(text)
    assert caught.value.message == f"Attributes must be a JSON object, not {what}"


def test_the_rest_path_refuses_null_attribute_values() -> None:
    payload = parse_payload(b'{"targetTemp": 22, "mode": null}')
    with pytest.raises(InvalidPayload) as caught:
        attributes_from_json(payload, drop_nulls=False)
    assert caught.value.message == "Value for key [mode] is null"
    assert attributes_from_json(payload) == [KvEntry("targetTemp", LONG, 22)]


def test_python_values_from_other_sources_are_typed_like_their_literals() -> None:
    assert attributes_from_json({"d": 42.0, "l": 1e16, "s": 0.1}) == [
        KvEntry("d", DOUBLE, 42.0),
        KvEntry("l", LONG, 10**16),
        KvEntry("s", DOUBLE, 0.1),
    ]
    with pytest.raises(InvalidPayload, match="not a finite number"):
        attributes_from_json({"x": math.inf})
    with pytest.raises(InvalidPayload, match="unsupported type"):
        attributes_from_json({"x": object()})


# --------------------------------------------------------------------------------------------
# Reading back
# --------------------------------------------------------------------------------------------


def test_kv_value_gives_typed_python_values() -> None:
    assert exactly(kv_value(KvEntry("a", LONG, 73))) == exactly(73)
    assert exactly(kv_value(KvEntry("a", DOUBLE, 42.0))) == exactly(42.0)
    assert exactly(kv_value(KvEntry("a", DOUBLE, 42))) == exactly(42.0)  # a store's int
    assert kv_value(KvEntry("a", BOOLEAN, 1)) is True
    assert kv_value(KvEntry("a", STRING, "abc")) == "abc"
    assert kv_value(KvEntry("a", JSON, '{"b":[1,2.50,"x"]}')) == {"b": [1, 2.5, "x"]}


def test_kv_value_reads_every_entry_kind() -> None:
    assert kv_value(TsKvEntry(NOW, "a", JSON, "[1]")) == [1]
    assert kv_value(AttributeKvEntry("a", LONG, 5, NOW)) == 5


def test_kv_value_reads_json_with_numbers_beyond_a_double() -> None:
    [entry] = attributes('{"a": [1e400, 123456789012345678901234567890, 7]}')
    assert entry == KvEntry("a", JSON, "[1e400,123456789012345678901234567890,7]")
    assert kv_value(entry) == [math.inf, 1.2345678901234568e29, 7]


def test_a_double_keeps_its_point_when_written_as_json() -> None:
    [entry] = attributes('{"a": 42.0}')
    assert json.dumps(kv_value(entry)) == "42.0"


def test_json_as_deep_as_the_device_api_accepts_can_be_written_in_a_response() -> None:
    # Found by tests/fuzz: orjson writes at most 254 levels, so GET attributes answered 500.
    deepest = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    [entry] = attributes('{"a": ' + deepest + "}")
    response = orjson.dumps({"client": {"a": kv_value(entry)}})
    assert response == b'{"client":{"a":' + deepest.encode() + b"}}"
    # Shallower values are still parsed back.
    [entry] = attributes('{"a": ' + "[" * 200 + "2.50" + "]" * 200 + "}")
    assert json.dumps(kv_value(entry)) == "[" * 200 + "2.5" + "]" * 200


@pytest.mark.parametrize(
    ("entry", "text"),
    [
        (KvEntry("a", LONG, 73), "73"),
        (KvEntry("a", LONG, -9223372036854775808), "-9223372036854775808"),
        (KvEntry("a", BOOLEAN, True), "true"),
        (KvEntry("a", BOOLEAN, False), "false"),
        (KvEntry("a", STRING, "abc"), "abc"),
        (KvEntry("a", JSON, '{"b":1}'), '{"b":1}'),
        (KvEntry("a", DOUBLE, 42.0), "42.0"),
        (TsKvEntry(NOW, "a", DOUBLE, 26.5), "26.5"),
        (AttributeKvEntry("a", DOUBLE, 1e10, NOW), "1.0E10"),
    ],
)
def test_kv_value_str_renders_as_thingsboard_does(entry: KvEntry, text: str) -> None:
    assert kv_value_str(entry) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42.0, "42.0"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (100.0, "100.0"),
        (-2.5, "-2.5"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (0.00123, "0.00123"),
        (1234567.0, "1234567.0"),
        (9999999.999999998, "9999999.999999998"),
        (1e7, "1.0E7"),
        (12345678.9, "1.23456789E7"),
        (1e10, "1.0E10"),
        (-1.5e-7, "-1.5E-7"),
        (1e23, "1.0E23"),
        (sys.float_info.max, "1.7976931348623157E308"),
        (sys.float_info.min, "2.2250738585072014E-308"),
        (5e-324, "4.9E-324"),  # Double.MIN_VALUE: Java picks the closest two-digit decimal
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
    ],
)
def test_doubles_render_as_javas_double_to_string(value: float, text: str) -> None:
    assert java_double_str(value) == text


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
    | st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{1,20})?", fullmatch=True)
)
_json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)
_number_literals = st.from_regex(
    r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
_lenient_texts = st.text(st.sampled_from(list("{}[]:,;='\"ts valuesnu0123456789.-eE")))
_configs = st.builds(
    ConverterConfig, type_cast=st.booleans(), max_string_length=st.integers(0, 10)
)


def _payloads() -> st.SearchStrategy[Any]:
    from_json = _json_values.map(lambda v: parse_payload(json.dumps(v).encode()))
    from_numbers = st.lists(_number_literals, max_size=5).map(
        lambda items: parse_payload(("[" + ",".join(items) + "]").encode())
    )
    telemetry_like = st.builds(
        lambda ts, values: {"ts": ts, "values": values},
        _json_values | _number_literals.map(NumberLiteral),
        _json_values,
    )
    return from_json | from_numbers | telemetry_like | st.lists(telemetry_like, max_size=3)


@settings(max_examples=300)
@given(payload=_payloads(), config=_configs, drop_nulls=st.booleans())
def test_the_converter_raises_only_invalid_payload(
    payload: Any, config: ConverterConfig, drop_nulls: bool
) -> None:
    for convert in (
        lambda: telemetry_from_json(payload, NOW, config, drop_nulls=drop_nulls),
        lambda: attributes_from_json(payload, config, drop_nulls),
    ):
        with contextlib.suppress(InvalidPayload):
            convert()


@settings(max_examples=300)
@given(text=_lenient_texts, config=_configs)
def test_the_converter_raises_only_invalid_payload_on_lenient_documents(
    text: str, config: ConverterConfig
) -> None:
    try:
        payload = parse_payload(text.encode())
    except InvalidJson:
        return
    try:
        telemetry_from_json(payload, NOW, config)
        attributes_from_json(payload, config)
    except InvalidPayload:
        pass


@settings(max_examples=300)
@given(literal=_number_literals)
def test_every_number_literal_types_to_a_value_or_an_invalid_payload(literal: str) -> None:
    for config in (DEFAULT, NO_CAST):
        try:
            [entry] = attributes_from_json({"n": NumberLiteral(literal)}, config)
        except InvalidPayload:
            continue
        if entry.type is LONG:
            assert isinstance(entry.value, int)
            assert float(entry.value) == float(literal)
            assert -(2**63) <= entry.value < 2**63
        elif entry.type is DOUBLE:
            assert entry.value == float(literal)
        else:
            assert entry.type is STRING
            assert float(entry.value) == float(literal)


def _plain(value: Any) -> Any:
    """What a JSON value reads back as: number literals become floats."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, NumberLiteral):
        return float(value)
    return value


_longs = st.integers(-(2**63), 2**63 - 1)
# orjson reads integers up to 2**64 - 1 exactly, and larger ones as floats.
_nested_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_containers = st.recursive(
    st.lists(_nested_scalars, max_size=4) | st.dictionaries(_text, _nested_scalars, max_size=4),
    lambda children: st.lists(children | _nested_scalars, max_size=4)
    | st.dictionaries(_text, children | _nested_scalars, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    document=st.dictionaries(
        _text, st.booleans() | _longs | _text | st.none() | _containers, max_size=8
    )
)
def test_kv_value_gives_back_what_was_sent(document: dict[str, Any]) -> None:
    payload = parse_payload(json.dumps(document).encode())
    # Without casting, strings stay strings.
    entries = attributes_from_json(payload, NO_CAST)
    assert [entry.key for entry in entries] == [k for k, v in document.items() if v is not None]
    for entry in entries:
        sent = document[entry.key]
        if entry.type is JSON:
            assert kv_value(entry) == _plain(payload[entry.key]) == sent
            assert json.loads(kv_value_str(entry)) == sent
        else:
            assert entry.type in (LONG, BOOLEAN, STRING)
            assert exactly(kv_value(entry)) == exactly(sent)


@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_java_double_strings_read_back_as_the_same_double(value: float) -> None:
    text = java_double_str(value)
    assert float(text) == value
    mantissa = text.lstrip("-").split("E")[0]
    assert "." in mantissa and not mantissa.endswith(".")
    scientific = value != 0 and not 1e-3 <= abs(value) < 1e7
    assert ("E" in text) is scientific


def _outcome(convert: Any) -> tuple[Any, ...]:
    """What a conversion gives, comparable exactly (a float by its repr: -0.0 is not 0.0)."""
    try:
        entry = convert()
    except InvalidPayload as exc:
        return ("refused", exc.message)
    return (entry.key, entry.type, type(entry.value), repr(entry.value))


_decimal_literals = (
    _number_literals
    # Beyond a double: -?[0-9]{300,320}\.[0-9]{1,3}, built from parts (from_regex is ten
    # times slower at strings this long).
    | st.builds(lambda sign, whole, fraction: f"{sign}{whole}.{fraction}",
                st.sampled_from(["", "-"]), st.text("0123456789", min_size=300, max_size=320),
                st.text("0123456789", min_size=1, max_size=3))
    | st.from_regex(r"-?[0-9]{1,3}\.[0-9]{15,18}", fullmatch=True)  # 16 decimals at most
    | st.sampled_from(["0.0", "-0.0", "0.000", "-0.5", "1.0000000000000000", "1.5e3", "2E-3"])
)
_strings = (
    _text
    | st.from_regex(r"-?[0-9]{0,20}(\.[0-9]{0,18})?", fullmatch=True)
    | st.from_regex(r"[-.]?[0-9a-z.]{0,6}", fullmatch=True)
    | st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x1F64F), max_size=4)
)


@settings(max_examples=1000)
@given(value=_decimal_literals.map(NumberLiteral) | _strings,
       config=st.builds(ConverterConfig, type_cast=st.booleans(),
                        max_string_length=st.integers(0, 12)))
def test_the_shortcuts_for_decimals_and_strings_type_as_the_general_rules(
    value: str, config: ConverterConfig
) -> None:
    from thingport.domain.kv_values import number_entry, string_entry

    def general() -> KvEntry:
        if type(value) is NumberLiteral:
            return number_entry("k", value, config, from_string=False)
        return string_entry("k", value, config)

    assert _outcome(lambda: attributes_from_json({"k": value}, config)[0]) == _outcome(general)
