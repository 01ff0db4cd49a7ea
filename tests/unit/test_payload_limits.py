"""ThingsBoard's ``antPattern=bytes;...`` payload limits."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thingport.errors import ConfigError
from thingport.settings import DEFAULT_PAYLOAD_LIMITS
from thingport.transport.payload_limits import PayloadLimits, ant_to_regex


def test_defaults_give_rpc_64k_and_everything_else_50m() -> None:
    limits = PayloadLimits.parse(DEFAULT_PAYLOAD_LIMITS)
    assert limits.limit_for("/api/v1/TOKEN/rpc") == 65536
    assert limits.limit_for("/api/v1/TOKEN/rpc/17") == 65536
    assert limits.limit_for("/api/v1/TOKEN/telemetry") == 52428800
    assert limits.limit_for("/api/v1/provision") == 52428800
    assert limits.limit_for("/api/other") is None


def test_first_matching_pattern_wins() -> None:
    limits = PayloadLimits.parse("/api/v1/**=10;/api/v1/*/rpc/**=20")
    assert limits.limit_for("/api/v1/t/rpc") == 10


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("/api/v1/*/rpc/**", "/api/v1/tok/rpc", True),
    ("/api/v1/*/rpc/**", "/api/v1/tok/rpc/1/2", True),
    ("/api/v1/*/rpc/**", "/api/v1/a/b/rpc", False),
    ("/api/v1/*/telemetry", "/api/v1/tok/telemetry", True),
    ("/api/v1/?ok/x", "/api/v1/tok/x", True),
    ("/api/**", "/api", True),
])
def test_ant_patterns(pattern: str, path: str, matches: bool) -> None:
    assert bool(ant_to_regex(pattern).match(path)) is matches


@pytest.mark.parametrize("spec", ["/api/**", "/api/**=x", "/api/**=0", "=5"])
def test_bad_specs_name_the_variable(spec: str) -> None:
    with pytest.raises(ConfigError, match="LIMITS_VAR"):
        PayloadLimits.parse(spec, "LIMITS_VAR")


def test_fixed_limits_of_the_default_routes() -> None:
    limits = PayloadLimits.parse(DEFAULT_PAYLOAD_LIMITS)
    assert limits.fixed_limits("/api/v1/", ["telemetry", "rpc", "attributes/updates"]) == {
        "telemetry": 52428800, "rpc": 65536, "attributes/updates": 52428800}


@pytest.mark.parametrize("spec", [
    "/api/v1/TOKEN/**=10;/api/v1/**=20",  # names a token
    "/**/telemetry=10",  # the token may be what matches "telemetry"
    "/api/v1/t*/telemetry=10",
    "/api/v1/?/telemetry=10;/**=20",
])
def test_no_fixed_limit_when_a_token_may_decide(spec: str) -> None:
    assert PayloadLimits.parse(spec).fixed_limits("/api/v1/", ["telemetry"]) == {}


def test_a_pattern_no_device_path_matches_is_no_limit() -> None:
    limits = PayloadLimits.parse("/api/v1=10;/other/**=20")
    assert limits.fixed_limits("/api/v1/", ["telemetry"]) == {"telemetry": None}


_SEGMENTS = st.sampled_from(
    ["api", "v1", "*", "**", "?", "t*", "*k", "tok", "rpc", "telemetry", "updates", "x?", ""])
_PATTERNS = st.one_of(
    st.lists(_SEGMENTS, max_size=6).map(lambda segments: "/" + "/".join(segments)),
    st.lists(_SEGMENTS, max_size=3).map(lambda segments: "/api/v1/" + "/".join(segments)),
)
_TOKENS = st.one_of(st.sampled_from(["api", "v1", "tok", "rpc", "telemetry", "updates", "t"]),
                    st.text(alphabet="tokrpcx1?*.", min_size=1, max_size=5))
_TAILS = st.sampled_from(["telemetry", "rpc", "rpc/5", "attributes/updates", "x", "tok", "a/b/c"])


@settings(max_examples=1000)
@given(st.lists(st.tuples(_PATTERNS, st.integers(1, 99)), min_size=1, max_size=4),
       _TOKENS, _TAILS)
def test_a_fixed_limit_is_what_limit_for_gives_for_every_token(
    rules: list[tuple[str, int]], token: str, tail: str
) -> None:
    limits = PayloadLimits.parse(";".join(f"{pattern}={limit}" for pattern, limit in rules))
    fixed = limits.fixed_limits("/api/v1/", [tail])
    if tail in fixed:
        assert fixed[tail] == limits.limit_for(f"/api/v1/{token}/{tail}")
