"""ThingsBoard's HTTP Device API: ``/api/v1/{token}/...``, and ``/api/v1/provision``.

Order of checks, as ThingsBoard does them: the size limit on Content-Length (413), the route
(404, 405), the token (401, before any body is read), then the body (400, or 413 counted on the
bytes read). A 200 is sent only after the store has committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from types import MethodType
from typing import Any, ClassVar, TypeVar

import orjson

from thingport.clock import now_ms
from thingport.domain.gson import as_long, as_string
from thingport.domain.json_parse import dumps_compact
from thingport.domain.kv_json import ConverterConfig, attributes_from_json, telemetry_from_json
from thingport.domain.kv_render import kv_value
from thingport.domain.long_poll import poll_timeout_s
from thingport.domain.model import AttributeScope, OtaPackageType
from thingport.domain.provisioning import request_from_json, response_json
from thingport.errors import (
    BadRequest,
    InvalidPayload,
    PayloadTooLarge,
    ThingportError,
    TooManyRequests,
)
from thingport.http.asgi import (
    ClientDisconnected,
    Message,
    Receive,
    Scope,
    Send,
    ServerStopping,
    attachment_headers,
    check_content_length,
    read_body,
    send_bytes,
    send_empty,
    send_error,
    send_json,
    send_stopping,
)
from thingport.http.drain import (
    DRAIN_MAX_BYTES,
    UNAUTHENTICATED_DRAIN_BYTES,
    body_expected,
    discard_body,
)
from thingport.http.errors import status_of
from thingport.http.json_body import (
    parse_json,
)
from thingport.http.operations import JSON_ANY, POLL_TIMEOUT, Body, Param, operation
from thingport.lifecycle import Lifecycle
from thingport.metrics import UNMATCHED, Metrics, RequestSeries, method_label
from thingport.services import Services
from thingport.services.ota import chunk_range
from thingport.services.token_guard import NoTokenGuard
from thingport.transport.device_call import DeviceCall
from thingport.transport.payload_limits import PayloadLimits

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "/api/v1/"
_PREFIX_LENGTH = len(PREFIX)
#: The one device API path without a token.
PROVISION_PATH = PREFIX + "provision"
PAYLOAD_LIMITS_VARIABLE = "HTTP_TRANSPORT_MAX_PAYLOAD_SIZE_LIMIT_CONFIGURATION"
#: ThingsBoard answers these with no body, and its clients expect none.
EMPTY_BODY_STATUSES = frozenset({401, 408})
#: The status counted for a request whose client left before its answer (nginx's number).
CLIENT_CLOSED = 499
#: Applied when no configured pattern matches a path, so that no body is ever unbounded.
FALLBACK_LIMIT = 52428800
#: Body limit of provisioning (unless the configured one is smaller): a provision request is a
#: few hundred bytes, a certificate a few KiB, and whoever asks is not known yet.
PROVISION_MAX_PAYLOAD = 65536
#: The routes whose rate limits count data points (checked once the body is parsed); every
#: other route counts as one message, checked before its handler runs.
DATA_ROUTES = frozenset({("telemetry", "POST"), ("attributes", "POST")})
#: What the firmware and software downloads read, and answer (see ``_send_package``).
PACKAGE_QUERY = (Param("title", True), Param("version", True), Param("size", type="integer"),
                 Param("chunk", type="integer"))
PACKAGE_RESPONSES = {400: "Not the assigned package's title or version",
                     404: "No package with data is assigned"}


Handler = Callable[[DeviceCall, Send], Awaitable[None]]


class DeviceApi:
    """The ASGI app behind ``/api/v1/``."""

    def __init__(
        self, services: Services, payload_limits: str, converter: ConverterConfig,
        request_timeout_ms: int = 60000, max_request_timeout_ms: int = 300000,
        lifecycle: Lifecycle | None = None, metrics: Metrics | None = None,
    ) -> None:
        self.services = services
        self.devices = services.devices
        self.activity = services.activity
        self.rate_limits = services.rate_limits
        self.guard = services.token_guard if services.token_guard is not None else NoTokenGuard()
        self.lifecycle = lifecycle or Lifecycle()
        self.metrics = metrics or Metrics()
        self.limits = PayloadLimits.parse(payload_limits, PAYLOAD_LIMITS_VARIABLE)
        self.converter = converter
        self.request_timeout_ms = request_timeout_ms
        self.max_request_timeout_ms = max_request_timeout_ms
        # ROUTES with this API's handlers, bound once (a request only looks its handler up).
        self.routes: dict[str, dict[str, Handler]] = {
            action: {method: MethodType(handler, self) for method, handler in methods.items()}
            for action, methods in self.ROUTES.items()
        }
        # Made once: a request only looks its series up (labels are templates, never tokens).
        self.series: dict[str, dict[str, RequestSeries]] = {
            action: {method: self.metrics.series("device", f"{PREFIX}{{token}}/{action}", method)
                     for method in methods}
            for action, methods in self.routes.items()
        }
        self.provision_series = self.metrics.series("device", PROVISION_PATH, "POST")
        # The body limit of each route whose limit no token can change (with the default
        # limits, every one): a request then matches no pattern.
        self.route_limits: dict[str, int] = {
            action: limit or FALLBACK_LIMIT
            for action, limit in self.limits.fixed_limits(
                PREFIX, (action for action in self.routes if "{" not in action)).items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = CLIENT_CLOSED  # unless a response starts: every exception is answered below

        def sending(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: the caller awaits uvicorn's send directly, so
            # counting the status costs no extra coroutine per message.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        path: str = scope["path"]
        method: str = scope["method"]
        token, _, action = path[_PREFIX_LENGTH:].partition("/")
        if action.startswith("rpc/") and "/" not in action[4:]:
            action = "rpc/{id}"
        series: RequestSeries | None = None
        if path == PROVISION_PATH:
            series = self.provision_series
        elif token:
            methods = self.series.get(action)
            if methods is not None:
                series = methods.get(method)
        try:
            await self._serve(scope, receive, sending, path, method, token, action)
        finally:
            if series is None:  # rare: no route; an unknown method is one label, not many
                series = self.metrics.series("device", UNMATCHED, method_label(method))
            series.observe(status, time.perf_counter() - start)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str, method: str,
                     token: str, action: str) -> None:
        limit = self.route_limits.get(action) if token else None
        if limit is None:
            limit = self.limits.limit_for(path) or FALLBACK_LIMIT
        if path == PROVISION_PATH:
            limit = min(limit, PROVISION_MAX_PAYLOAD)
        call: DeviceCall | None = None
        # Whether the body has been read (or drained): an error answer must drain it if not.
        provisioning = False
        try:
            check_content_length(scope, limit)
            if path == PROVISION_PATH:
                # Everything provision() raises comes once its body is read (or drained).
                provisioning = True
                await self.provision(scope, receive, send, limit)
                return
            methods = self.routes.get(action) if token else None
            if methods is None:
                await _drained(scope, receive)
                await send_error(send, 404, f"No endpoint {method} {path}")
                return
            handler = methods.get(method)
            if handler is None:
                allow = ", ".join(sorted(methods)).encode()
                await _drained(scope, receive)
                await send_error(
                    send, 405, f"Request method '{method}' is not supported",
                    [(b"allow", allow)],
                )
                return
            # The hot path is the cache; an unknown token is counted against its address.
            client = scope.get("client")
            address = client[0] if client else ""
            device = self.devices.cached(token)
            if device is None:
                device = await self.guard.unknown(token, address, self.devices.lookup)
                if device is None:
                    await _drained(scope, receive)
                    await send_empty(send, 401)
                    return
            else:
                self.guard.known(token, address)
            if self.rate_limits.active and (action, method) not in DATA_ROUTES:
                await self.rate_limits.check_message(device)
            self.activity.touch(device.id)
            call = DeviceCall(scope, receive, device, limit, self.lifecycle)
            await handler(call, send)
        except ClientDisconnected:
            return
        except ServerStopping:
            # As an expired poll, so the device polls again (elsewhere: the listener is shut).
            await send_stopping(send)
        except ThingportError as exc:
            if not provisioning and (call is None or not call.body_read):
                await _drained(scope, receive, await self._drain_bytes(call, exc, token, scope))
            status, _ = status_of(exc)
            if status in EMPTY_BODY_STATUSES:
                await send_empty(send, status)
            elif isinstance(exc, TooManyRequests):
                self.metrics.refused(exc.limit or "provisioning")
                retry_after = str(exc.retry_after).encode()
                await send_error(send, status, exc.message, [(b"retry-after", retry_after)])
            else:
                await send_error(send, status, exc.message)
        except Exception:
            log.exception("device API request %s %s failed", scope["method"], path)
            if not provisioning and (call is None or not call.body_read):
                await _drained(scope, receive, DRAIN_MAX_BYTES if call else None)
            await send_error(send, 500, "Internal server error")

    # -- handlers ------------------------------------------------------------------------------
    @operation(summary="Upload telemetry (flat, {ts, values}, or an array)", body=JSON_ANY)
    async def post_telemetry(self, call: DeviceCall, send: Send) -> None:
        received, converter = now_ms(), self.converter
        batch = await call.json_into(lambda value: telemetry_from_json(value, received,
                                                                       converter))
        if self.rate_limits.active:
            await self.rate_limits.check_data(call.device, sum(len(e) for _, e in batch))
        await self.services.telemetry.save(call.device.id, batch)
        await send_empty(send)

    @operation(summary="Upload client-side attributes")
    async def post_attributes(self, call: DeviceCall, send: Send) -> None:
        entries = await call.json_into(lambda value: attributes_from_json(value, self.converter))
        if self.rate_limits.active:
            await self.rate_limits.check_data(call.device, len(entries))
        await self.services.attributes.save(call.device.id, AttributeScope.CLIENT_SCOPE, entries)
        await send_empty(send)

    @operation(summary="Read client and shared attributes", query=(
        Param("clientKeys", description="Client-side keys, comma-separated"),
        Param("sharedKeys", description="Shared keys, comma-separated"),
        Param("allClientKeys", type="boolean"), Param("allSharedKeys", type="boolean")))
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


    # -- waiting: long polls and client-side RPC ----------------------------------------------
    def poll_timeout_s(self, call: DeviceCall) -> float:
        """``?timeout=`` in ms: absent or 0 means HTTP_REQUEST_TIMEOUT, and more than
        HTTP_MAX_REQUEST_TIMEOUT is clamped; a negative one expires at once."""
        raw = call.params().get("timeout")
        try:
            timeout = int(raw) if raw else 0
        except ValueError:
            raise BadRequest(f"timeout must be a number of ms, got '{raw}'") from None
        return poll_timeout_s(timeout, self.request_timeout_ms, self.max_request_timeout_ms)

    @operation(summary="Long poll for the next change of shared attributes",
               query=(POLL_TIMEOUT,), responses={408: "Nothing changed in time"})
    async def poll_attribute_updates(self, call: DeviceCall, send: Send) -> None:
        timeout = self.poll_timeout_s(call)
        changes = await call.until_disconnected(
            self.services.attributes.poll_changes(call.device.id, timeout), "attributes"
        )
        if changes is None:
            await send_empty(send, 408)
            return
        body: dict[str, Any] = {entry.key: kv_value(entry) for entry in changes.updated}
        if changes.deleted:
            body["deleted"] = changes.deleted
        await send_json(send, body)

    @operation(summary="Long poll for the next server-side RPC command",
               query=(POLL_TIMEOUT,), responses={408: "No command in time"})
    async def poll_rpc(self, call: DeviceCall, send: Send) -> None:
        timeout = self.poll_timeout_s(call)
        rpc = await call.until_disconnected(self.services.rpc.poll(call.device, timeout), "rpc")
        if rpc is None:
            await send_empty(send, 408)
            return
        await send_json(send, {"id": rpc.request_id, "method": rpc.method,
                               "params": orjson.Fragment(rpc.params)})

    @operation(summary="Reply to a server-side RPC command",
               body=Body(media_type="text/plain", schema={"type": "string"}))
    async def post_rpc_reply(self, call: DeviceCall, send: Send) -> None:
        raw_id = call.scope["path"].rsplit("/", 1)[1]
        try:
            request_id = int(raw_id)
        except ValueError:
            raise BadRequest(f"requestId must be an integer, got '{raw_id}'") from None
        try:
            reply = (await call.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("The reply is not UTF-8 text") from None
        # A reply to an unknown or expired command is still a 200, as ThingsBoard answers.
        await self.services.rpc.reply(call.device, request_id, reply)
        await send_empty(send)

    @operation(summary="Client-side RPC: {method, params}, answered by an application",
               responses={408: "No answer in time"})
    async def post_client_rpc(self, call: DeviceCall, send: Send) -> None:
        request = await call.json()
        if not isinstance(request, dict):
            raise InvalidPayload("The RPC request must be a JSON object with method and params")
        method = request.get("method")
        if not isinstance(method, str) or not method:
            raise InvalidPayload("The RPC request has no method")
        if "params" not in request:
            raise InvalidPayload("The RPC request has no params")
        answer = await call.until_disconnected(
            self.services.client_rpc.call(call.device, method, dumps_compact(request["params"])),
            "client_rpc",
        )
        await send_bytes(send, 200, answer)

    @operation(summary="Open the device for claiming: optional {secretKey, durationMs}",
               body=Body(required=False))
    async def post_claim(self, call: DeviceCall, send: Send) -> None:
        body = await call.raw_body()
        secret, duration = "", 0
        if body.strip():
            offer = await parse_json(body)
            if not isinstance(offer, dict):
                raise InvalidPayload("The claim request must be a JSON object")
            secret = as_string(offer.get("secretKey"), "secretKey")
            duration = as_long(offer.get("durationMs"), "durationMs")
        await self.services.claiming.offer(call.device, secret, duration)
        await send_empty(send)

    # -- OTA -------------------------------------------------------------------------------------
    @operation(summary="A chunk of the assigned firmware",
               query=PACKAGE_QUERY, responses=PACKAGE_RESPONSES)
    async def get_firmware(self, call: DeviceCall, send: Send) -> None:
        """``GET firmware?title=&version=&size=&chunk=``: a chunk of the assigned firmware."""
        await self._send_package(call, send, OtaPackageType.FIRMWARE)

    @operation(summary="A chunk of the assigned software",
               query=PACKAGE_QUERY, responses=PACKAGE_RESPONSES)
    async def get_software(self, call: DeviceCall, send: Send) -> None:
        """``GET software?title=&version=&size=&chunk=``: a chunk of the assigned software."""
        await self._send_package(call, send, OtaPackageType.SOFTWARE)

    async def _send_package(self, call: DeviceCall, send: Send, kind: OtaPackageType) -> None:
        """Bytes ``[chunk*size, chunk*size+size)`` of the device's package (all of it when
        size <= 0; none, with 200, past its end), streamed from the store chunk by chunk. As
        ThingsBoard: 404 with no body when nothing (or a URL package) is assigned, 400 with no
        body when title or version is not the assigned package's."""
        params = call.params()
        title, version = params.get("title"), params.get("version")
        for name, value in (("title", title), ("version", version)):
            if value is None:
                raise BadRequest(f"Required request parameter '{name}' is not present")
        size, chunk = _int_param(params, "size"), _int_param(params, "chunk")
        if chunk < 0:
            raise BadRequest(f"chunk must not be negative, got {chunk}")
        package = await self.services.ota.assigned(call.device, kind)
        if package is None or not package.has_data or package.data_size is None:
            await send_empty(send, 404)
            return
        if package.title != title or package.version != version:
            await send_empty(send, 400)
            return
        start, end = chunk_range(package.data_size, size, chunk)
        headers = attachment_headers(package.file_name or package.title, package.content_type,
                                     end - start)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for piece in self.services.ota.stream(package, start, end):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    #: action (the path after the token; "rpc/{id}" for replies) -> method -> handler. The
    #: OpenAPI document is made from it and the handlers' declarations.
    ROUTES: ClassVar[dict[str, dict[str, Callable[[DeviceApi, DeviceCall, Send],
                                                   Awaitable[None]]]]] = {
        "telemetry": {"POST": post_telemetry},
        "attributes": {"GET": get_attributes, "POST": post_attributes},
        "attributes/updates": {"GET": poll_attribute_updates},
        "rpc": {"GET": poll_rpc, "POST": post_client_rpc},
        "rpc/{id}": {"POST": post_rpc_reply},
        "claim": {"POST": post_claim},
        "firmware": {"GET": get_firmware},
        "software": {"GET": get_software},
    }

    @operation(summary="Provision a device with a profile's key and secret (no token)",
               responses={400: "Not a provision request", 429: "Too many attempts"})
    async def provision(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """``POST /api/v1/provision``: 200 with the outcome in ``status`` whatever it is; 400
        for a body that is not a provision request, 429 while the address is rate limited."""
        if scope["method"] != "POST":
            await _drained(scope, receive)
            await send_error(send, 405, f"Request method '{scope['method']}' is not supported",
                             [(b"allow", b"POST")])
            return
        client = scope.get("client")
        address = client[0] if client else ""
        try:
            # Before the body is read: a blocked address costs no parsing.
            await self.services.provisioning.refuse_if_blocked(address)
        except TooManyRequests:
            await _drained(scope, receive)
            raise
        body = await read_body(receive, limit, UNAUTHENTICATED_DRAIN_BYTES)
        if not body:
            raise BadRequest("Required request body is missing")
        request = request_from_json(await parse_json(body))
        result = await self.services.provisioning.provision(request, address)
        await send_json(send, response_json(result))

    async def _drain_bytes(self, call: DeviceCall | None, exc: ThingportError, token: str,
                           scope: Scope) -> int:
        """How much of an unread body to drain before answering ``exc``: all a proxy may send
        for a device's request, a few MiB for anyone else. A 413 on the Content-Length comes
        before the token check, so that is where the token is looked up."""
        if call is not None:
            return DRAIN_MAX_BYTES
        if not isinstance(exc, PayloadTooLarge) or not token or scope["path"] == PROVISION_PATH:
            return UNAUTHENTICATED_DRAIN_BYTES
        client = scope.get("client")
        address = client[0] if client else ""
        try:
            device = self.services.devices.cached(token)
            if device is None:
                device = await self.guard.unknown(token, address, self.services.devices.lookup)
            else:
                self.guard.known(token, address)
        except TooManyRequests:
            device = None
        return UNAUTHENTICATED_DRAIN_BYTES if device is None else DRAIN_MAX_BYTES


async def _drained(scope: Scope, receive: Receive, max_bytes: int | None = None) -> None:
    """Read and drop a body nobody read, before answering (see ``http.drain``): at most
    ``max_bytes``, by default what a request without a valid token gets."""
    if body_expected(scope):
        await discard_body(receive, max_bytes or UNAUTHENTICATED_DRAIN_BYTES)


def _int_param(params: dict[str, str], name: str) -> int:
    """An optional integer query parameter, 0 when absent; anything else but a number is
    a 400, as Spring answers for an int parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        return 0
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Failed to convert value of '{name}': '{raw}' is not a number") from None


def _key_list(raw: str | None) -> list[str] | None:
    """Split keys as Java's ``String.split(",")`` does: no trimming, trailing empties dropped."""
    if not raw:
        return None
    keys = raw.split(",")
    while keys and keys[-1] == "":
        keys.pop()
    return keys
