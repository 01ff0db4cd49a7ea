"""ThingsBoard's HTTP Device API: ``/api/v1/{token}/...``.

Order of checks, as ThingsBoard does them: the size limit on Content-Length (413), the route
(404, 405), the token (401, before any body is read), then the body (400, or 413 counted on the
bytes read). A 200 is sent only after the store has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from thingport.clock import now_ms
from thingport.domain.json_parse import parse_payload
from thingport.domain.kv_json import (
    ConverterConfig,
    attributes_from_json,
    kv_value,
    telemetry_from_json,
)
from thingport.domain.model import AttributeScope, Device
from thingport.errors import BadRequest, ThingportError
from thingport.http_errors import status_of
from thingport.services import Services
from thingport.transport.asgi import (
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    content_length,
    payload_too_large,
    query_params,
    read_body,
    send_empty,
    send_error,
    send_json,
)
from thingport.transport.payload_limits import PayloadLimits

log = logging.getLogger(__name__)

PREFIX = "/api/v1/"
PAYLOAD_LIMITS_VARIABLE = "HTTP_TRANSPORT_MAX_PAYLOAD_SIZE_LIMIT_CONFIGURATION"
#: Applied when no configured pattern matches a path, so that no body is ever unbounded.
FALLBACK_LIMIT = 52428800


class DeviceCall:
    """One device API request: its device, and lazy access to its query and body."""

    __slots__ = ("device", "limit", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive, device: Device, limit: int) -> None:
        self.scope = scope
        self.receive = receive
        self.device = device
        self.limit = limit

    def params(self) -> dict[str, str]:
        return query_params(self.scope)

    async def body(self) -> bytes:
        """The body; a missing or empty one is a 400, as Spring answers for a required body."""
        body = await read_body(self.receive, self.limit)
        if not body:
            raise BadRequest("Required request body is missing")
        return body

    async def json(self) -> Any:
        return parse_payload(await self.body())


Handler = Callable[[DeviceCall, Send], Awaitable[None]]


class DeviceApi:
    """The ASGI app behind ``/api/v1/``."""

    def __init__(self, services: Services, payload_limits: str, converter: ConverterConfig) -> None:
        self.services = services
        self.limits = PayloadLimits.parse(payload_limits, PAYLOAD_LIMITS_VARIABLE)
        self.converter = converter
        # action (the path after the token) -> method -> handler
        self.routes: dict[str, dict[str, Handler]] = {
            "telemetry": {"POST": self.post_telemetry},
            "attributes": {"GET": self.get_attributes, "POST": self.post_attributes},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        limit = self.limits.limit_for(path) or FALLBACK_LIMIT
        try:
            declared = content_length(scope)
            if declared is not None and declared > limit:
                raise payload_too_large(limit)
            token, _, action = path[len(PREFIX):].partition("/")
            methods = self.routes.get(action) if token else None
            if methods is None:
                await send_error(send, 404, f"No endpoint {scope['method']} {path}")
                return
            handler = methods.get(scope["method"])
            if handler is None:
                allow = ", ".join(sorted(methods)).encode()
                await send_error(
                    send, 405, f"Request method '{scope['method']}' is not supported",
                    [(b"allow", allow)],
                )
                return
            device = await self.services.devices.authenticate(token)
            if device is None:
                await send_empty(send, 401)
                return
            await handler(DeviceCall(scope, receive, device, limit), send)
        except ClientDisconnected:
            return
        except ThingportError as exc:
            status, _ = status_of(exc)
            await send_error(send, status, exc.message)
        except Exception:
            log.exception("device API request %s %s failed", scope["method"], path)
            await send_error(send, 500, "Internal server error")

    # -- handlers ------------------------------------------------------------------------------
    async def post_telemetry(self, call: DeviceCall, send: Send) -> None:
        batch = telemetry_from_json(await call.json(), now_ms(), self.converter)
        await self.services.telemetry.save(call.device.id, batch)
        await send_empty(send)

    async def post_attributes(self, call: DeviceCall, send: Send) -> None:
        entries = attributes_from_json(await call.json(), self.converter)
        await self.services.attributes.save(call.device.id, AttributeScope.CLIENT_SCOPE, entries)
        await send_empty(send)

    async def get_attributes(self, call: DeviceCall, send: Send) -> None:
        params = call.params()
        client_keys = _key_list(params.get("clientKeys"))
        shared_keys = _key_list(params.get("sharedKeys"))
        all_client = params.get("allClientKeys", "").lower() == "true"
        all_shared = params.get("allSharedKeys", "").lower() == "true"
        want_client = all_client or client_keys is not None
        want_shared = all_shared or shared_keys is not None
        if not want_client and not want_shared:
            want_client = want_shared = all_client = all_shared = True
        attributes = self.services.attributes
        result: dict[str, dict[str, Any]] = {}
        for section, wanted, every, keys, scope in (
            ("client", want_client, all_client, client_keys, AttributeScope.CLIENT_SCOPE),
            ("shared", want_shared, all_shared, shared_keys, AttributeScope.SHARED_SCOPE),
        ):
            if not wanted:
                continue
            entries = await attributes.get(call.device.id, scope, None if every else keys)
            if entries:
                result[section] = {entry.key: kv_value(entry) for entry in entries}
        await send_json(send, result)


def _key_list(raw: str | None) -> list[str] | None:
    """Split keys as Java's ``String.split(",")`` does: no trimming, trailing empties dropped."""
    if not raw:
        return None
    keys = raw.split(",")
    while keys and keys[-1] == "":
        keys.pop()
    return keys
