"""The login cookie: /ui/session, /ui/session/token, DELETE /ui/session."""

from __future__ import annotations

import asyncio
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from tests.live import TENANT_ADMIN
from tests.web.conftest import make_settings
from thingport.app import create_app
from thingport.web.session import COOKIE

HEADERS = {"X-Requested-With": "thingport"}
CREDENTIALS = {"username": TENANT_ADMIN[0], "password": TENANT_ADMIN[1]}


def session_cookie(response: httpx.Response) -> SimpleCookie:
    """The Set-Cookie of the session cookie, parsed."""
    headers = [v for v in response.headers.get_list("set-cookie") if v.startswith(COOKIE + "=")]
    assert len(headers) == 1, response.headers
    cookie = SimpleCookie()
    cookie.load(headers[0])
    return cookie


async def current_user(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/auth/user", headers={"X-Authorization": f"Bearer {token}"})


async def test_login_sets_an_httponly_strict_cookie(client: httpx.AsyncClient) -> None:
    response = await client.post("/ui/session", json=CREDENTIALS, headers=HEADERS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token"}, "the refresh token never reaches the page"
    assert (await current_user(client, body["token"])).json()["email"] == TENANT_ADMIN[0]
    morsel = session_cookie(response)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/ui/session"
    assert not morsel["secure"], "plain HTTP: a Secure cookie would never come back"
    assert int(morsel["max-age"]) == 604800
    assert response.headers["cache-control"] == "no-store"


async def test_cookie_is_secure_over_https(app: object) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.post("/ui/session", json=CREDENTIALS, headers=HEADERS)
        assert response.status_code == 200
        assert session_cookie(response)[COOKIE]["secure"] is True


async def test_refresh_with_the_cookie_rotates_it(client: httpx.AsyncClient) -> None:
    login = await client.post("/ui/session", json=CREDENTIALS, headers=HEADERS)
    first = session_cookie(login)[COOKIE].value
    await asyncio.sleep(1.1)  # a new iat, so a new token
    refreshed = await client.post("/ui/session/token", headers=HEADERS)
    assert refreshed.status_code == 200
    token = refreshed.json()["token"]
    assert (await current_user(client, token)).status_code == 200
    rotated = session_cookie(refreshed)[COOKIE]
    assert rotated.value != first and rotated["httponly"] is True


async def test_refresh_without_cookie_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/ui/session/token", headers=HEADERS)
    assert response.status_code == 401
    assert response.json()["status"] == 401


async def test_wrong_password_is_401_with_the_message(client: httpx.AsyncClient) -> None:
    response = await client.post("/ui/session", headers=HEADERS,
                                 json={"username": TENANT_ADMIN[0], "password": "wrong"})
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid username or password"
    assert COOKIE not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("method,path", [("POST", "/ui/session"), ("POST", "/ui/session/token"),
                                         ("DELETE", "/ui/session")])
@pytest.mark.parametrize("headers", [
    {},  # no custom header: a plain cross-site form could have sent it
    {"X-Requested-With": "XMLHttpRequest"},
    {**HEADERS, "Origin": "https://evil.example"},
    {**HEADERS, "Sec-Fetch-Site": "cross-site"},
    {**HEADERS, "Sec-Fetch-Site": "same-site"},
])
async def test_cross_site_requests_are_refused(bare_client: httpx.AsyncClient, method: str,
                                               path: str, headers: dict[str, str]) -> None:
    bare_client.cookies.set(COOKIE, "a-refresh-token", domain="testserver", path="/ui/session")
    response = await bare_client.request(method, path, json=CREDENTIALS, headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == 403
    assert "set-cookie" not in response.headers


async def test_same_origin_browser_headers_are_accepted(client: httpx.AsyncClient) -> None:
    headers = {**HEADERS, "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    response = await client.post("/ui/session", json=CREDENTIALS, headers=headers)
    assert response.status_code == 200


async def test_logout_clears_the_cookie(client: httpx.AsyncClient) -> None:
    await client.post("/ui/session", json=CREDENTIALS, headers=HEADERS)
    response = await client.delete("/ui/session", headers=HEADERS)
    assert response.status_code == 204
    morsel = session_cookie(response)[COOKIE]
    assert morsel.value == "" or int(morsel["max-age"]) == 0
    assert morsel["path"] == "/ui/session"
    assert (await client.post("/ui/session/token", headers=HEADERS)).status_code == 401


async def test_an_expired_session_is_401_and_forgotten(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, jwt_expiration_s=1, jwt_refresh_expiration_s=1))
    async with app.rest.router.lifespan_context(app.rest):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            login = await client.post("/ui/session", json=CREDENTIALS, headers=HEADERS)
            assert login.status_code == 200
            stale = session_cookie(login)[COOKIE].value
            await asyncio.sleep(2.1)
            # A browser drops the cookie by itself once Max-Age passes; one kept longer
            # (a stolen copy) is refused by the server all the same.
            client.cookies.clear()
            response = await client.post("/ui/session/token",
                                         headers={**HEADERS, "Cookie": f"{COOKIE}={stale}"})
            assert response.status_code == 401
            assert response.json()["message"].startswith("Session expired")
            assert int(session_cookie(response)[COOKIE]["max-age"]) == 0
