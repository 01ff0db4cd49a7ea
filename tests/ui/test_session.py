"""Logging in and out, roles, and the end of a session, in the browser."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api
from tests.live import SYSADMIN, LiveServer
from tests.ui.conftest import Browser, Console, log_in

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[ui]'").expect


def test_wrong_password_shows_the_error(page: Any, console: Console) -> None:
    console.allow(r"status of 401")  # the browser logs the refused login itself
    page.goto("/devices")
    expect(page).to_have_url("/login?next=%2Fdevices")
    page.get_by_label("Email").fill("tenant@thingsboard.org")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password")
    expect(page.get_by_role("button", name="Log in")).to_be_enabled()


def test_login_reload_and_logout(page: Any, ui_server: LiveServer) -> None:
    page.goto("/customers")
    log_in(page, path="/customers")
    expect(page).to_have_url(f"{ui_server.url}/customers")  # back where it was going
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.reload()  # the access token was in memory only: the cookie brings a new one
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    assert "thingport_refresh" not in page.evaluate("document.cookie"), "HttpOnly"
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto("/customers")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def test_tenant_admin_navigation(page: Any) -> None:
    log_in(page)
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Devices", "Device profiles", "Customers", "OTA updates"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Tenants")).to_have_count(0)
    devices = nav.get_by_role("link", name="Devices", exact=True)
    expect(devices).to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="OTA updates").click()
    expect(page.get_by_role("heading", name="OTA updates")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="Devices", exact=True)).to_be_visible()
    page.goto("/tenants")  # not a tenant administrator's page
    expect(page.get_by_role("heading", name="Devices", exact=True)).to_be_visible()


def test_system_administrator_manages_tenants(page: Any) -> None:
    log_in(page, *SYSADMIN)
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Devices")).to_have_count(0)
    title = f"Tenant {time.time_ns()}"
    page.get_by_role("button", name="Add tenant").click()
    dialog = page.get_by_role("dialog", name="Add tenant")
    dialog.get_by_label("Title").fill(title)
    dialog.get_by_role("button", name="Add").click()
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("button", name="Add tenant administrator").click()
    add = page.get_by_role("dialog", name="Add tenant administrator")
    add.get_by_label("Email").fill(f"admin-{time.time_ns()}@tenant.example")
    add.get_by_role("button", name="Add").click()
    link = page.get_by_role("dialog", name="Activation link for").get_by_label("Activation page")
    expect(link).to_contain_text("/activate?activateToken=")


def test_customer_user_sees_only_its_devices_read_only(page: Any, api: Api) -> None:
    customer_id, customer = api.create_customer_user()
    mine, _ = api.create_device(f"customer-device-{time.time_ns()}")
    other, _ = api.create_device(f"tenant-device-{time.time_ns()}")
    api.http.post(f"/api/customer/{customer_id}/device/{mine['id']['id']}").raise_for_status()
    email = customer.http.get("/api/auth/user").json()["email"]

    log_in(page, email, "customer-pass")
    expect(page.get_by_text("The devices of your customer (read-only).")).to_be_visible()
    expect(page.get_by_role("link", name=mine["name"])).to_be_visible()
    expect(page.get_by_role("link", name=other["name"])).to_have_count(0)
    expect(page.get_by_role("button", name="Add device")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_count(1)

    page.get_by_role("link", name=mine["name"]).click()
    expect(page.get_by_role("tab", name="Latest telemetry")).to_be_visible()
    for hidden in ("Copy access token", "Manage credentials", "Delete device", "Save"):
        expect(page.get_by_role("button", name=hidden)).to_have_count(0)
    expect(page.get_by_role("tab", name="RPC")).to_have_count(0)
    page.get_by_role("tab", name="Attributes").click()
    page.get_by_label("Attributes scope").select_option("SHARED_SCOPE")
    expect(page.get_by_text("No attributes in this scope.")).to_be_visible()
    expect(page.get_by_role("button", name="Add attribute")).to_have_count(0)


@pytest.fixture
def short_sessions(tmp_path: Path) -> Iterator[LiveServer]:
    """A server whose access tokens last 2 s and sessions 3 s."""
    live = LiveServer(tmp_path / "short", env={
        "JWT_TOKEN_EXPIRATION_TIME": "2", "JWT_REFRESH_TOKEN_EXPIRATION_TIME": "3"}).start()
    yield live
    live.stop()


def test_expired_session_goes_back_to_login(browser: Browser, console: Console,
                                            short_sessions: LiveServer) -> None:
    # The refresh that finds the session over is refused, and the browser logs that.
    console.allow(r"status of 401")
    page = browser.new_page(console, base_url=short_sessions.url)
    try:
        log_in(page)
        expect(page.get_by_role("heading", name="Devices", exact=True)).to_be_visible()
        # Idle past both lifetimes: the access token, then the session cookie, expire.
        page.wait_for_timeout(3500)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers").click()
        expect(page.get_by_text("Your session has expired. Please log in again.")).to_be_visible()
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        assert "/login?expired=1" in page.url
    finally:
        page.context.close()
