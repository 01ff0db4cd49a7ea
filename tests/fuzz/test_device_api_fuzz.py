"""Random and mutated requests on the HTTP Device API over real HTTP: every answer is 2xx or
4xx, the connection is never dropped, and the server log has no traceback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, quote_from_bytes

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api_client import Api
from tests.fuzz import budget, entities, payloads
from tests.fuzz.conftest import DEVICE_LIMIT, RPC_LIMIT
from tests.fuzz.findings import Findings
from tests.live import LiveServer

#: A fuzz run takes minutes by design (``THINGPORT_FUZZ_EXAMPLES``): beyond the default timeout.
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900)]

REQUEST_TIMEOUT_S = 30


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    chunked: bool

    def reproducer(self, base_url: str) -> str:
        body = repr(self.body) if len(self.body) <= 2000 else \
            f"{self.body[:200]!r} ... ({len(self.body)} bytes)"
        return (f"httpx.request({self.method!r}, {base_url + self.path + self.query!r}, "
                f"headers={self.headers!r}, content={body}"
                + (", sent chunked" if self.chunked else "") + ")")


def query_strings(names: list[str], good: dict[str, list[str]]) -> st.SearchStrategy[str]:
    """``?a=b&...`` with some of ``names`` (and others), their values sometimes right
    (``good``), often any text or bytes (percent-encoded, so not always UTF-8)."""
    value = st.one_of(
        st.sampled_from(sorted({v for values in good.values() for v in values}) or [""]),
        st.sampled_from(["", "true", "TRUE", "false", "a,b,,", ",", "-1", "0", "1", "10000000",
                         "99999999999999999999", "1e3", "NaN", "%", "%zz", "+"]),
        st.text(max_size=20).map(lambda text: quote(text, safe="")),
        st.binary(max_size=12).map(lambda data: quote_from_bytes(data, safe="")),
    )
    name = st.sampled_from(names) | st.text(max_size=6).map(lambda text: quote(text, safe=""))
    pair = st.tuples(name, value).map(lambda kv: f"{kv[0]}={kv[1]}")
    return st.one_of(
        st.just(""),
        st.lists(pair, max_size=5).map(lambda pairs: "?" + "&".join(pairs)),
        st.sampled_from(["?", "?&&", "?=", "?a", "?clientKeys", "?%ff=%fe"]),
    )


ROUTES = ["POST telemetry", "POST attributes", "GET attributes", "GET attributes/updates",
          "POST rpc", "GET rpc", "POST rpc/{id}", "POST claim", "GET firmware", "GET software",
          "POST provision"]


def device_requests(made: entities.Entities) -> st.SearchStrategy[Request]:
    """One request on the device API: a route (rarely a wrong method), a token (often the real
    one), a query and a body fit for the route, or not.

    Every strategy is built here, once: hypothesis validates a strategy the first time it draws
    from it, and building them in each draw made that most of the test's time."""
    wrong_tokens = st.one_of(
        st.sampled_from(["no-such-token", "a" * 1000, "%00", "%2F", "..", "%E2%82",
                         "provision"]),
        st.text(min_size=1, max_size=30).map(lambda text: quote(text, safe="")),
    )
    title, version = made.firmware
    attribute_keys = query_strings(
        ["clientKeys", "sharedKeys", "allClientKeys", "allSharedKeys"], {})
    poll_timeouts = query_strings(["timeout"], {"timeout": ["1", "-5", "50", "0"]})
    chunks = query_strings(["title", "version", "size", "chunk"], {
        "title": [title], "version": [version], "size": ["0", "1", "10", "100000"],
        "chunk": ["0", "1", "3", "100000"]})
    rpc_ids = st.one_of(
        st.integers(-(2**70), 2**70).map(str), st.integers(0, 100).map(str),
        st.text(min_size=1, max_size=10).map(lambda text: quote(text, safe="")))
    shapes: dict[str, st.SearchStrategy[object]] = {
        "telemetry": payloads.telemetry,
        "rpc": payloads.objects_with(["method", "params"], ("params",)),
        "claim": payloads.objects_with(["secretKey", "durationMs"], ("durationMs",)),
        "provision": st.one_of(
            payloads.objects_with(["deviceName", "provisionDeviceKey", "provisionDeviceSecret",
                                   "credentialsType", "token", "clientId", "username",
                                   "password", "hash"]),
            st.fixed_dictionaries({
                "deviceName": st.text(max_size=20) | payloads.values,
                "provisionDeviceKey": st.just(made.provision_key),
                "provisionDeviceSecret": st.just(made.provision_secret),
            }, optional={"credentialsType": st.sampled_from(
                ["ACCESS_TOKEN", "MQTT_BASIC", "X509_CERTIFICATE", "LWM2M", ""]) | payloads.values,
                "token": payloads.values}),
        ),
    }
    bodies = {action: payloads.bodies(shape) for action, shape in shapes.items()}
    any_body = payloads.bodies(payloads.values)
    oversized = {limit: payloads.oversized(limit) for limit in (DEVICE_LIMIT, RPC_LIMIT)}
    methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])

    @st.composite
    def device_request(draw: st.DrawFn) -> Request:
        token = made.device_token
        if draw(st.integers(0, 3)) == 0:  # a quarter with a wrong one
            token = draw(wrong_tokens)
        route = draw(st.sampled_from(ROUTES))
        method, action = route.split(" ")
        if draw(st.integers(0, 19)) == 0:
            method = draw(methods)
        limit = DEVICE_LIMIT
        query = ""
        body_shape = action
        if action == "attributes" and method == "GET":
            query = draw(attribute_keys)
        elif action in ("attributes/updates", "rpc") and method == "GET":
            query = draw(poll_timeouts)
            body_shape = ""
        elif action == "rpc":
            limit = RPC_LIMIT
        elif action == "rpc/{id}":
            action = "rpc/" + draw(rpc_ids)
            limit = RPC_LIMIT
        elif action in ("firmware", "software"):
            query = draw(chunks)
        path = "/api/v1/provision" if action == "provision" else f"/api/v1/{token}/{action}"
        body = b""
        if method in ("POST", "PUT", "PATCH") or draw(st.integers(0, 9)) == 0:
            body = draw(oversized[limit] if draw(st.integers(0, 29)) == 0
                        else bodies.get(body_shape, any_body))
        headers = {}
        content_type = draw(payloads.content_types)
        if content_type is not None:
            headers["Content-Type"] = content_type
        chunked = bool(body) and draw(st.booleans())
        return Request(method, path, query, headers, body, chunked)

    return device_request()


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 1000):
        yield body[start:start + 1000]


def send(client: httpx.Client, request: Request) -> httpx.Response:
    content = _chunks(request.body) if request.chunked else request.body
    return client.request(request.method, request.path + request.query, headers=request.headers,
                          content=content)


def test_device_api_survives_random_requests(fuzz_server: LiveServer) -> None:
    made = entities.make(Api(fuzz_server.url).login())
    findings = Findings(fuzz_server.log_path)
    client = httpx.Client(base_url=fuzz_server.url, timeout=REQUEST_TIMEOUT_S)
    started = time.monotonic()

    @given(request=device_requests(made))
    @budget.fuzz_settings(budget.examples() * budget.DEVICE_REQUESTS_PER_EXAMPLE)
    def fuzz(request: Request) -> None:
        nonlocal client
        reproducer = request.reproducer(fuzz_server.url)
        try:
            response = send(client, request)
        except httpx.TransportError as exc:
            findings.answered(None, reproducer, f"no answer (connection dropped?): {exc!r}")
            client.close()
            client = httpx.Client(base_url=fuzz_server.url, timeout=REQUEST_TIMEOUT_S)
            return
        status = response.status_code
        problem = None if 200 <= status < 300 or 400 <= status < 500 else f"answered {status}"
        findings.answered(status, reproducer, problem)

    try:
        fuzz()
    finally:
        client.close()
    print(f"device API fuzz: {findings.summary()} in {time.monotonic() - started:.1f}s")
    findings.check()
