"""Random secrets in ThingsBoard's shapes: access tokens, names, activation tokens."""

import secrets
import string

_ALPHANUMERIC = string.ascii_letters + string.digits


def random_alphanumeric(length: int = 20) -> str:
    """A random string of letters and digits, like ThingsBoard's generated access tokens."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))
