"""Domain errors. Only ``thingport.http.errors`` turns them into HTTP statuses.

    ThingportError
    ├── BadRequest                 400: the caller sent something we cannot use
    │   ├── InvalidJson            the body is not JSON, even leniently
    │   └── InvalidPayload         JSON of the wrong shape or with values we cannot type
    ├── Unauthorized               401: missing, unknown or expired credentials
    │   └── TokenExpired           the JWT was valid but has expired
    ├── PermissionDenied           403: authenticated, but not allowed
    ├── NotFound                   404: no such entity (or not visible to the caller)
    ├── Conflict                   400: would break a uniqueness rule (ThingsBoard answers 400)
    ├── PayloadTooLarge            413
    ├── RequestTimeout             408: a wait ran out
    ├── TooManyRequests            429: rate limited
    ├── StoreUnavailable           503: the store cannot do it now (disk full, I/O error,
    │                              database unreachable); the same request may work later
    └── ConfigError                a setting is wrong; the server refuses to start
"""

from __future__ import annotations


class ThingportError(Exception):
    """Base of every error thingport raises on purpose."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ThingportError):
    """The request is malformed or has invalid parameters."""


class InvalidJson(BadRequest):
    """The body cannot be parsed as JSON."""


class InvalidPayload(BadRequest):
    """The JSON parses but does not have the shape or values expected."""


class Unauthorized(ThingportError):
    """Credentials are missing, unknown or expired."""


class TokenExpired(Unauthorized):
    """A JWT that was valid has expired."""


class PermissionDenied(ThingportError):
    """The caller is known but may not do this."""


class NotFound(ThingportError):
    """The entity does not exist, or the caller may not see it."""


class Conflict(ThingportError):
    """The change would duplicate a name or a token."""


class PayloadTooLarge(ThingportError):
    """The body is larger than the configured limit."""


class RequestTimeout(ThingportError):
    """A long poll or a wait for a reply ran out of time."""


class TooManyRequests(ThingportError):
    """The caller is rate limited; ``retry_after`` is in seconds, ``limit`` names the limit
    (the metrics' label)."""

    def __init__(self, message: str = "", retry_after: int = 1, limit: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.limit = limit


class StoreUnavailable(ThingportError):
    """The store cannot serve the request now (its disk is full, an I/O error, the database
    is unreachable); the same request may work later."""


class ConfigError(ThingportError):
    """A setting is invalid; raised at start so the server never runs half-configured."""
