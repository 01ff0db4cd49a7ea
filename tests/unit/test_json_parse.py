"""Parsing device payloads: the strict fast path, Gson's leniency, errors and compact writing."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thingport.domain.json_parse import (
    MAX_DEPTH,
    NumberLiteral,
    _dumps_slow,
    dumps_compact,
    parse_lenient,
    parse_payload,
)
from thingport.errors import InvalidJson


def typed(value: Any) -> Any:
    """``value`` with every type spelled out: NumberLiteral('1') and '1' compare equal as str."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, value)


def parse(text: str) -> Any:
    return parse_payload(text.encode())


def error_of(text: str | bytes) -> str:
    body = text.encode() if isinstance(text, str) else text
    with pytest.raises(InvalidJson) as caught:
        parse_payload(body)
    return caught.value.message


# --------------------------------------------------------------------------------------------
# Standard JSON
# --------------------------------------------------------------------------------------------


def test_standard_json_gives_plain_python_values() -> None:
    value = parse('{"temperature": 26, "on": true, "off": false, "none": null, "name": "t1"}')
    assert typed(value) == typed(
        {"temperature": 26, "on": True, "off": False, "none": None, "name": "t1"}
    )


def test_numbers_with_a_fraction_or_exponent_keep_their_literal_text() -> None:
    value = parse('[42, 42.0, 1.50, 1e3, 1.5E3, -0.0, 2.5e-3, 12345678901234567890]')
    assert typed(value) == typed(
        [
            42,
            NumberLiteral("42.0"),
            NumberLiteral("1.50"),
            NumberLiteral("1e3"),
            NumberLiteral("1.5E3"),
            NumberLiteral("-0.0"),
            NumberLiteral("2.5e-3"),
            12345678901234567890,
        ]
    )


def test_number_literal_is_a_str_that_shows_what_it_is() -> None:
    literal = NumberLiteral("1.50")
    assert literal == "1.50"
    assert repr(literal) == "NumberLiteral('1.50')"


def test_integers_beyond_pythons_digit_limit_stay_literals() -> None:
    digits = "9" * 5000
    assert typed(parse(digits)) == typed(NumberLiteral(digits))
    assert typed(parse(f"[{digits}]")) == typed([NumberLiteral(digits)])


def test_nan_and_infinity_are_strings_as_gson_reads_them() -> None:
    assert typed(parse("[NaN, Infinity, -Infinity]")) == typed(["NaN", "Infinity", "-Infinity"])


def test_duplicate_keys_keep_the_first_position_and_the_last_value() -> None:
    value = parse('{"a": 1, "b": 2, "a": 3}')
    assert list(value.items()) == [("a", 3), ("b", 2)]


def test_non_ascii_and_raw_control_characters_in_strings_pass() -> None:
    assert parse('{"city": "Zürich 東京", "tab": "a\tb"}') == {"city": "Zürich 東京", "tab": "a\tb"}


def test_a_leading_byte_order_mark_is_skipped() -> None:
    assert parse_payload(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_escaped_surrogate_pairs_join_and_lone_halves_become_replacement_characters() -> None:
    assert parse(r'{"smile": "\ud83d\ude00"}') == {"smile": "😀"}
    assert parse(r'{"\ud800key": "x\udc00"}') == {"\ufffdkey": "x\ufffd"}
    assert parse(r"{'smile': '\ud83d\ude00', lone: '\ud83d'}") == {
        "smile": "😀",
        "lone": "\ufffd",
    }


# --------------------------------------------------------------------------------------------
# Gson's leniency
# --------------------------------------------------------------------------------------------


def test_unquoted_keys_and_values_as_thingsboards_connectivity_check_sends() -> None:
    assert parse("{temperature:25}") == {"temperature": 25}
    assert typed(parse("{temperature:25, state:on}")) == typed({"temperature": 25, "state": "on"})


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("25", 25),
        ("-7", -7),
        ("25.5", NumberLiteral("25.5")),
        ("1e3", NumberLiteral("1e3")),
        ("-0", 0),
        ("true", True),
        ("TRUE", True),
        ("tRuE", True),
        ("False", False),
        ("null", None),
        ("NULL", None),
        ("on", "on"),
        ("trues", "trues"),
        ("nan", "nan"),
        ("01", "01"),
        (".5", ".5"),
        ("1.", "1."),
        ("+1", "+1"),
        ("1e", "1e"),
        ("25c", "25c"),
        ("1.2.3", "1.2.3"),
        ("-", "-"),
        ('a"b', 'a"b'),
        ("Zürich", "Zürich"),
    ],
)
def test_unquoted_tokens_are_numbers_keywords_or_strings(token: str, expected: Any) -> None:
    assert typed(parse("{v:" + token + "}")) == typed({"v": expected})


def test_unquoted_keys_are_never_typed() -> None:
    assert parse("{true: 1, 25: 2, null: 3}") == {"true": 1, "25": 2, "null": 3}


def test_single_quoted_strings_and_keys() -> None:
    assert parse("{'name': 'say \"hi\"', 'it''s': 1}".replace("'it''s'", "'it\\'s'")) == {
        "name": 'say "hi"',
        "it's": 1,
    }


def test_escapes_in_strings() -> None:
    assert parse(r'["\"\\\/\b\f\n\r\t\u00e9", "\'"]') == ['"\\/\b\f\n\r\té', "'"]
    assert parse('["a\\\nb"]') == ["a\nb"]


@pytest.mark.parametrize(
    "text",
    [
        '// leading comment\n{"a": 1}',
        '# hash comment\n{"a": 1}',
        '/* block */ {"a": /* inside */ 1}',
        '{"a": 1} // trailing comment',
        '{"a": 1} # trailing comment',
        '{"a": 1}\r# a carriage return ends a comment too\r',
        "{\n  a: 1 // first\n  # second\n}",
    ],
)
def test_comments_are_skipped(text: str) -> None:
    assert parse(text) == {"a": 1}


def test_semicolons_separate_array_items_and_object_members() -> None:
    assert parse("[1; 2; 3]") == [1, 2, 3]
    assert parse("{a: 1; b: 2}") == {"a": 1, "b": 2}


def test_equals_and_arrow_separate_keys_from_values() -> None:
    assert parse("{a = 1, b => 2, 'c'=3}") == {"a": 1, "b": 2, "c": 3}


def test_empty_array_slots_are_null() -> None:
    assert parse("[1,,2]") == [1, None, 2]
    assert parse("[1,]") == [1, None]
    assert parse("[,1]") == [None, 1]
    assert parse("[,]") == [None, None]
    assert parse("[;]") == [None, None]
    assert parse("[ ]") == []


def test_top_level_primitives_are_allowed() -> None:
    assert typed(parse("42")) == typed(42)
    assert typed(parse("4.2")) == typed(NumberLiteral("4.2"))
    assert typed(parse('"text"')) == typed("text")
    assert typed(parse("word")) == typed("word")
    assert parse("true") is True
    assert parse("null") is None


def test_the_non_execute_prefix_is_dropped() -> None:
    assert parse(')]}\'\n{"a": 1}') == {"a": 1}


def test_lenient_and_strict_fragments_mix_in_one_document() -> None:
    text = """
    # device 12
    [
      {ts: 1634712287000, values: {temperature: 26.5, 'state': on}},
      {'humidity' => 40; "flags": [a, b,, 'c']}
    ]
    """
    assert typed(parse(text)) == typed(
        [
            {"ts": 1634712287000, "values": {"temperature": NumberLiteral("26.5"), "state": "on"}},
            {"humidity": 40, "flags": ["a", "b", None, "c"]},
        ]
    )


def test_nesting_up_to_the_limit_is_accepted() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    value = parse(text)
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []
    assert parse_lenient("{a:" * (MAX_DEPTH - 1) + "[]" + "}" * (MAX_DEPTH - 1)) is not None


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"   ", b"\n\t\r ", b"// nothing\n", b"/* nothing */"])
def test_an_empty_body_is_refused(body: bytes) -> None:
    assert error_of(body) == "Request body is empty"


def test_a_body_that_is_not_utf8_is_refused() -> None:
    assert error_of(b'{"a": "\xff"}') == "Request body is not valid UTF-8 (bad byte at offset 7)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1} {"b": 2}', "line 1 column 10: unexpected '{' after the JSON value"),
        ("{} x", "line 1 column 4: unexpected 'x' after the JSON value"),
        ("1 2", "line 1 column 3: unexpected '2' after the JSON value"),
        ("{a: 1,}", "line 1 column 7: expected a key after ',', found '}'"),
        ("{,}", "line 1 column 2: expected a key after '{', found ','"),
        ("{a 1}", "line 1 column 4: expected ':' after the key 'a', found '1'"),
        ("{a: 1 b: 2}", "line 1 column 7: expected ',' or '}' after an object member, found 'b'"),
        ("[1 2]", "line 1 column 4: expected ',' or ']' after an array item, found '2'"),
        ("[1, 2", "line 1 column 6: expected ',' or ']' after an array item, found end of input"),
        ('{"a": 1', "line 1 column 8: expected ',' or '}' after an object member"),
        ("{a:", "line 1 column 4: unexpected end of input, expected a value"),
        ("{a:,}", "line 1 column 4: expected a value, found ','"),
        ("{a:]}", "line 1 column 4: expected a value, found ']'"),
        ("]", "line 1 column 1: expected a value, found ']'"),
        ("{a: 1/2}", "line 1 column 6: expected ',' or '}' after an object member, found '/'"),
        ('"abc', "line 1 column 1: unterminated string"),
        ("{'a: 1}", "line 1 column 2: unterminated string"),
        ('["\\', "line 1 column 3: unterminated escape sequence"),
        ('["\\x"]', "line 1 column 3: invalid escape sequence '\\\\x'"),
        ('["\\u12G4"]', "line 1 column 3: malformed \\u escape '\\\\u12G4'"),
        ("/* never closed", "line 1 column 1: unterminated /* comment"),
        ("{} /* never closed", "line 1 column 4: unterminated /* comment"),
        ('{\n  "a": 1,\n  "b" 2\n}', "line 3 column 7: expected ':' after the key 'b'"),
    ],
)
def test_malformed_documents_say_where_and_what(text: str, message: str) -> None:
    assert error_of(text).startswith(f"Invalid JSON at {message}")


def test_nesting_beyond_the_limit_is_refused_on_both_paths() -> None:
    too_deep = MAX_DEPTH + 1
    strict_text = "[" * too_deep + "]" * too_deep
    assert json.loads(strict_text)  # valid JSON, so the strict path parses it first
    expected = f"column {too_deep}: nesting is deeper than {MAX_DEPTH} levels"
    assert expected in error_of(strict_text)
    assert expected in error_of("[" * too_deep + "1" + "]" * too_deep)
    assert "nesting is deeper" in error_of("{a:" * 100_000)
    assert "nesting is deeper" in error_of("[" * 100_000)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def test_dumps_compact_writes_number_literals_as_numbers() -> None:
    value = parse('{"a": 1, "b": [1, 2.50, 1E3], "c": {"d": "é"}, "e": null, "f": true}')
    assert dumps_compact(value) == '{"a":1,"b":[1,2.50,1E3],"c":{"d":"é"},"e":null,"f":true}'


def test_dumps_compact_escapes_what_json_requires_and_nothing_else() -> None:
    assert dumps_compact(['q"b\\', "\n\t\x01", "\u2028é東"]) == (
        '["q\\"b\\\\","\\n\\t\\u0001","\u2028é東"]'
    )


def test_dumps_compact_handles_what_orjson_refuses() -> None:
    big = 2**100
    assert dumps_compact({"big": big, "small": [NumberLiteral("1.0")]}) == (
        f'{{"big":{big},"small":[1.0]}}'
    )
    deep = parse("[" * MAX_DEPTH + "1.50" + "]" * MAX_DEPTH)
    assert dumps_compact(deep) == "[" * MAX_DEPTH + "1.50" + "]" * MAX_DEPTH
    assert dumps_compact(["\ud800"]) == '["\\ud800"]'


def test_the_slow_writer_matches_orjson() -> None:
    value: dict[str, Any] = {
        "a": [1, -2, 3.5, None, True, False, "x\"y\\z\n\x7f", {"k": []}, {}],
        "é": {"nested": [[], [{}]]},
    }
    assert _dumps_slow(value) == orjson.dumps(value).decode()


def test_dumps_compact_refuses_what_is_not_json() -> None:
    with pytest.raises(TypeError):
        dumps_compact({"a": object()})


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
)
_json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_text, children, max_size=5),
    max_leaves=30,
)


@given(
    document=st.dictionaries(_text, _json_values, max_size=8),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
)
def test_the_strict_path_and_the_lenient_parser_agree_on_json(
    document: dict[str, Any], ensure_ascii: bool, indent: int | None
) -> None:
    text = json.dumps(document, ensure_ascii=ensure_ascii, indent=indent)
    assert typed(parse_payload(text.encode())) == typed(parse_lenient(text))


@given(document=_json_values)
def test_dumps_compact_round_trips_through_parse_payload(document: Any) -> None:
    value = parse_payload(json.dumps(document).encode())
    assert typed(parse_payload(dumps_compact(value).encode())) == typed(value)


@settings(max_examples=300)
@given(text=st.text())
def test_the_lenient_parser_raises_only_invalid_json_on_any_text(text: str) -> None:
    with contextlib.suppress(InvalidJson):
        parse_lenient(text)


_JSONISH = st.text(st.sampled_from(list("{}[]:,;='\"\\/#*\n\r\t\f tfnrueaslTN0123456789.-+eE")))


@settings(max_examples=500)
@given(text=_JSONISH)
def test_the_lenient_parser_raises_only_invalid_json_on_json_like_text(text: str) -> None:
    with contextlib.suppress(InvalidJson):
        parse_lenient(text)


@given(body=st.binary())
def test_parse_payload_raises_only_invalid_json_on_any_bytes(body: bytes) -> None:
    with contextlib.suppress(InvalidJson):
        parse_payload(body)
