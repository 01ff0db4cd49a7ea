"""The ``thingport`` command line, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api_client import Api
from tests.live import SYSADMIN, TENANT_ADMIN, LiveServer
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
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("Tenant", "lamp", "lamp-token"), ("Tenant", "thermostat-1", token)
    ]
    api = Api(fresh_server.url).login()
    assert api.post_telemetry(token, {"temperature": 25}).status_code == 200
    # The server holds the store's lock, so these commands ran in the server itself: a
    # failure comes back as its message, and the server goes on.
    refused = run(data, "device", "create", "lamp")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "thingport: Device with such name already exists!"
    assert api.post_telemetry("lamp-token", {"on": True}).status_code == 200


def run(data: Path | None, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("THINGPORT_DATA_DIR", None)
    if data is not None:
        env["THINGPORT_DATA_DIR"] = str(data)
    return subprocess.run([sys.executable, "-m", "thingport", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_only_serve_creates_a_store(tmp_path: Path) -> None:
    for command in (["device", "list"], ["device", "create", "x"], ["tenant", "create", "T"],
                    ["user", "create", "a@b.c", "--password", "long-enough-1"]):
        done = run(None, *command, cwd=tmp_path)
        assert done.returncode != 0, command
        assert done.stderr.strip() == (
            f"thingport: there is no store at {tmp_path}/thingport-data/thingport.db (in the "
            f"data directory './thingport-data', from {tmp_path}); only `thingport serve` "
            "creates one: run this command where the server runs, or give --data-dir "
            "(THINGPORT_DATA_DIR) of its store"
        )
        assert list(tmp_path.iterdir()) == [], command


def test_a_second_server_on_the_same_store_refuses_to_start(fresh_server: LiveServer) -> None:
    fresh_server.start()
    assert fresh_server.process is not None
    second = LiveServer(fresh_server.data_dir)
    done = subprocess.run([sys.executable, "-m", "thingport", "serve"], env=second.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"thingport: the store {fresh_server.data_dir}/thingport.db is in use by process "
        f"{fresh_server.process.pid} (thingport serve); stop it first, or give this one "
        "another THINGPORT_DATA_DIR"
    )
    fresh_server.stop()
    second.start()  # the lock went with the first server
    second.stop()


def test_first_start_prints_generated_passwords_once(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, env={"THINGPORT_TENANT_ADMIN_PASSWORD": "",
                                       "THINGPORT_SYSADMIN_PASSWORD": ""})
    server.start()
    server.stop()
    assert "tenant@thingsboard.org  password: " in server.log()
    server.log_path.unlink()
    server.start()
    server.stop()
    assert "password" not in server.log()


def test_tenants_and_users(tmp_path: Path, fresh_server: LiveServer) -> None:
    data = fresh_server.data_dir
    fresh_server.start()
    fresh_server.stop()
    # With no server running, the commands open the store themselves.
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


def test_a_locked_out_administrator_is_let_back_in_from_the_command_line(
    fresh_server: LiveServer,
) -> None:
    fresh_server.start()
    data = fresh_server.data_dir
    sysadmin = Api(fresh_server.url).login(*SYSADMIN)
    settings = sysadmin.http.get("/api/admin/securitySettings").json()
    settings["maxFailedLoginAttempts"] = 2
    assert sysadmin.http.post("/api/admin/securitySettings", json=settings).status_code == 200
    login = {"username": TENANT_ADMIN[0], "password": "wrong"}
    statuses = [httpx.post(fresh_server.url + "/api/auth/login", json=login).status_code
                for _ in range(3)]
    assert statuses == [401, 401, 401]
    locked = httpx.post(fresh_server.url + "/api/auth/login",
                        json={"username": TENANT_ADMIN[0], "password": TENANT_ADMIN[1]})
    assert locked.json()["message"] == "User account is locked due to security policy"

    assert thingport(data, "user", "unlock", TENANT_ADMIN[0]).strip() == \
        f"{TENANT_ADMIN[0]} is unlocked"
    Api(fresh_server.url).login()

    short = run(data, "user", "password", TENANT_ADMIN[0], "--password", "abc")
    assert short.returncode == 2
    assert "Password must be 6 or more characters in length." in short.stderr
    thingport(data, "user", "password", TENANT_ADMIN[0], "--password", "a-new-password")
    Api(fresh_server.url).login(TENANT_ADMIN[0], "a-new-password")
    missing = run(data, "user", "unlock", "nobody@example.com")
    assert missing.returncode == 2 and "nobody@example.com" in missing.stderr
