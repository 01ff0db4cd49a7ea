"""ThingsBoard's ``antPattern=bytes;...`` payload limits."""

import pytest

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
