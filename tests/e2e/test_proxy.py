"""Behind a proxy: X-Forwarded-* believed only from THINGPORT_TRUSTED_PROXIES, and through a
real nginx, answers to unread bodies (413, 401) relayed as they are, and links that name the
address clients use.

The per-address limit on wrong provision secrets makes the client address observable.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_provisioning import make_profile
from tests.api_client import Api
from tests.live import LiveServer
from tests.nginx import README_LOCATION, Nginx

LIMITS = {"THINGPORT_PROVISION_MAX_FAILURES": "2", "THINGPORT_PROVISION_FAILURE_WINDOW": "60"}


def guess(url: str, key: str, forwarded_for: str) -> int:
    response = httpx.post(f"{url}/api/v1/provision", timeout=30,
                          headers={"X-Forwarded-For": forwarded_for},
                          json={"provisionDeviceKey": key, "provisionDeviceSecret": "guess"})
    return response.status_code


def test_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "trusted",
                      env={**LIMITS, "THINGPORT_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        _, key, _ = make_profile(Api(live.url).login())
        assert [guess(live.url, key, "203.0.113.7") for _ in range(3)] == [200, 200, 429]
        # Another client behind the same proxy is counted on its own.
        assert guess(live.url, key, "198.51.100.9") == 200
    finally:
        live.stop()


def test_forwarded_headers_from_anyone_else_are_ignored(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "untrusted", env=LIMITS).start()
    try:
        _, key, _ = make_profile(Api(live.url).login())
        # Claiming a new address on each request does not escape the limit.
        codes = [guess(live.url, key, f"203.0.113.{n}") for n in range(3)]
        assert codes == [200, 200, 429]
    finally:
        live.stop()


# -- through a real nginx ---------------------------------------------------------------------
#: nginx's defaults towards the upstream: HTTP/1.0 and Connection: close, so thingport closes
#: the connection after each answer (the case where an unread body turned a 413 into a 502).
PLAIN_LOCATION = """
        proxy_pass http://thingport;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
"""
TRIES = 10


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """A live server trusting 127.0.0.1, and a device token of it."""
    # The cases send many unknown tokens on purpose; the wrong-token block has its own tests.
    live = LiveServer(tmp_path_factory.mktemp("proxied"),
                      env={"THINGPORT_TRUSTED_PROXIES": "127.0.0.1",
                           "TB_TRANSPORT_MAX_WRONG_CREDENTIALS_PER_IP": "1000"}).start()
    _, token = Api(live.url).login().create_device()
    yield live, token
    live.stop()


@pytest.mark.parametrize("location", [README_LOCATION, PLAIN_LOCATION], ids=["readme", "plain"])
def test_a_413_reaches_the_client_through_nginx(
    proxied: tuple[LiveServer, str], tmp_path: Path, location: str
) -> None:
    live, token = proxied
    telemetry = b'{"blob":"' + b"x" * 53_000_000 + b'"}'  # over the 50 MiB device API limit
    reply = b'{"r":"' + b"x" * 70_000 + b'"}'  # over the 64 KiB limit of rpc/**
    device = b'{"name":"' + b"x" * 17_000_000 + b'"}'  # over the REST API's 16 MiB
    admin = {"X-Authorization": f"Bearer {Api(live.url).login().token}"}
    with Nginx(tmp_path / "nginx", [f"127.0.0.1:{live.port}"], location=location) as nginx, \
            httpx.Client(base_url=nginx.url, timeout=60) as client:
        cases = [(f"/api/v1/{token}/telemetry", telemetry, {}, 413),
                 (f"/api/v1/{token}/rpc/1", reply, {}, 413),
                 # Not read either: the token is unknown.
                 ("/api/v1/no-such-token/telemetry", reply * 20, {}, 401),
                 ("/api/device", device, admin, 413),
                 ("/api/device", device, {}, 401)]
        for path, body, headers, expected in cases:
            codes = [client.post(path, content=body, headers=headers).status_code
                     for _ in range(TRIES)]
            assert codes == [expected] * TRIES, (path, codes, nginx.log()[-2000:])
        # Counted on the bytes when there is no Content-Length (chunked).
        chunked = client.post(f"/api/v1/{token}/rpc/1", content=iter([reply[:40_000],
                                                                      reply[40_000:]]))
        assert chunked.status_code == 413
        assert "prematurely" not in nginx.log() and "reset by peer" not in nginx.log()


def test_a_413_without_a_proxy_is_answered_before_the_upload(
    proxied: tuple[LiveServer, str],
) -> None:
    # A client waiting for "100 Continue" sent nothing: it is told 413 and sends nothing.
    live, token = proxied
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as conn:
        conn.sendall(f"POST /api/v1/{token}/telemetry HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Length: 60000000\r\nExpect: 100-continue\r\n\r\n".encode())
        assert conn.recv(4096).startswith(b"HTTP/1.1 413")


def new_user(api: Api) -> str:
    """A customer user waiting for activation; its id."""
    customer = api.http.post("/api/customer", json={"title": f"c-{uuid.uuid4().hex[:8]}"})
    user = api.http.post("/api/user", params={"sendActivationMail": "false"}, json={
        "email": f"u-{uuid.uuid4().hex[:8]}@example.com", "authority": "CUSTOMER_USER",
        "customerId": customer.json()["id"]})
    user.raise_for_status()
    return str(user.json()["id"]["id"])


def activation_link(base_url: str, api: Api, user_id: str) -> str:
    client = Api(base_url)
    client.http.headers["X-Authorization"] = f"Bearer {api.token}"
    response = client.http.get(f"/api/user/{user_id}/activationLink")
    assert response.status_code == 200, response.text
    return response.text


#: With the README's Host $host, and the port of nginx's listener (a test's is not 80).
HOST_AND_PORT = README_LOCATION + "        proxy_set_header X-Forwarded-Port $server_port;\n"
#: nginx's own Host (the upstream's name), the client's host in X-Forwarded-Host.
FORWARDED_HOST = PLAIN_LOCATION.replace("proxy_set_header Host $host;",
                                        "proxy_set_header X-Forwarded-Host $http_host;")


@pytest.mark.parametrize("location", [HOST_AND_PORT, FORWARDED_HOST],
                         ids=["host", "x-forwarded-host"])
def test_links_name_the_address_clients_use(
    proxied: tuple[LiveServer, str], tmp_path: Path, location: str
) -> None:
    live, _ = proxied
    api = Api(live.url).login()
    with Nginx(tmp_path / "nginx", [f"127.0.0.1:{live.port}"], location=location) as nginx:
        link = activation_link(nginx.url, api, new_user(api))
        assert link.startswith(f"{nginx.url}/activate?activateToken="), link
        # It opens the UI's page, through the proxy.
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        device, _ = api.create_device()
        command = Api(nginx.url)
        command.http.headers["X-Authorization"] = f"Bearer {api.token}"
        shown = command.http.get(f"/api/device-connectivity/{device['id']['id']}").json()
        assert f"curl -v -X POST {nginx.url}/api/v1/" in shown["http"]["http"]
        # An old link (the REST path) is sent on to the page.
        token = link.split("activateToken=")[1]
        old = httpx.get(f"{nginx.url}/api/noauth/activate", params={"activateToken": token})
        assert old.status_code == 302
        assert old.headers["location"] == f"/activate?activateToken={token}"


def test_forwarded_host_from_anyone_else_is_ignored(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "untrusted").start()
    try:
        api = Api(live.url).login()
        with Nginx(tmp_path / "nginx", [f"127.0.0.1:{live.port}"],
                   location=FORWARDED_HOST) as nginx:
            link = activation_link(nginx.url, api, new_user(api))
        # nginx is not trusted here: its X-Forwarded-Host is ignored, its Host used.
        assert link.startswith("http://thingport/activate?activateToken="), link
        spoofed = Api(live.url)
        spoofed.http.headers.update({"X-Authorization": f"Bearer {api.token}",
                                     "X-Forwarded-Host": "evil.example"})
        assert spoofed.http.get(f"/api/user/{new_user(api)}/activationLink").text.startswith(
            f"{live.url}/activate?")
    finally:
        live.stop()


def test_the_base_url_setting_wins(tmp_path: Path) -> None:
    live = LiveServer(tmp_path / "base", env={
        "THINGPORT_BASE_URL": "https://iot.example.com/things/",
        "THINGPORT_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        api = Api(live.url).login()
        api.http.headers["X-Forwarded-Host"] = "other.example"
        link = api.http.get(f"/api/user/{new_user(api)}/activationLink").text
        assert link.startswith("https://iot.example.com/things/activate?activateToken=")
        old = httpx.get(f"{live.url}/api/noauth/activate", params={"activateToken": "abc"})
        assert old.headers["location"] == "/things/activate?activateToken=abc"
    finally:
        live.stop()
