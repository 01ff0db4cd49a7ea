"""The page shell and static files: served at every client route, with the security headers."""

from __future__ import annotations

import re

import httpx
import pytest

from thingport.web import CLIENT_ROUTES
from thingport.web.pages import CONTENT_SECURITY_POLICY, STATIC_DIR

ROUTES = [path.replace("{deviceId}", "0b0c5f4e-1c7a-4a43-9b61-5d1c0d0e0f10")
          .replace("{customerId}", "c").replace("{tenantId}", "t") for path in CLIENT_ROUTES]


def static_prefix(shell: str) -> str:
    found = re.search(r'src="(/static/[0-9a-f]{12})/js/main.js"', shell)
    assert found, shell
    return found.group(1)


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_policy_is_the_strict_one() -> None:
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "img-src 'self' data:", "connect-src 'self' ws: wss:",
                      "frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'"):
        assert directive in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ROUTES)
async def test_shell_at_every_client_route(bare_client: httpx.AsyncClient, path: str) -> None:
    response = await bare_client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert_security_headers(response)
    assert '<script type="module"' in response.text
    assert "{{static}}" not in response.text


async def test_shell_has_no_inline_script_or_style(bare_client: httpx.AsyncClient) -> None:
    shell = (await bare_client.get("/")).text
    for tag in re.findall(r"<script\b[^>]*>", shell):
        assert "src=" in tag, tag
    for body in re.findall(r"<script\b[^>]*>(.*?)</script>", shell, re.S):
        assert not body.strip()
    assert " style=" not in shell and "<style" not in shell
    assert re.search(r"\son[a-z]+=", shell) is None


async def test_static_files_are_versioned_and_cached(bare_client: httpx.AsyncClient) -> None:
    prefix = static_prefix((await bare_client.get("/devices")).text)
    for name, media_type in [("js/main.js", "text/javascript"), ("app.css", "text/css"),
                             ("favicon.svg", "image/svg+xml")]:
        response = await bare_client.get(f"{prefix}/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(media_type)
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert_security_headers(response)
        assert response.content == (STATIC_DIR / name).read_bytes()


async def test_every_module_the_pages_import_is_served(bare_client: httpx.AsyncClient) -> None:
    """Each relative import of our ES modules resolves to a file the server serves."""
    prefix = static_prefix((await bare_client.get("/")).text)
    for module in (STATIC_DIR / "js").rglob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"', module.read_text()):
            resolved = (module.parent / target).resolve().relative_to(STATIC_DIR.resolve())
            response = await bare_client.get(f"{prefix}/{resolved.as_posix()}")
            assert response.status_code == 200, f"{module.name} imports {target}"


async def test_vendored_chart_library_is_served(bare_client: httpx.AsyncClient) -> None:
    """The build hook (setup.py) put uPlot from package-lock.json into the package."""
    prefix = static_prefix((await bare_client.get("/")).text)
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        response = await bare_client.get(f"{prefix}/vendor/uplot/{name}")
        assert response.status_code == 200, name


async def test_an_old_version_is_served_but_not_kept(bare_client: httpx.AsyncClient) -> None:
    response = await bare_client.get("/static/000000000000/app.css")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("name", ["index.html", "../web/pages.py", "..%2Fpages.py", "nope.js",
                                  "%2e%2e/pages.py", "js/%2e%2e/%2e%2e/pages.py", ".hidden"])
async def test_nothing_else_is_served(bare_client: httpx.AsyncClient, name: str) -> None:
    response = await bare_client.get(f"/static/000000000000/{name}")
    assert response.status_code == 404


async def test_rest_api_is_not_shadowed(bare_client: httpx.AsyncClient) -> None:
    """The REST API keeps its own JSON answers; the shell is only at the client routes."""
    response = await bare_client.get("/api/tenant/devices?pageSize=1&page=0")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert (await bare_client.get("/nothing-here")).status_code == 404
