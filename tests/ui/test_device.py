"""A tenant administrator's device flows in the browser, checked against the device API."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import httpx
import pytest

from tests.api_client import Api
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, Browser, Console, log_in, open_device

expect = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[ui]'").expect


class DeviceThread(threading.Thread):
    """A device long-polling in the background; `result` is what its poll answered."""

    def __init__(self, poll: Any) -> None:
        super().__init__(daemon=True)
        self.poll = poll
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.poll()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def outcome(self) -> Any:
        self.join(30)
        assert not self.is_alive(), "the device's poll never answered"
        if self.error:
            raise self.error
        return self.result


def test_add_device_copy_token_and_see_its_telemetry_live(page: Any, api: Api) -> None:
    log_in(page)
    page.get_by_role("button", name="Add device").click()
    dialog = page.get_by_role("dialog", name="Add device")
    name = f"ui-thermostat-{time.time_ns()}"
    dialog.get_by_label("Name", exact=True).fill(name)
    dialog.get_by_label("Label").fill("kitchen")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("link", name=name).click()

    page.get_by_role("button", name="Copy access token").click()
    expect(page.get_by_text("Access token copied to the clipboard")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    device_id = page.url.rsplit("/", 1)[1].split("?")[0]
    credentials = api.http.get(f"/api/device/{device_id}/credentials").json()
    assert copied == credentials["credentialsId"]

    page.get_by_role("tab", name="Latest telemetry", exact=True).click()
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("No telemetry yet")).to_be_visible()
    assert api.post_telemetry(copied, {"temperature": 25.5, "status": "on"}).status_code == 200
    row = panel.locator("tr", has_text="temperature")
    expect(row).to_contain_text("25.5")
    assert api.post_telemetry(copied, {"temperature": 26.5}).status_code == 200
    expect(row).to_contain_text("26.5")
    expect(panel.locator("tr", has_text="status")).to_contain_text("on")
    assert page.url.endswith("?tab=telemetry"), "no reload: the address changed in place"


def test_shared_attribute_reaches_a_polling_device(page: Any, api: Api) -> None:
    device, token = api.create_device()
    poll = DeviceThread(lambda: api.device_get(token, "attributes/updates",
                                               params={"timeout": 20000}).json())
    poll.start()
    log_in(page)
    open_device(page, device["id"]["id"], "Attributes")
    page.get_by_label("Attributes scope").select_option("SHARED_SCOPE")
    page.get_by_role("button", name="Add attribute").click()
    dialog = page.get_by_role("dialog", name="Add attribute")
    dialog.get_by_label("Key").fill("targetTemp")
    dialog.get_by_label("Value type").select_option("integer")
    dialog.get_by_label("Value", exact=True).fill("22")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog).to_be_hidden()
    assert poll.outcome() == {"targetTemp": 22}
    expect(page.get_by_role("tabpanel").locator("tr", has_text="targetTemp")).to_contain_text("22")

    # Edit it, then delete it: the REST API has the change.
    page.get_by_role("button", name="Edit targetTemp").click()
    edit = page.get_by_role("dialog", name="Edit attribute targetTemp")
    edit.get_by_label("Value", exact=True).fill("23")
    edit.get_by_role("button", name="Update").click()
    expect(page.get_by_role("tabpanel").locator("tr", has_text="targetTemp")).to_contain_text("23")
    page.get_by_role("button", name="Delete targetTemp").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No attributes in this scope.")).to_be_visible()
    assert api.attributes(device["id"]["id"], "SHARED_SCOPE") == []


def test_client_attributes_update_live(page: Any, api: Api) -> None:
    device, token = api.create_device()
    log_in(page)
    open_device(page, device["id"]["id"], "Attributes")
    expect(page.get_by_text("No attributes in this scope.")).to_be_visible()
    assert api.post_attributes(token, {"firmwareVersion": "1.2.3"}).status_code == 200
    expect(page.get_by_role("tabpanel").locator("tr", has_text="firmwareVersion")
           ).to_contain_text("1.2.3")


def test_two_way_rpc_shows_the_device_reply(page: Any, api: Api) -> None:
    device, token = api.create_device()

    def device_loop() -> Any:
        command = api.device_get(token, "rpc", params={"timeout": 20000}).json()
        reply = {"echo": command["params"], "method": command["method"]}
        api.device_post(token, f"rpc/{command['id']}", reply).raise_for_status()
        return command

    poll = DeviceThread(device_loop)
    poll.start()
    log_in(page)
    open_device(page, device["id"]["id"], "RPC")
    page.get_by_label("Method", exact=True).fill("setGpio")
    page.get_by_label("Params (JSON)").fill('{"pin": 7, "value": 1}')
    page.get_by_role("button", name="Send RPC").click()
    reply = page.get_by_label("RPC reply")
    expect(reply).to_contain_text('"method": "setGpio"')
    assert json.loads(reply.inner_text()) == {"echo": {"pin": 7, "value": 1}, "method": "setGpio"}
    assert poll.outcome()["method"] == "setGpio"
    history = page.get_by_role("region", name="RPC history")
    expect(history.locator("tbody tr", has_text="setGpio")).to_contain_text("SUCCESSFUL")


def test_manage_credentials_changes_the_token(page: Any, api: Api) -> None:
    device, old_token = api.create_device()
    log_in(page)
    open_device(page, device["id"]["id"])
    page.get_by_role("button", name="Manage credentials").click()
    dialog = page.get_by_role("dialog", name="Device credentials")
    token_field = dialog.get_by_label("Access token")
    expect(token_field).to_have_value(old_token)
    dialog.get_by_role("button", name="Generate").click()
    generated = token_field.input_value()
    assert re.fullmatch(r"[A-Za-z0-9]{20}", generated) and generated != old_token
    new_token = f"ui-token-{time.time_ns()}"
    token_field.fill(new_token)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Credentials saved")).to_be_visible()
    assert api.post_telemetry(old_token, {"t": 1}).status_code == 401
    assert api.post_telemetry(new_token, {"t": 1}).status_code == 200
    # The copy button now copies the new token.
    page.get_by_role("button", name="Copy access token").click()
    expect(page.get_by_text("Access token copied to the clipboard")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == new_token


def test_check_connectivity_command_works_when_run(page: Any, api: Api) -> None:
    device, token = api.create_device()
    api.post_telemetry(token, {"humidity": 40})  # old data: not shown as arriving
    log_in(page)
    open_device(page, device["id"]["id"])
    page.get_by_role("button", name="Check connectivity").click()
    dialog = page.get_by_role("dialog", name=re.compile("Check connectivity"))
    command = dialog.get_by_label("HTTP command").inner_text()
    assert token in command and api.base_url in command
    dialog.get_by_role("button", name="Copy HTTP command").click()
    assert page.evaluate("navigator.clipboard.readText()") == command
    expect(dialog.get_by_text("Waiting for telemetry…")).to_be_visible()
    # What the pasted command does: POST {temperature:25} (lenient JSON) to the URL in it.
    url = re.search(r"'?(http://\S+/telemetry)'?", command).group(1)  # type: ignore[union-attr]
    assert httpx.post(url, content=b"{temperature:25}").status_code == 200
    live = dialog.get_by_role("region", name="Live telemetry")
    expect(live.locator("tr", has_text="temperature")).to_contain_text("25")
    expect(live.locator("tr", has_text="humidity")).to_have_count(0)
    expect(live.get_by_text("Active", exact=True)).to_be_visible()


def test_chart_of_a_numeric_key(page: Any, api: Api) -> None:
    device, token = api.create_device()
    now = int(time.time() * 1000)
    points = [{"ts": now - i * 60000, "values": {"temperature": 20 + i % 5, "mode": "eco"}}
              for i in range(30)]
    assert api.post_telemetry(token, points).status_code == 200
    log_in(page)
    open_device(page, device["id"]["id"], "Chart")
    expect(page.get_by_label("Key")).to_have_value("temperature")
    expect(page.get_by_role("img", name=re.compile("Chart of temperature"))).to_be_visible()
    expect(page.get_by_text("30 points. Raw values.")).to_be_visible()
    assert page.locator(".chart canvas").count() == 1
    page.get_by_label("Time range").select_option(label="Last 7 days")
    expect(page.get_by_text(re.compile(r"average per 30 min, computed by the server"))
           ).to_be_visible()


# A WebSocket that never connects, as behind a proxy that drops the Upgrade headers.
BLOCKED_WEBSOCKET = """
window.WebSocket = class extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0;
    setTimeout(() => {
      this.readyState = 3;
      this.dispatchEvent(new Event("error"));
      this.dispatchEvent(new CloseEvent("close", { code: 1006 }));
    }, 50);
  }
  send() { throw new Error("not open"); }
  close() {}
};
"""


def test_blocked_websocket_falls_back_to_polling(browser: Browser, console: Console,
                                                 api: Api) -> None:
    device, token = api.create_device()
    page = browser.new_page(console, init_script=BLOCKED_WEBSOCKET)
    try:
        log_in(page)
        open_device(page, device["id"]["id"], "Latest telemetry")
        expect(page.get_by_text("Live updates unavailable.")).to_be_visible()
        assert api.post_telemetry(token, {"pressure": 1013}).status_code == 200
        expect(page.get_by_role("tabpanel").locator("tr", has_text="pressure")
               ).to_contain_text("1013")
    finally:
        page.context.close()


def test_copy_falls_back_to_exec_command_on_plain_http(browser: Browser, console: Console,
                                                       api: Api) -> None:
    """On plain HTTP from a host other than localhost there is no Clipboard API (not a secure
    context): the button copies with a hidden textarea and execCommand instead."""
    device, token = api.create_device()
    port = browser.server.port
    other = browser.playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--host-resolver-rules=MAP devbox.test 127.0.0.1"])
    try:
        page = Browser(other, browser.server, browser.playwright).new_page(
            console, base_url=f"http://devbox.test:{port}")
        log_in(page)
        assert page.evaluate("window.isSecureContext") is False
        assert page.evaluate("navigator.clipboard === undefined")
        open_device(page, device["id"]["id"])
        page.get_by_role("button", name="Copy access token").click()
        expect(page.get_by_text("Access token copied to the clipboard")).to_be_visible()
        # The clipboard is the browser's: read it back from a secure page.
        reader = page.context.new_page()
        reader.goto(f"http://127.0.0.1:{port}/login")
        assert reader.evaluate("navigator.clipboard.readText()") == token
    finally:
        other.close()
