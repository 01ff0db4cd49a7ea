"""Settings come from ThingsBoard's variable names and fail loudly."""

import pytest

from thingport.errors import ConfigError
from thingport.settings import Settings


def test_defaults_match_thingsboard() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.request_timeout_ms == 60000
    assert settings.max_request_timeout_ms == 300000
    assert settings.json_type_cast is True
    assert settings.store_url.startswith("sqlite:///") and settings.store_url.endswith(
        "thingport.db")


def test_environment_and_overrides() -> None:
    settings = Settings.from_env(
        {"HTTP_BIND_PORT": "9090", "JSON_TYPE_CAST_ENABLED": "false",
         "THINGPORT_DATABASE_URL": "sqlite:////tmp/x.db"}, host="127.0.0.1")
    assert settings.port == 9090 and settings.host == "127.0.0.1"
    assert settings.json_type_cast is False
    assert settings.store_url == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(("name", "value"), [
    ("HTTP_BIND_PORT", "eighty"), ("HTTP_BIND_PORT", "70000"),
    ("HTTP_REQUEST_TIMEOUT", "-1"), ("JSON_TYPE_CAST_ENABLED", "maybe"),
])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_value_limits_default_to_one_mib_and_zero_turns_them_off() -> None:
    settings = Settings.from_env({})
    assert settings.json_max_string_length == settings.json_max_json_length == 1_048_576
    off = Settings.from_env({"JSON_MAX_STRING_VALUE_LENGTH": "0",
                             "THINGPORT_JSON_MAX_JSON_VALUE_LENGTH": "0"})
    assert off.json_max_string_length == off.json_max_json_length == 0
    with pytest.raises(ConfigError, match="THINGPORT_JSON_MAX_JSON_VALUE_LENGTH"):
        Settings.from_env({"THINGPORT_JSON_MAX_JSON_VALUE_LENGTH": "-1"})
