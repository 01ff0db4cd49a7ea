"""Take the screenshots of the web UI shown in the README: ``python docs/screenshots.py``.

Starts a thingport server with a data directory of its own, fills it with sample devices,
telemetry, profiles, customers and an OTA package through the public APIs, then photographs
the main pages in Debian's Chromium (Playwright) into ``docs/screenshots/*.png``.
"""

from __future__ import annotations

import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from tests.api_client import Api  # noqa: E402
from tests.live import TENANT_ADMIN, LiveServer  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
MINUTE_MS = 60000


def sample_data(api: Api) -> dict[str, Any]:
    """Devices with a day of telemetry, a provisioning profile, customers, an OTA package."""
    profile = api.http.post("/api/deviceProfile", json={
        "name": "thermostats", "description": "Room thermostats",
        "provisionType": "ALLOW_CREATE_NEW_DEVICES", "provisionDeviceKey": "thermostats-key",
        "profileData": {"provisionConfiguration": {"provisionDeviceSecret": "thermostats-secret"}},
    }).json()
    api.http.post("/api/deviceProfile", json={"name": "gateways", "description": "Edge gateways"})
    acme = api.http.post("/api/customer", json={"title": "Acme Buildings",
                                                "email": "ops@acme.example"}).json()
    api.http.post("/api/customer", json={"title": "Northwind Farms",
                                         "email": "it@northwind.example"})
    devices: dict[str, tuple[dict[str, Any], str]] = {}
    for name, label in [("boiler-room", "Basement"), ("greenhouse-2", "Greenhouse"),
                        ("office-3f", "Third floor"), ("warehouse-east", "Dock 4"),
                        ("lobby", "Entrance")]:
        device, token = api.create_device(name)
        device.update(label=label, deviceProfileId=profile["id"])
        api.http.post("/api/device", json=device).raise_for_status()
        devices[name] = (device, token)
    api.http.post(f"/api/customer/{acme['id']['id']}/device/"
                  f"{devices['office-3f'][0]['id']['id']}").raise_for_status()

    now = int(time.time() * 1000)
    _, token = devices["boiler-room"]
    history = [{"ts": now - i * 5 * MINUTE_MS,
                "values": {"temperature": round(21 + 3 * math.sin(i / 18) + (i % 7) / 10, 2),
                           "humidity": 40 + i % 9}} for i in range(288)]
    api.post_telemetry(token, history).raise_for_status()
    api.post_telemetry(token, {"temperature": 22.4, "humidity": 43, "pump": "on",
                               "fw_state": "UPDATED"}).raise_for_status()
    api.post_attributes(token, {"firmwareVersion": "1.4.2", "model": "TX-300"}).raise_for_status()
    for name in ("greenhouse-2", "lobby"):
        api.post_telemetry(devices[name][1], {"temperature": 18.5}).raise_for_status()

    package = api.create_ota_package(profile["id"]["id"], title="thermostat-fw", version="1.4.2")
    api.upload_ota(package["id"]["id"], b"\x7fELF" + bytes(200_000)).raise_for_status()
    return {"devices": devices}


def answer_rpc(api: Api, token: str) -> threading.Thread:
    """A device that answers one RPC, so the RPC history has a reply to show."""
    def run() -> None:
        command = api.device_get(token, "rpc", params={"timeout": 20000})
        if command.status_code == 200:
            body = command.json()
            api.device_post(token, f"rpc/{body['id']}", {"pin": 7, "value": 1})
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def shoot(page: Page, name: str) -> None:
    page.wait_for_timeout(400)  # let fonts settle and the toast fade in
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"docs/screenshots/{name}.png")


def take(server: LiveServer, data: dict[str, Any], api: Api) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=server.url,
                                      viewport={"width": 1360, "height": 860},
                                      permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(TENANT_ADMIN[0])
        shoot(page, "login")
        page.get_by_label("Password").fill(TENANT_ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("link", name="boiler-room")).to_be_visible()
        shoot(page, "devices")

        device, token = data["devices"]["boiler-room"]
        device_id = device["id"]["id"]
        page.goto(f"/devices/{device_id}?tab=telemetry")
        expect(page.get_by_role("tabpanel").locator("tr", has_text="pump")).to_be_visible()
        api.post_telemetry(token, {"temperature": 22.9})
        expect(page.get_by_role("tabpanel").locator("tr", has_text="temperature")
               ).to_contain_text("22.9")
        shoot(page, "device-latest-telemetry")

        page.get_by_role("tab", name="Chart").click()
        page.get_by_label("Key").select_option("temperature")
        page.get_by_label("Time range").select_option(label="Last day")
        page.get_by_label("Aggregation").select_option("AVG")
        expect(page.get_by_text("computed by the server")).to_be_visible()
        shoot(page, "device-chart")

        page.get_by_role("tab", name="RPC").click()
        answer_rpc(api, token)
        page.get_by_label("Method", exact=True).fill("setGpio")
        page.get_by_label("Params (JSON)").fill('{"pin": 7, "value": 1}')
        page.get_by_role("button", name="Send RPC").click()
        expect(page.get_by_label("RPC reply")).to_be_visible()
        shoot(page, "device-rpc")

        page.get_by_role("button", name="Check connectivity").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_label("HTTP command")).to_be_visible()
        api.post_telemetry(token, {"temperature": 25})
        live = dialog.get_by_role("region", name="Live telemetry")
        expect(live.locator("tr", has_text="temperature")).to_be_visible()
        shoot(page, "check-connectivity")
        page.keyboard.press("Escape")

        for path, name, ready in [("/profiles", "device-profiles", "thermostats"),
                                  ("/customers", "customers", "Acme Buildings"),
                                  ("/ota", "ota-updates", "thermostat-fw")]:
            page.goto(path)
            expect(page.get_by_role("cell", name=ready, exact=True).first).to_be_visible()
            shoot(page, name)

        phone = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 780},
                                    device_scale_factor=2)
        small = phone.new_page()
        small.goto("/login")
        small.get_by_label("Email").fill(TENANT_ADMIN[0])
        small.get_by_label("Password").fill(TENANT_ADMIN[1])
        small.get_by_role("button", name="Log in").click()
        expect(small.get_by_role("link", name="boiler-room")).to_be_visible()
        shoot(small, "devices-phone")
        browser.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="thingport-screenshots-") as tmp:
        server = LiveServer(Path(tmp)).start()
        try:
            api = Api(server.url).login()
            take(server, sample_data(api), api)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
