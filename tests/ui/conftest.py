"""Browser tests: Debian's Chromium driven by Playwright for Python, against a live server.

One server and one browser per module; each test gets a fresh browser context (its own
cookies and clipboard permission) and fails if the page logged any console error it did not
expect.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api
from tests.live import TENANT_ADMIN, LiveServer

CHROMIUM = os.environ.get("THINGPORT_TEST_CHROMIUM", "/usr/bin/chromium")
# Chromium's own background traffic goes nowhere on a closed network: keep it quiet.
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# Playwright's default of 30 s would hide a stuck page for long; 10 s is plenty here.
TIMEOUT_MS = 10000



def playwright_api() -> Any:
    """``playwright.sync_api``; without it or the browser, a skip on a developer's machine and
    a failure in CI (where .ci/run installs both)."""
    problem = None
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        problem = "Playwright is not installed: pip install -e '.[test]'"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    return sync_api


@dataclass
class Console:
    """What the page logged as errors; `allow` names the ones a test expects."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@dataclass
class Browser:
    """A browser and the server its pages open (and Playwright, to launch another)."""

    browser: Any
    server: LiveServer
    playwright: Any

    def new_page(self, console: Console, **context_options: Any) -> Any:
        """A page in a fresh context that may read and write the clipboard."""
        init_script = context_options.pop("init_script", None)
        context = self.browser.new_context(
            base_url=context_options.pop("base_url", self.server.url),
            permissions=["clipboard-read", "clipboard-write"],
            viewport=context_options.pop("viewport", {"width": 1280, "height": 860}),
            **context_options)
        context.set_default_timeout(TIMEOUT_MS)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()

        def on_console(message: Any) -> None:
            if message.type == "error":
                console.errors.append(f"{message.text} ({message.location.get('url', '')})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: console.errors.append(f"uncaught: {error}"))
        return page


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for the module's tests; each test makes its own devices."""
    playwright_api()  # no server to start when the browser tests cannot run
    live = LiveServer(tmp_path_factory.mktemp("ui-server")).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser(ui_server: LiveServer) -> Iterator[Browser]:
    sync_api = playwright_api()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield Browser(chromium, ui_server, playwright)
        chromium.close()


@pytest.fixture
def console() -> Iterator[Console]:
    """The console errors of the test's pages; any unexpected one fails the test."""
    collected = Console()
    yield collected
    assert not collected.unexpected(), "console errors:\n" + "\n".join(collected.unexpected())


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Any]:
    """A fresh page (own context) on the module's server."""
    page = browser.new_page(console)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def ui_token(ui_server: LiveServer) -> str:
    """The tenant administrator's access token: one login (an argon2 check) per module."""
    token = Api(ui_server.url).login().token
    assert token is not None
    return token


@pytest.fixture
def api(ui_server: LiveServer, ui_token: str) -> Api:
    """The tenant administrator over the REST API, to arrange and check what the UI does."""
    logged_in = Api(ui_server.url)
    logged_in.token = ui_token
    logged_in.http.headers["X-Authorization"] = f"Bearer {ui_token}"
    return logged_in


def log_in(page: Any, email: str = TENANT_ADMIN[0], password: str = TENANT_ADMIN[1],
           path: str = "/") -> None:
    """Open `path`, log in on the login page it leads to, wait for the app's frame."""
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    playwright_api().expect(page.get_by_role("button", name="Log out")).to_be_visible()


def open_device(page: Any, device_id: str, tab: str | None = None) -> None:
    """Go to a device's page (and tab) as a user would after logging in."""
    page.goto(f"/devices/{device_id}")
    playwright_api().expect(page.get_by_role("tab", name="Details")).to_be_visible()
    if tab:
        page.get_by_role("tab", name=tab, exact=True).click()
