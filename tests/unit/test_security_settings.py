"""The password policy's rules and messages, and the security settings' validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from thingport.domain.password_policy import PasswordPolicy
from thingport.errors import BadRequest, ConfigError
from thingport.services.security_settings import DEFAULTS, policy_of, validate
from thingport.settings import Settings


def test_the_default_policy_is_thingsboards_6_to_72_characters() -> None:
    policy = PasswordPolicy()
    assert policy.problems("12345") == ["Password must be 6 or more characters in length."]
    assert policy.problems("123456") == []
    assert policy.problems("x" * 72) == []
    assert policy.problems("x" * 73) == ["Password must be no more than 72 characters in length."]
    assert policy_of(DEFAULTS).password == policy


def test_every_broken_rule_is_named_one_a_line() -> None:
    policy = PasswordPolicy(minimum_length=8, minimum_uppercase=2, minimum_lowercase=1,
                            minimum_digits=3, minimum_special=1, allow_whitespaces=False)
    with pytest.raises(BadRequest) as error:
        policy.check("AB cd")
    assert error.value.message.split("\n") == [
        "Password must be 8 or more characters in length.",
        "Password must contain 3 or more digit characters.",
        "Password must contain 1 or more special characters.",
        "Password contains a whitespace character.",
    ]
    policy.check("ABc123!x")


def test_a_maximum_not_above_the_minimum_is_no_maximum() -> None:
    settings = copy.deepcopy(DEFAULTS)
    settings["passwordPolicy"].update(minimumLength=10, maximumLength=10)
    assert policy_of(settings).password.maximum_length is None
    settings["maxFailedLoginAttempts"] = None
    assert policy_of(settings).max_failed_login_attempts == 0


def test_valid_settings_keep_unknown_fields_and_get_the_required_ttls() -> None:
    body = {"maxFailedLoginAttempts": 0, "passwordPolicy": {"minimumLength": 12, "new": 1},
            "somethingNew": {"a": [1]}}
    settings = validate(body)
    assert settings == {**body, "userActivationTokenTtl": 24, "passwordResetTokenTtl": 24}
    assert policy_of(settings).password.minimum_length == 12
    assert validate(DEFAULTS) == DEFAULTS


def _with(**changes: Any) -> dict[str, Any]:
    settings = copy.deepcopy(DEFAULTS)
    for key, value in changes.items():
        if key.startswith("pp_"):
            settings["passwordPolicy"][key[3:]] = value
        else:
            settings[key] = value
    return settings


@pytest.mark.parametrize(("settings", "message"), [
    ([], "Security settings must be a JSON object"),
    (_with(maxFailedLoginAttempts=-1),
     "Validation error: maxFailedLoginAttempts must be greater than or equal to 0"),
    (_with(maxFailedLoginAttempts="5"),
     "Validation error: maxFailedLoginAttempts must be an integer"),
    (_with(maxFailedLoginAttempts=True),
     "Validation error: maxFailedLoginAttempts must be an integer"),
    (_with(maxFailedLoginAttempts=2.5),
     "Validation error: maxFailedLoginAttempts must be an integer"),
    (_with(userActivationTokenTtl=25),
     "Validation error: userActivationTokenTtl must be less than or equal to 24"),
    (_with(passwordResetTokenTtl=0),
     "Validation error: passwordResetTokenTtl must be greater than or equal to 1"),
    (_with(userLockoutNotificationEmail=5),
     "Validation error: userLockoutNotificationEmail must be a string"),
    (_with(passwordPolicy=None), "Validation error: passwordPolicy must not be null"),
    (_with(passwordPolicy="long"), "Validation error: passwordPolicy must be a JSON object"),
    (_with(pp_minimumLength=None),
     "Validation error: passwordPolicy.minimumLength must not be null"),
    (_with(pp_minimumLength=5),
     "Validation error: passwordPolicy.minimumLength must be greater than or equal to 6"),
    (_with(pp_minimumLength=51),
     "Validation error: passwordPolicy.minimumLength must be less than or equal to 50"),
    (_with(pp_minimumLength=10, pp_maximumLength=9),
     "Validation error: passwordPolicy.maximumLength must be greater than or equal to 10"),
    (_with(pp_minimumDigits=-1),
     "Validation error: passwordPolicy.minimumDigits must be greater than or equal to 0"),
    (_with(pp_allowWhitespaces="no"),
     "Validation error: passwordPolicy.allowWhitespaces must be true or false"),
])
def test_bad_settings_are_refused_naming_the_field(settings: Any, message: str) -> None:
    with pytest.raises(BadRequest) as error:
        validate(settings)
    assert error.value.message == message


@pytest.mark.parametrize("variable", ["THINGPORT_SYSADMIN_PASSWORD",
                                      "THINGPORT_TENANT_ADMIN_PASSWORD"])
def test_a_first_password_must_follow_the_default_policy(variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({variable: "12345"})
    assert error.value.message == f"{variable}: Password must be 6 or more characters in length."
    assert Settings.from_env({variable: "123456"}) is not None


@pytest.mark.parametrize(("variable", "value"), [
    ("THINGPORT_LOGIN_MAX_FAILURES", "0"), ("THINGPORT_LOGIN_FAILURE_WINDOW", "-1"),
    ("THINGPORT_LOGIN_LOCKOUT", "-5"), ("THINGPORT_LOGIN_LOCKOUT", "soon"),
    ("THINGPORT_PASSWORD_HASH_CONCURRENCY", "0"),
])
def test_bad_login_settings_stop_the_server(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        Settings.from_env({variable: value})


def test_login_settings_defaults_and_zero_lockout() -> None:
    settings = Settings.from_env({})
    assert (settings.login_max_failures, settings.login_failure_window_s,
            settings.login_lockout_s, settings.password_hash_concurrency) == (10, 60, 900, 2)
    assert Settings.from_env({"THINGPORT_LOGIN_LOCKOUT": "0"}).login_lockout_s == 0
