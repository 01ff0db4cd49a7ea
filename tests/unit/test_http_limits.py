"""The connection limits' settings and the automatic connection cap."""

from __future__ import annotations

import pytest

from thingport.errors import ConfigError
from thingport.http.limits import connection_cap
from thingport.server import http_limits
from thingport.settings import Settings


def test_defaults() -> None:
    limits = http_limits(Settings.from_env({}))
    assert (limits.header_timeout_s, limits.body_timeout_s) == (20.0, 20.0)
    assert (limits.max_header_bytes, limits.max_headers) == (32768, 100)
    assert limits.max_connections > 0 and limits.reserve > 0


def test_settings_are_read() -> None:
    settings = Settings.from_env({
        "THINGPORT_HTTP_HEADER_TIMEOUT": "0.5", "THINGPORT_HTTP_BODY_TIMEOUT": "30",
        "THINGPORT_HTTP_MAX_HEADER_SIZE": "8192", "THINGPORT_HTTP_MAX_HEADERS": "50",
        "THINGPORT_HTTP_MAX_CONNECTIONS": "1000",
    })
    limits = http_limits(settings)
    assert (limits.header_timeout_s, limits.body_timeout_s) == (0.5, 30.0)
    assert (limits.max_header_bytes, limits.max_headers) == (8192, 50)
    assert (limits.max_connections, limits.reserve) == (1000, 20)


@pytest.mark.parametrize(("name", "value"), [
    ("THINGPORT_HTTP_HEADER_TIMEOUT", "0"), ("THINGPORT_HTTP_HEADER_TIMEOUT", "soon"),
    ("THINGPORT_HTTP_BODY_TIMEOUT", "-1"), ("THINGPORT_HTTP_BODY_TIMEOUT", "inf"),
    ("THINGPORT_HTTP_BODY_TIMEOUT", "nan"), ("THINGPORT_HTTP_MAX_HEADER_SIZE", "0"),
    ("THINGPORT_HTTP_MAX_HEADERS", "many"), ("THINGPORT_HTTP_MAX_CONNECTIONS", "-5"),
])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_automatic_cap_stays_below_the_open_files_limit() -> None:
    for open_files in (256, 1024, 20_000, 1 << 20):
        cap, reserve = connection_cap(0, open_files)
        assert cap + reserve < open_files
        assert reserve >= 8
    assert connection_cap(0, 20_000) == (18_000, 360)
    assert connection_cap(5, 20_000) == (5, 8)
