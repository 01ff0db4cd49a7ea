"""ThingsBoard's rate-limit syntax (``capacity:seconds,...``) and the token buckets counting it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thingport.domain.rate_limit import (
    MAX_CAPACITY,
    MAX_PERIOD_S,
    Bandwidth,
    TransportLimits,
    format_rate_limit,
    parse_rate_limit,
)
from thingport.services.rate_limits import Buckets


def test_pairs_are_capacity_and_seconds() -> None:
    assert parse_rate_limit("100:1,3000:60") == (Bandwidth(100, 1), Bandwidth(3000, 60))
    assert parse_rate_limit(" 5:10 ") == (Bandwidth(5, 10),)
    assert parse_rate_limit("5:10 , 7:20") == (Bandwidth(5, 10), Bandwidth(7, 20))


@pytest.mark.parametrize("text", [None, "", "   "])
def test_nothing_is_no_limit(text: str | None) -> None:
    assert parse_rate_limit(text) == ()


@pytest.mark.parametrize("text", [
    "100", "100:", ":1", "100:1,", ",100:1", "100:1,,5:2", "a:1", "1:b", "1.5:1", "-1:1",
    "1:-1", "100;1", "100:1:2", "1 0:1", "١٠٠:1",  # Arabic-Indic digits are not ASCII digits
])
def test_anything_else_is_refused_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="capacity:seconds"):
        parse_rate_limit(text)


@pytest.mark.parametrize("text", ["0:1", "1:0", f"{MAX_CAPACITY + 1}:1",
                                  f"1:{MAX_PERIOD_S + 1}"])
def test_zero_and_absurd_numbers_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="capacity must be 1 to"):
        parse_rate_limit(text)


pairs = st.lists(st.tuples(st.integers(1, MAX_CAPACITY), st.integers(1, MAX_PERIOD_S)),
                 min_size=1, max_size=5)


@given(pairs)
def test_formatting_reads_back(values: list[tuple[int, int]]) -> None:
    limit = tuple(Bandwidth(c, p) for c, p in values)
    assert parse_rate_limit(format_rate_limit(limit)) == limit


@given(st.text(max_size=40))
def test_any_text_is_parsed_or_refused_with_a_message(text: str) -> None:
    try:
        limit = parse_rate_limit(text)
    except ValueError as exc:
        assert str(exc)
        return
    # What parses is exactly what it says: every pair in range, and it reads back the same.
    for bandwidth in limit:
        assert 1 <= bandwidth.capacity <= MAX_CAPACITY
        assert 1 <= bandwidth.period_s <= MAX_PERIOD_S
    assert parse_rate_limit(format_rate_limit(limit)) == limit
    assert bool(limit) == bool(text.strip())


def test_a_profile_configuration_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match=r"^transportDeviceMsgRateLimit: "):
        TransportLimits.from_configuration({"transportDeviceMsgRateLimit": "10 per second"})
    with pytest.raises(ValueError, match=r"^transportTenantMsgRateLimit: expected a string"):
        TransportLimits.from_configuration({"transportTenantMsgRateLimit": 10})


def test_a_profile_field_left_empty_takes_the_server_default() -> None:
    defaults = TransportLimits.from_texts({"transportDeviceMsgRateLimit": "1:1",
                                           "transportTenantMsgRateLimit": "9:9"})
    limits = TransportLimits.from_configuration(
        {"transportDeviceMsgRateLimit": "5:1", "transportTenantMsgRateLimit": "",
         "maxDevices": 3}, defaults)
    assert limits.device_msg == (Bandwidth(5, 1),)
    assert limits.tenant_msg == (Bandwidth(9, 9),)
    assert limits.device_telemetry_msg == ()
    assert TransportLimits().unlimited and not limits.unlimited


def test_a_bucket_allows_its_capacity_then_refills_continuously() -> None:
    buckets = Buckets(parse_rate_limit("2:10"), now=0.0)
    assert buckets.wait(1, 0.0) == 0
    buckets.take(1)
    assert buckets.wait(1, 0.0) == 0
    buckets.take(1)
    assert buckets.wait(1, 0.0) == pytest.approx(5.0)  # 2 per 10 s: one every 5 s
    assert buckets.wait(1, 4.0) == pytest.approx(1.0)
    assert buckets.wait(1, 5.0) == 0
    buckets.take(1)
    # A long idle time fills it to its capacity, no more.
    assert buckets.wait(2, 1000.0) == 0
    assert buckets.wait(3, 1000.0) == math.inf


def test_every_bandwidth_must_hold() -> None:
    buckets = Buckets(parse_rate_limit("3:1,4:60"), now=0.0)
    for second in range(4):
        assert buckets.wait(1, float(second)) == 0
        buckets.take(1)
    # The per-second bucket has plenty; the per-minute one (one token per 15 s) has gained
    # 4/15 of a token in 4 s: 11 s more until a whole one.
    assert buckets.wait(1, 4.0) == pytest.approx(11.0)
