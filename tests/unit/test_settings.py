"""Settings come from ThingsBoard's variable names and fail loudly."""

import pytest
from click.testing import CliRunner

from thingport.cli import cli
from thingport.errors import ConfigError
from thingport.settings import (
    LOG_LEVELS,
    SETTINGS,
    Settings,
    TlsConfig,
    parse_bool,
    parse_choice,
)
from thingport.settings.doc import default_value, help_line


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


# --------------------------------------------------------------------------- the one table


def test_every_default_reads_back_as_itself() -> None:
    # The default, written as the README and --help show it, parses to the same value: the
    # default and the parser of each row agree (a port default of "8080" would not).
    for row in SETTINGS:
        text = default_value(row)
        if text is None:
            assert row.default_text, f"{row.env}: a None default needs default_text"
        else:
            assert row.parse(text) == row.default, row.env


def test_the_dataclasses_defaults_are_the_tables() -> None:
    settings, tls = Settings(), TlsConfig()
    for row in SETTINGS:
        if row.env.startswith("SSL_"):
            assert row.name.startswith("ssl_")
            assert getattr(tls, row.name.removeprefix("ssl_")) == row.default, row.env
        else:
            assert getattr(settings, row.name) == row.default, row.env
    assert Settings.from_env({}) == settings
    assert len({row.env for row in SETTINGS}) == len({row.name for row in SETTINGS}) \
        == len(SETTINGS)


def test_ssl_variables_are_rows_of_the_table() -> None:
    ssl_rows = {row.env for row in SETTINGS if row.env.startswith("SSL_")}
    assert ssl_rows == {"SSL_ENABLED", "SSL_CREDENTIALS_TYPE", "SSL_PEM_CERT", "SSL_PEM_KEY",
                        "SSL_PEM_KEY_PASSWORD", "SSL_KEY_STORE", "SSL_KEY_STORE_TYPE",
                        "SSL_KEY_STORE_PASSWORD", "SSL_KEY_ALIAS", "SSL_KEY_PASSWORD"}
    settings = Settings.from_env({"SSL_ENABLED": "on", "SSL_KEY_STORE_TYPE": "pkcs12"},
                                 ssl_pem_cert="/c.pem")
    assert settings.tls == TlsConfig(enabled=True, key_store_type="PKCS12", pem_cert="/c.pem")
    assert TlsConfig.from_env({"SSL_ENABLED": "on"}) == TlsConfig(enabled=True)


def test_blank_is_unset_except_for_ssl_paths_and_passwords() -> None:
    # An empty SSL_PEM_KEY means "the key is in SSL_PEM_CERT", an empty password is one.
    settings = Settings.from_env({"HTTP_BIND_PORT": "", "SSL_CREDENTIALS_TYPE": "  ",
                                  "SSL_PEM_KEY": "", "SSL_KEY_STORE_PASSWORD": ""})
    assert settings.port == 8080 and settings.tls.credentials_type == "PEM"
    assert settings.tls.pem_key == "" and settings.tls.key_store_password == ""


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SSL_ENABLED", "maybe", "SSL_ENABLED: expected true or false, got 'maybe'"),
    ("SSL_CREDENTIALS_TYPE", "DER", "SSL_CREDENTIALS_TYPE: expected PEM or KEYSTORE, got 'DER'"),
    ("SQL_POSTGRES_TS_KV_PARTITIONING", "WEEKS", "SQL_POSTGRES_TS_KV_PARTITIONING: expected "
     "DAYS, MONTHS, YEARS or INDEFINITE, got 'WEEKS'"),
    ("THINGPORT_LOG_LEVEL", "loud", "THINGPORT_LOG_LEVEL: expected critical, error, warning, "
     "info, debug or trace, got 'loud'"),
])
def test_one_bool_and_one_choice_parser_say_what_they_expected(
        name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value) == message


def test_choices_come_back_spelled_as_declared() -> None:
    assert parse_choice(" keystore ", ("PEM", "KEYSTORE")) == "KEYSTORE"
    assert parse_choice("INFO", LOG_LEVELS) == "info"
    assert [parse_bool(t) for t in ("Yes", "ON", "1", "off", "No", "0")] == [True] * 3 + [False] * 3


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(TypeError, match="no such setting: prot"):
        Settings.from_env({}, prot=9090)


def test_secrets_stay_out_of_repr() -> None:
    text = repr(Settings(jwt_signing_key="k-secret", sysadmin_password="p-secret"))
    assert "k-secret" not in text and "p-secret" not in text


def test_serve_help_shows_every_row_with_its_variable_and_default() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    # Without white space: click wraps the text, and may break a long word anywhere.
    text = "".join(result.output.split())
    for row in SETTINGS:
        assert "".join(f"{row.option} {row.env} {help_line(row)}".split()) in text, row.env


def test_a_bad_option_names_the_option() -> None:
    result = CliRunner().invoke(cli, ["serve", "--ssl-enabled", "perhaps"])
    assert result.exit_code == 2
    assert result.output.strip() == "thingport: --ssl-enabled: expected true or false, got " \
        "'perhaps'"
