"""Parsers of setting values: text from the environment or the command line to typed values.

Each raises ``ValueError`` with a short message saying what was expected and what came; the
caller (``thingport.settings``) puts the variable's name in front of it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import partial
from urllib.parse import urlsplit

from thingport.domain.password_policy import PasswordPolicy
from thingport.domain.rate_limit import format_rate_limit, parse_rate_limit

#: Spring's StringToBooleanConverter accepts these, case-insensitively, as ThingsBoard's YAML
#: does; empty is false.
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def parse_bool(text: str) -> bool:
    """Accept the spellings ThingsBoard (Spring) accepts for booleans."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_choice(text: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, case-insensitively, returned spelled as in ``choices``."""
    wanted = text.strip().casefold()
    for option in choices:
        if option.casefold() == wanted:
            return option
    expected = " or ".join([", ".join(choices[:-1]), choices[-1]] if len(choices) > 1
                           else choices)
    raise ValueError(f"expected {expected}, got {text!r}")


def choice(*choices: str) -> Callable[[str], str]:
    """A parser that accepts one of ``choices`` (see `parse_choice`)."""
    return partial(parse_choice, choices=choices)


def _int(text: str, problem: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{problem}, got {text!r}") from None


def parse_positive_int(text: str) -> int:
    """An integer above zero."""
    value = _int(text, "must be a positive integer")
    if value <= 0:
        raise ValueError(f"must be a positive integer, got {text!r}")
    return value


def parse_non_negative_int(text: str) -> int:
    """An integer, zero or more."""
    value = _int(text, "must be zero or more")
    if value < 0:
        raise ValueError(f"must be zero or more, got {text!r}")
    return value


def parse_positive_seconds(text: str) -> float:
    """A number of seconds above zero; fractions allowed (0.5)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {text!r}")
    return value


def parse_port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a port number (0-65535), got {text!r}")
    return value


def parse_trusted_proxies(text: str) -> str:
    """Comma-separated IP addresses or networks (``10.0.0.0/8``), or ``*`` for any address;
    returned cleaned up (no blanks). Anything else is refused, so that a typo cannot silently
    trust nobody (or everybody)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"expected IP addresses or networks (e.g. 127.0.0.1,10.0.0.0/8) or *, "
                f"got {item!r}"
            ) from None
    return ",".join(items)


def parse_first_password(text: str) -> str:
    """A first administrator's password, which must follow ThingsBoard's default password
    policy (the one a fresh store starts with)."""
    problems = PasswordPolicy().problems(text)
    if problems:
        raise ValueError(" ".join(problems))
    return text


def parse_rate_limit_text(text: str) -> str | None:
    """ThingsBoard's rate-limit syntax, ``capacity:seconds,...`` (e.g. 100:1,3000:60),
    returned tidied; None (no limit) when blank."""
    return format_rate_limit(parse_rate_limit(text)) or None


def parse_base_url(text: str) -> str:
    """An absolute http(s) URL without query or fragment, returned without a trailing slash."""
    url = text.strip()
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"has an invalid port: {text!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http(s)://host[:port][/path], got {text!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"expected no user, query or fragment, got {text!r}")
    return url.rstrip("/")
