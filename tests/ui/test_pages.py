"""The list pages (devices, profiles, customers, OTA), the phone layout and the keyboard."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api
from tests.ui.conftest import Browser, Console, log_in, open_device

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[ui]'").expect


def test_devices_table_pages_searches_and_sorts(page: Any, api: Api) -> None:
    prefix = f"fleet{time.time_ns()}"
    for i in range(12):
        api.create_device(f"{prefix}-{i:02d}")
    # Without a device outside the search, the first, unfiltered listing would already read
    # "1–10 of 12", and a click on Next could land before the search's delay reset the page.
    api.create_device()
    log_in(page)
    table = page.get_by_role("region", name="Devices")
    table.get_by_label("Search devices").fill(prefix)
    expect(table.get_by_text("1–10 of 12")).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(10)
    table.get_by_role("button", name="Next page").click()
    expect(table.get_by_text("11–12 of 12")).to_be_visible()
    expect(rows).to_have_count(2)
    table.get_by_role("button", name="Name").click()  # sort by name, ascending, from page 1
    name_header = table.get_by_role("columnheader", name="Name")
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_contain_text(f"{prefix}-00")
    table.get_by_label("Rows per page").select_option("20")
    expect(rows).to_have_count(12)
    expect(rows.first.get_by_text("Inactive")).to_be_visible()
    table.get_by_label("State filter").select_option("true")
    expect(table.get_by_text("No devices found.")).to_be_visible()


def test_delete_and_assign_from_the_devices_table(page: Any, api: Api) -> None:
    customer = api.http.post("/api/customer", json={"title": f"Acme {time.time_ns()}"}).json()
    device, _ = api.create_device()
    log_in(page)
    table = page.get_by_role("region", name="Devices")
    table.get_by_label("Search devices").fill(device["name"])
    row = table.locator("tbody tr", has_text=device["name"])
    row.get_by_role("button", name=f"Assign {device['name']} to a customer").click()
    dialog = page.get_by_role("dialog", name=f"Assign {device['name']} to a customer")
    dialog.get_by_label("Customer").select_option(label=customer["title"])
    dialog.get_by_role("button", name="Assign").click()
    expect(row).to_contain_text(customer["title"])
    saved = api.http.get(f"/api/device/{device['id']['id']}").json()
    assert saved["customerId"]["id"] == customer["id"]["id"]
    row.get_by_role("button", name=f"Delete {device['name']}").click()
    confirm = page.get_by_role("dialog", name=f"Delete device {device['name']}?")
    confirm.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert api.http.get(f"/api/device/{device['id']['id']}").status_code == 404


def test_device_profile_with_provisioning(page: Any, api: Api) -> None:
    name = f"thermostats-{time.time_ns()}"
    log_in(page)
    page.get_by_role("link", name="Device profiles").click()
    page.get_by_role("button", name="Add device profile").click()
    dialog = page.get_by_role("dialog", name="Add device profile")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("Provisioning strategy").select_option("ALLOW_CREATE_NEW_DEVICES")
    dialog.get_by_label("Provision device key").fill(f"{name}-key")
    dialog.get_by_label("Provision device secret").fill(f"{name}-secret")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("tbody tr", has_text=name)).to_contain_text("Allow to create new devices")
    provisioned = api.http.post("/api/v1/provision", json={
        "deviceName": f"{name}-device", "provisionDeviceKey": f"{name}-key",
        "provisionDeviceSecret": f"{name}-secret"}).json()
    assert provisioned["status"] == "SUCCESS"


def test_customer_user_and_activation_link(page: Any) -> None:
    title = f"Customer {time.time_ns()}"
    email = f"user-{time.time_ns()}@customer.example"
    log_in(page)
    page.get_by_role("link", name="Customers").click()
    page.get_by_role("button", name="Add customer").click()
    dialog = page.get_by_role("dialog", name="Add customer")
    dialog.get_by_label("Title").fill(title)
    dialog.get_by_role("button", name="Add").click()
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("button", name="Add user").click()
    add = page.get_by_role("dialog", name="Add user")
    add.get_by_label("Email").fill(email)
    add.get_by_role("button", name="Add").click()
    links = page.get_by_role("dialog", name=f"Activation link for {email}")
    # The API's link opens the UI's page, at the address this browser uses.
    expect(links.get_by_label("Activation page")).to_contain_text(
        f"{page.evaluate('location.origin')}/activate?activateToken=")
    activation = links.get_by_label("Activation page").inner_text()
    links.get_by_role("button", name="Close").click()
    expect(page.locator("tbody tr", has_text=email)).to_be_visible()

    # The new user opens the link, chooses a password and logs in with it.
    page.get_by_role("button", name="Log out").click()
    page.goto(activation)
    page.get_by_label("Password", exact=True).fill("chosen-pass")
    page.get_by_label("Repeat password").fill("chosen-pass")
    page.get_by_role("button", name="Create password").click()
    expect(page.get_by_text("Your password is set.")).to_be_visible()
    log_in(page, email, "chosen-pass", path=page.url)
    expect(page.get_by_text("The devices of your customer (read-only).")).to_be_visible()


def test_ota_package_upload_and_assignment(page: Any, api: Api, tmp_path: Path) -> None:
    image = tmp_path / "firmware.bin"
    image.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    title = f"fw-{time.time_ns()}"
    device, _ = api.create_device()
    log_in(page)
    page.get_by_role("link", name="OTA updates").click()
    page.get_by_role("button", name="Add package").click()
    dialog = page.get_by_role("dialog", name="Add package")
    dialog.get_by_label("Title").fill(title)
    dialog.get_by_label("Version", exact=True).fill("1.1")
    dialog.get_by_label("File", exact=True).set_input_files(str(image))
    dialog.get_by_label("Checksum algorithm").select_option("SHA256")
    dialog.get_by_label("Checksum", exact=True).fill(hashlib.sha256(image.read_bytes()).hexdigest())
    dialog.get_by_role("button", name="Upload").click()
    expect(dialog).to_be_hidden()
    row = page.locator("tbody tr", has_text=title)
    expect(row).to_contain_text("firmware.bin")
    expect(row).to_contain_text("1.0 MB")
    packages = api.http.get("/api/otaPackages", params={"pageSize": 100, "page": 0}).json()
    package = next(p for p in packages["data"] if p["title"] == title)
    assert package["hasData"] and package["dataSize"] == 1048576

    row.get_by_role("button", name=f"Assign {title} 1.1 to a device").click()
    assign = page.get_by_role("dialog", name=f"Assign {title} 1.1 to a device")
    assign.get_by_label("Device").select_option(label=device["name"])
    assign.get_by_role("button", name="Assign").click()
    expect(page.get_by_text(f"Assigned to {device['name']}")).to_be_visible()
    saved = api.http.get(f"/api/device/{device['id']['id']}").json()
    assert saved["firmwareId"]["id"] == package["id"]["id"]


def test_phone_width_layout(browser: Browser, console: Console, api: Api) -> None:
    device, _ = api.create_device()
    page = browser.new_page(console, viewport={"width": 390, "height": 844})
    try:
        log_in(page)
        nav_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers")
        expect(nav_link).not_to_be_in_viewport()
        menu = page.get_by_role("button", name="Menu")
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(nav_link).to_be_in_viewport()
        nav_link.click()
        expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
        expect(nav_link).not_to_be_in_viewport()
        open_device(page, device["id"]["id"])
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
    finally:
        page.context.close()


def test_tabs_work_with_the_keyboard(page: Any, api: Api) -> None:
    device, _ = api.create_device()
    log_in(page)
    open_device(page, device["id"]["id"])
    details = page.get_by_role("tab", name="Details")
    expect(details).to_have_attribute("aria-selected", "true")
    details.focus()
    page.keyboard.press("ArrowRight")
    attributes = page.get_by_role("tab", name="Attributes")
    expect(attributes).to_have_attribute("aria-selected", "true")
    expect(attributes).to_be_focused()
    expect(page.get_by_role("tabpanel", name="Attributes")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="RPC")).to_have_attribute("aria-selected", "true")
    # A dialog opened from the keyboard takes focus and Escape closes it.
    page.get_by_role("button", name="Manage credentials").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Device credentials")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
