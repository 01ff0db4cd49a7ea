"""Server-side RPC (v1 ``/api/plugins/rpc``, v2 ``/api/rpc``), persistent RPC, and the
subscription through which applications answer devices' client-side RPC."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import thingport.api.render as render
from thingport.api.common import (
    JSONResponse,
    empty_ok,
    int_param,
    json_body,
    page_link,
    principal,
    services,
    tenant_admin,
    uuid_param,
    visible_device,
)
from thingport.domain.long_poll import poll_timeout_s
from thingport.domain.model import LONG_MAX, LONG_MIN, Authority, RpcStatus
from thingport.errors import BadRequest, NotFound
from thingport.http.asgi import ClientDisconnected, ServerStopping, until_disconnected
from thingport.http.errors import error_body
from thingport.http.operations import JSON_ANY, PAGE, POLL_TIMEOUT, Param, operation
from thingport.services.rpc import RpcRequest


def _int(body: dict[str, Any], name: str) -> int | None:
    """A number field as a (64-bit, as ThingsBoard's long) integer, or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"{name} must be a number")
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be a number") from None
    if not LONG_MIN <= number <= LONG_MAX:
        raise BadRequest(f"{name} is out of range: {value}")
    return number


def _rpc_request(body: Any, oneway: bool) -> RpcRequest:
    if not isinstance(body, dict):
        raise BadRequest("Invalid request body")
    method = body.get("method")
    if not isinstance(method, str) or not method:
        raise BadRequest("RPC method must be specified")
    info = body.get("additionalInfo")
    return RpcRequest(
        method=method,
        params=orjson.dumps(body.get("params", {})).decode(),
        oneway=oneway,
        timeout_ms=_int(body, "timeout"),
        expiration_time=_int(body, "expirationTime"),
        persistent=body.get("persistent") is True,
        retries=_int(body, "retries") or 0,
        additional_info=info if isinstance(info, dict) else None,
    )


def _status_response(status: int, message: str) -> Response:
    return Response(error_body(status, message), status_code=status,
                    media_type="application/json")


async def _send(request: Request, v2: bool) -> Response:
    kind = request.path_params["kind"]
    if kind not in ("oneway", "twoway"):
        raise NotFound(f"No endpoint {request.method} {request.url.path}")
    _, device = await visible_device(request, uuid_param(request.path_params["deviceId"]))
    rpc_request = _rpc_request(await json_body(request), oneway=kind == "oneway")
    svc = services(request).rpc
    rpc = await svc.submit(device, rpc_request)
    if rpc.persistent:
        return JSONResponse({"rpcId": str(rpc.id)})
    try:
        done = await until_disconnected(request.receive, svc.outcome(rpc),
                                        request.app.state.lifecycle, "rpc_outcome")
    except ClientDisconnected:
        # Nobody waits for the outcome any more; the sweep finishes the RPC when it expires.
        return Response(status_code=408)
    except ServerStopping:
        # The RPC stays stored: a device polling another node (or this one, restarted)
        # still gets it; the caller may look it up or send again.
        return _status_response(503, "The server is shutting down")
    if done.status is RpcStatus.SUCCESSFUL or (done.oneway and done.status is RpcStatus.DELIVERED):
        if done.oneway:
            return empty_ok()
        reply = done.response or ""
        try:
            orjson.loads(reply)
        except orjson.JSONDecodeError:
            return _status_response(406, "The device's reply is not JSON: " + reply[:200])
        return Response(reply, media_type="application/json")
    if v2:
        return _status_response(504, f"RPC {done.status.value.lower()}: no reply in time")
    if done.status is RpcStatus.TIMEOUT:
        return _status_response(408, "The device did not reply in time")
    return _status_response(409, "The device did not take the command in time "
                                 "(no active connection)")


@operation(responses={408: "Delivered, no reply in time", 409: "Never delivered"})
async def send_v1(request: Request) -> Response:
    """Send a command to a device: one-way (200 once delivered) or two-way (its reply).
    Times out with 408 (delivered, no reply) or 409 (never delivered)."""
    return await _send(request, v2=False)


@operation(responses={504: "No reply in time"})
async def send_v2(request: Request) -> Response:
    """As v1, but every time-out answers 504. ``"persistent": true`` answers ``{"rpcId"}``
    at once."""
    return await _send(request, v2=True)


async def get_persistent(request: Request) -> Response:
    """A stored RPC with its status and response."""
    caller = await principal(request, Authority.TENANT_ADMIN, Authority.CUSTOMER_USER)
    assert caller.tenant_id is not None
    rpc_id = uuid_param(request.path_params["rpcId"])
    rpc = await services(request).rpc.get(caller.tenant_id, rpc_id)
    await visible_device(request, rpc.device_id)
    return JSONResponse(render.rpc(rpc))


@operation(query=(*PAGE, Param("rpcStatus", enum=tuple(s.value for s in RpcStatus))))
async def list_persistent(request: Request) -> Response:
    """A page of a device's RPCs, optionally of one ``rpcStatus``."""
    _, device = await visible_device(request, uuid_param(request.path_params["deviceId"]))
    raw = request.query_params.get("rpcStatus")
    try:
        status = RpcStatus(raw) if raw else None
    except ValueError:
        raise BadRequest(f"Invalid rpcStatus: {raw}") from None
    link = page_link(request)
    result = await services(request).rpc.find(device.id, link, status)
    return JSONResponse(render.page(result, render.rpc))


async def delete_persistent(request: Request) -> Response:
    """Delete a stored RPC."""
    _, tenant_id = await tenant_admin(request)
    await services(request).rpc.delete(tenant_id, uuid_param(request.path_params["rpcId"]))
    return empty_ok()


def _poll_timeout_s(request: Request) -> float:
    settings = request.app.state.settings
    return poll_timeout_s(int_param(request, "timeout", 0), settings.request_timeout_ms,
                          settings.max_request_timeout_ms)


@operation(query=(POLL_TIMEOUT,), responses={408: "No request in time"})
async def next_client_request(request: Request) -> Response:
    """Long poll for the device's next client-side RPC request:
    ``{"id","deviceId","method","params","expirationTime"}``, or 408 after ``timeout`` ms."""
    _, device = await visible_device(request, uuid_param(request.path_params["deviceId"]))
    waiting = services(request).client_rpc.next_request(device.id, _poll_timeout_s(request))
    try:
        found = await until_disconnected(request.receive, waiting,
                                         request.app.state.lifecycle, "client_rpc_requests")
    except ClientDisconnected:
        return Response(status_code=408)  # nobody is left to read it
    except ServerStopping:
        # As an expired poll: the application polls again, elsewhere.
        return Response(status_code=408, headers={"Connection": "close"})
    if found is None:
        return Response(status_code=408)
    return JSONResponse({
        "id": str(found.id),
        "deviceId": render.entity_id("DEVICE", found.device_id),
        "method": found.method,
        "params": orjson.Fragment(found.params),
        "expirationTime": found.expiration_time,
    })


@operation(body=JSON_ANY, responses={404: "The request is no longer waiting"})
async def answer_client_request(request: Request) -> Response:
    """Answer a device's client-side RPC request with a JSON body; the device gets it as its
    response. 404 when the request is no longer waiting."""
    _, device = await visible_device(request, uuid_param(request.path_params["deviceId"]))
    answer = await json_body(request)
    await services(request).client_rpc.answer(
        device.id, uuid_param(request.path_params["requestId"]), orjson.dumps(answer).decode()
    )
    return empty_ok()


routes = [
    Route("/api/plugins/rpc/client/{deviceId}", next_client_request, methods=["GET"]),
    Route("/api/plugins/rpc/client/{deviceId}/{requestId}", answer_client_request,
          methods=["POST"]),
    Route("/api/plugins/rpc/{kind}/{deviceId}", send_v1, methods=["POST"]),
    Route("/api/rpc/persistent/device/{deviceId}", list_persistent, methods=["GET"]),
    Route("/api/rpc/persistent/{rpcId}", get_persistent, methods=["GET"]),
    Route("/api/rpc/persistent/{rpcId}", delete_persistent, methods=["DELETE"]),
    Route("/api/rpc/{kind}/{deviceId}", send_v2, methods=["POST"]),
]
