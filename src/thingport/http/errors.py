"""The one place that turns domain errors into HTTP statuses and ThingsBoard's error JSON."""

from __future__ import annotations

import time

import orjson

from thingport import errors

# ThingsBoard's ThingsboardErrorCode numbers, which its clients read from error bodies.
GENERAL = 2
AUTHENTICATION = 10
JWT_TOKEN_EXPIRED = 11
PERMISSION_DENIED = 20
INVALID_ARGUMENTS = 30
BAD_REQUEST_PARAMS = 31
ITEM_NOT_FOUND = 32
TOO_MANY_REQUESTS = 33

_STATUS: list[tuple[type[errors.ThingportError], int, int]] = [
    (errors.BadRequest, 400, BAD_REQUEST_PARAMS),
    (errors.Conflict, 400, BAD_REQUEST_PARAMS),
    (errors.Unauthorized, 401, AUTHENTICATION),
    (errors.PermissionDenied, 403, PERMISSION_DENIED),
    (errors.NotFound, 404, ITEM_NOT_FOUND),
    (errors.RequestTimeout, 408, GENERAL),
    (errors.PayloadTooLarge, 413, BAD_REQUEST_PARAMS),
    (errors.TooManyRequests, 429, TOO_MANY_REQUESTS),
    (errors.StoreUnavailable, 503, GENERAL),
]

_DEFAULT_CODE = {400: BAD_REQUEST_PARAMS, 401: AUTHENTICATION, 403: PERMISSION_DENIED,
                 404: ITEM_NOT_FOUND, 405: BAD_REQUEST_PARAMS, 429: TOO_MANY_REQUESTS}


def status_of(exc: errors.ThingportError) -> tuple[int, int]:
    """The HTTP status and ThingsBoard error code for a domain error."""
    if isinstance(exc, errors.TokenExpired):
        return 401, JWT_TOKEN_EXPIRED
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return status, code
    return 500, GENERAL


def error_body(status: int, message: str, error_code: int | None = None) -> bytes:
    """ThingsBoard's error JSON: ``{"status","message","errorCode","timestamp"}``."""
    code = error_code if error_code is not None else _DEFAULT_CODE.get(status, GENERAL)
    return orjson.dumps({
        "status": status,
        "message": message,
        "errorCode": code,
        "timestamp": time.time_ns() // 1_000_000,
    })
