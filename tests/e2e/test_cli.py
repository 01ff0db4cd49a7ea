"""The ``thingport`` command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.api_client import Api
from tests.live import LiveServer
from thingport.settings import SETTINGS


def thingport(data: Path, *args: str, input: str | None = None) -> str:
    env = {**os.environ, "THINGPORT_DATA_DIR": str(data),
           "THINGPORT_TENANT_ADMIN_PASSWORD": "tenant-pass"}
    done = subprocess.run([sys.executable, "-m", "thingport", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_device_commands_share_the_store_with_a_running_server(
    fresh_server: LiveServer,
) -> None:
    fresh_server.start()
    data = fresh_server.data_dir
    token = thingport(data, "device", "create", "thermostat-1").strip()
    assert len(token) == 20 and token.isalnum()
    assert thingport(data, "device", "create", "lamp", "--token", "lamp-token").strip() \
        == "lamp-token"
    assert thingport(data, "device", "token", "thermostat-1").strip() == token
    rows = [line.split("\t") for line in thingport(data, "device", "list").splitlines()]
    assert [(r[0], r[3]) for r in rows] == [("lamp", "lamp-token"), ("thermostat-1", token)]
    api = Api(fresh_server.url).login()
    assert api.post_telemetry(token, {"temperature": 25}).status_code == 200


def test_first_use_prints_generated_passwords_once(tmp_path: Path) -> None:
    env = {**os.environ, "THINGPORT_DATA_DIR": str(tmp_path)}
    env.pop("THINGPORT_TENANT_ADMIN_PASSWORD", None)
    env.pop("THINGPORT_SYSADMIN_PASSWORD", None)
    first = subprocess.run([sys.executable, "-m", "thingport", "tenant", "list"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert "tenant@thingsboard.org  password: " in first.stderr
    assert "password" not in first.stdout
    again = subprocess.run([sys.executable, "-m", "thingport", "tenant", "list"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert "password" not in again.stdout + again.stderr
    assert again.stdout.strip().startswith("Tenant\t")


def test_tenants_and_users(tmp_path: Path, fresh_server: LiveServer) -> None:
    data = fresh_server.data_dir
    tenant_id = thingport(data, "tenant", "create", "Acme").strip()
    assert "Acme\t" + tenant_id in thingport(data, "tenant", "list")
    thingport(data, "user", "create", "ops@acme.example", "--password", "acme-pass",
              "--tenant", "Acme")
    thingport(data, "device", "create", "acme-1", "--tenant", "Acme")
    fresh_server.start()
    acme = Api(fresh_server.url).login("ops@acme.example", "acme-pass")
    names = [d["name"] for d in acme.http.get(
        "/api/tenant/devices", params={"pageSize": 10, "page": 0}).json()["data"]]
    assert names == ["acme-1"]


def test_serve_help_lists_every_setting_with_its_variable(tmp_path: Path) -> None:
    text = thingport(tmp_path, "serve", "--help")
    for setting in SETTINGS:
        assert setting.env in text, setting.env


def test_a_bad_setting_stops_serve_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "THINGPORT_DATA_DIR": str(tmp_path), "HTTP_BIND_PORT": "eighty"}
    done = subprocess.run([sys.executable, "-m", "thingport", "serve"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip() == "thingport: HTTP_BIND_PORT: must be a port number " \
        "(0-65535), got 'eighty'"


def test_version_and_a_mistyped_command(tmp_path: Path) -> None:
    version = subprocess.run([sys.executable, "-m", "thingport", "--version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "0.1.0" in version.stdout
    typo = subprocess.run([sys.executable, "-m", "thingport", "devcie", "list"],
                          env={**os.environ, "THINGPORT_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=60)
    assert typo.returncode == 2 and "No such command 'devcie'" in typo.stderr
    assert not (tmp_path / "data").exists()  # nothing was served, nothing created
