"""Device state and the "Check connectivity" command against a live server: the command is run
as a user would paste it, through a shell, with curl."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.api_client import Api
from tests.live import LiveServer

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
#: The shells a user pastes into (bash also expands braces, unlike sh).
SHELLS = [shell for shell in ("/bin/sh", shutil.which("bash")) if shell]


def connectivity(api: Api, device_id: str, **headers: str) -> dict[str, dict[str, str]]:
    response = api.http.get(f"/api/device-connectivity/{device_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@needs_curl
@pytest.mark.parametrize("token", ["plainToken123", "it's $HOME & {a,b} \"q\" `x` ~?#;|"])
def test_the_pasted_command_sends_telemetry(api: Api, token: str) -> None:
    device, _ = api.create_device(accessToken=f"{token}-{uuid.uuid4().hex[:8]}")
    command = connectivity(api, device["id"]["id"])["http"]["http"]
    assert f"{api.base_url}/api/v1/" in command
    for shell in SHELLS:
        cleared = api.http.delete(
            f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/timeseries/delete",
            params={"keys": "temperature", "deleteAllDataForKeys": "true"})
        assert cleared.status_code == 200 and "temperature" not in api.latest(device["id"]["id"])
        done = subprocess.run([shell, "-c", command], capture_output=True, timeout=30,
                              check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert b"< HTTP/1.1 200" in done.stderr
        latest = api.latest(device["id"]["id"])
        assert latest["temperature"][0]["value"] == "25", shell


def test_a_trusted_proxys_https_gives_the_https_command(tmp_path: Path) -> None:
    trusted = LiveServer(tmp_path / "trusted",
                         env={"THINGPORT_TRUSTED_PROXIES": "127.0.0.1"}).start()
    untrusted = LiveServer(tmp_path / "untrusted").start()
    try:
        for live, scheme in ((trusted, "https"), (untrusted, "http")):
            api = Api(live.url).login()
            device, token = api.create_device()
            body = connectivity(api, device["id"]["id"], **{
                "X-Forwarded-Proto": "https", "Host": "iot.example.com:443"})
            shown = "https://iot.example.com" if scheme == "https" \
                else "http://iot.example.com:443"
            assert body == {"http": {scheme: (
                f"curl -v -X POST {shown}/api/v1/{token}/telemetry "
                "--header Content-Type:application/json --data \"{temperature:25}\"")}}
    finally:
        trusted.stop()
        untrusted.stop()


def test_activity_pending_at_shutdown_is_stored(fresh_server: LiveServer) -> None:
    # A flush interval longer than the test: only turning active, and the shutdown, write.
    fresh_server.env["THINGPORT_ACTIVITY_FLUSH_INTERVAL"] = "3600000"
    fresh_server.start()
    api = Api(fresh_server.url).login()
    device, token = api.create_device()
    device_id = device["id"]["id"]
    assert api.post_telemetry(token, {"temperature": 25}).status_code == 200
    deadline = time.monotonic() + 10  # written about a second later
    while not (activated := infos(api)[device_id])["active"]:
        assert time.monotonic() < deadline, "the device did not turn active"
        time.sleep(0.1)
    assert api.post_telemetry(token, {"temperature": 26}).status_code == 200
    fresh_server.stop()  # SIGTERM: the lifespan ends, and writes what is pending
    fresh_server.start()
    stored = infos(Api(fresh_server.url).login())[device_id]
    assert stored["active"] is True
    assert stored["lastActivityTime"] > activated["lastActivityTime"]  # type: ignore[operator]


def infos(api: Api) -> dict[str, dict[str, object]]:
    response = api.http.get("/api/tenant/deviceInfos", params={"pageSize": 100, "page": 0})
    assert response.status_code == 200
    return {row["id"]["id"]: row for row in response.json()["data"]}
