"""The system administrator's security settings (ThingsBoard's ``SecuritySettings``): the
account lockout threshold and the password policy, stored as one JSON object.

The object keeps ThingsBoard's shape, and any field it does not know, as given. What thingport
enforces: ``maxFailedLoginAttempts`` (see ``login_guard``) and, of ``passwordPolicy``, the
lengths, the minimum counts of upper- and lowercase letters, digits and special characters, and
``allowWhitespaces``. Expiry, reuse and the lockout notification e-mail are stored only.

Nothing is cached: every node reads the settings from the store, so a change applies at once
to all of them (a login costs a hash; one more indexed read does not show).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from thingport.domain.password_policy import PasswordPolicy
from thingport.errors import BadRequest
from thingport.store.base import EntityStore

KEY: Final = "securitySettings"

#: ThingsBoard ships with no lockout (null); thingport locks an account after 10 wrong
#: passwords in a row, so that a password cannot be guessed slowly from many addresses.
DEFAULT_MAX_FAILED_LOGIN_ATTEMPTS: Final = 10

#: ThingsBoard's defaults (DefaultSecuritySettingsService), with thingport's lockout.
DEFAULTS: Final[dict[str, Any]] = {
    "passwordPolicy": {
        "minimumLength": 6,
        "maximumLength": 72,
        "minimumUppercaseLetters": None,
        "minimumLowercaseLetters": None,
        "minimumDigits": None,
        "minimumSpecialCharacters": None,
        "allowWhitespaces": True,
        "forceUserToResetPasswordIfNotValid": False,
        "passwordExpirationPeriodDays": None,
        "passwordReuseFrequencyDays": None,
    },
    "maxFailedLoginAttempts": DEFAULT_MAX_FAILED_LOGIN_ATTEMPTS,
    "userLockoutNotificationEmail": None,
    "mobileSecretKeyLength": 64,
    "userActivationTokenTtl": 24,
    "passwordResetTokenTtl": 24,
}

#: ThingsBoard's UI bounds for the minimum length.
MIN_PASSWORD_LENGTH: Final = 6
MAX_MINIMUM_LENGTH: Final = 50

@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    """The enforced part of the security settings."""

    #: Wrong passwords in a row an account may have; the next one locks it (0: never).
    max_failed_login_attempts: int
    password: PasswordPolicy


def policy_of(settings: dict[str, Any]) -> SecurityPolicy:
    """The enforced policy of a (validated) settings object."""
    pp = settings.get("passwordPolicy") or {}
    maximum = pp.get("maximumLength")
    minimum = pp.get("minimumLength") or MIN_PASSWORD_LENGTH
    return SecurityPolicy(
        max_failed_login_attempts=settings.get("maxFailedLoginAttempts") or 0,
        password=PasswordPolicy(
            minimum_length=minimum,
            # As ThingsBoard: a maximum not above the minimum is no maximum.
            maximum_length=maximum if maximum is not None and maximum > minimum else None,
            minimum_uppercase=pp.get("minimumUppercaseLetters") or 0,
            minimum_lowercase=pp.get("minimumLowercaseLetters") or 0,
            minimum_digits=pp.get("minimumDigits") or 0,
            minimum_special=pp.get("minimumSpecialCharacters") or 0,
            allow_whitespaces=pp.get("allowWhitespaces") is not False,
        ),
    )


def _problem(field: str, text: str) -> BadRequest:
    return BadRequest(f"Validation error: {field} {text}")


def _int(obj: dict[str, Any], key: str, prefix: str, *, minimum: int,
         maximum: int | None = None, required: bool = False) -> None:
    """Check ``obj[key]``: null (unless required) or an integer within the bounds."""
    name = prefix + key
    value = obj.get(key)
    if value is None:
        if required:
            raise _problem(name, "must not be null")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _problem(name, "must be an integer")
    if value < minimum:
        raise _problem(name, f"must be greater than or equal to {minimum}")
    if maximum is not None and value > maximum:
        raise _problem(name, f"must be less than or equal to {maximum}")


def _bool(obj: dict[str, Any], key: str, prefix: str) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise _problem(prefix + key, "must be true or false")


def validate(value: Any) -> dict[str, Any]:
    """A settings object from a request body, checked (BadRequest names the first bad field);
    fields thingport does not know are kept as given, the two link lifetimes ThingsBoard
    requires default to its 24 hours."""
    if not isinstance(value, dict):
        raise BadRequest("Security settings must be a JSON object")
    settings = dict(value)
    _int(settings, "maxFailedLoginAttempts", "", minimum=0)
    email = settings.get("userLockoutNotificationEmail")
    if email is not None and not isinstance(email, str):
        raise _problem("userLockoutNotificationEmail", "must be a string")
    _int(settings, "mobileSecretKeyLength", "", minimum=1)
    for ttl in ("userActivationTokenTtl", "passwordResetTokenTtl"):
        if settings.get(ttl) is None:
            settings[ttl] = DEFAULTS[ttl]
        _int(settings, ttl, "", minimum=1, maximum=24)
    policy = settings.get("passwordPolicy")
    if policy is None:
        raise _problem("passwordPolicy", "must not be null")
    if not isinstance(policy, dict):
        raise _problem("passwordPolicy", "must be a JSON object")
    prefix = "passwordPolicy."
    _int(policy, "minimumLength", prefix, minimum=MIN_PASSWORD_LENGTH,
         maximum=MAX_MINIMUM_LENGTH, required=True)
    _int(policy, "maximumLength", prefix, minimum=policy["minimumLength"])
    for key in ("minimumUppercaseLetters", "minimumLowercaseLetters", "minimumDigits",
                "minimumSpecialCharacters", "passwordExpirationPeriodDays",
                "passwordReuseFrequencyDays"):
        _int(policy, key, prefix, minimum=0)
    for key in ("allowWhitespaces", "forceUserToResetPasswordIfNotValid"):
        _bool(policy, key, prefix)
    return settings


class SecuritySettingsService:
    """Reads and saves the security settings; the policy logins and passwords follow."""

    def __init__(self, store: EntityStore) -> None:
        self._store = store

    async def get(self) -> dict[str, Any]:
        """The stored settings, or the defaults before any were saved."""
        stored = await self._store.get_admin_settings(KEY)
        return stored if stored is not None else copy.deepcopy(DEFAULTS)

    async def save(self, value: Any) -> dict[str, Any]:
        """Validate and store the settings (all of them: what is left out is gone); what was
        stored."""
        settings = validate(value)
        await self._store.save_admin_settings(KEY, settings)
        return settings

    async def policy(self) -> SecurityPolicy:
        """What the current settings enforce."""
        return policy_of(await self.get())

    async def check_password(self, password: str) -> None:
        """BadRequest, in ThingsBoard's words, when ``password`` breaks the password policy."""
        (await self.policy()).password.check(password)
