"""Gson-style readings of loosely typed device fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thingport.domain.gson import as_boolean, as_long, as_string
from thingport.domain.model import LONG_MAX, LONG_MIN
from thingport.errors import InvalidPayload


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), ("abc", "abc"), (True, "true"), (False, "false"), (42, "42"), (1.5, "1.5"),
])
def test_as_string(value: object, text: str) -> None:
    assert as_string(value, "f") == text


@pytest.mark.parametrize(("value", "flag"), [
    (None, False), (True, True), ("TRUE", True), ("yes", False), (1, False),
])
def test_as_boolean(value: object, flag: bool) -> None:
    assert as_boolean(value, "f") is flag


@pytest.mark.parametrize("value", [{}, [], {"a": 1}])
def test_objects_are_not_primitives(value: object) -> None:
    with pytest.raises(InvalidPayload, match="f must be a string"):
        as_string(value, "f")
    with pytest.raises(InvalidPayload, match="f must be a boolean"):
        as_boolean(value, "f")
    with pytest.raises(InvalidPayload, match="f must be a number"):
        as_long(value, "f")


@given(st.integers(LONG_MIN, LONG_MAX))
def test_every_long_reads_back_as_itself(number: int) -> None:
    assert as_long(number, "f") == number


@given(st.one_of(st.integers(max_value=LONG_MIN - 1), st.integers(min_value=LONG_MAX + 1)))
def test_past_a_long_is_out_of_range(number: int) -> None:
    with pytest.raises(InvalidPayload, match="f is out of range"):
        as_long(number, "f")


@pytest.mark.parametrize(("value", "number"), [("12", 12), ("12.9", 12), (-3.7, -3), (None, 0)])
def test_numeric_text_and_fractions(value: object, number: int) -> None:
    assert as_long(value, "f") == number


@pytest.mark.parametrize("value", ["1e999", float("inf"), "nan", "twelve"])
def test_what_is_no_long(value: object) -> None:
    with pytest.raises(InvalidPayload):
        as_long(value, "f")
