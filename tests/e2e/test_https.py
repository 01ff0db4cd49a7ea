"""HTTPS from ThingsBoard's SSL_* variables, on a live server, with certificates made here (and
JKS keystores made by Java's keytool)."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.api_client import Api
from tests.certs import Issued, java_keystore_bytes, make_ca, pkcs12_bytes
from tests.live import LiveServer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Issued, Issued]:
    """A root CA (written to ca.pem) and a server certificate for localhost / 127.0.0.1."""
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    server = ca.issue("thingport test server")
    (folder / "ca.pem").write_bytes(ca.cert_pem())
    return folder, ca, server


def client_context(folder: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(folder / "ca.pem"))


def https_server(folder: Path, data: Path, env: dict[str, str]) -> LiveServer:
    live = LiveServer(data, env={"SSL_ENABLED": "true", **env}, scheme="https")
    return live.start(verify=client_context(folder))


def exercise(live: LiveServer, folder: Path) -> None:
    """A device sends telemetry over HTTPS and it reads back through the REST API."""
    api = Api(live.url, verify=client_context(folder)).login()
    device, token = api.create_device()
    assert api.post_telemetry(token, {"secure": 1}).status_code == 200
    assert api.latest(device["id"]["id"])["secure"][0]["value"] == "1"
    with pytest.raises(httpx.ConnectError):  # nobody trusts it without the CA
        httpx.get(f"{live.url}/api/noauth/health")


def test_pem_certificate_and_key(pki: tuple[Path, Issued, Issued], tmp_path: Path) -> None:
    folder, _, server = pki
    (tmp_path / "server.pem").write_bytes(server.chain_pem())
    (tmp_path / "server_key.pem").write_bytes(server.key_pem())
    live = https_server(folder, tmp_path / "data", {
        "SSL_PEM_CERT": str(tmp_path / "server.pem"),
        "SSL_PEM_KEY": str(tmp_path / "server_key.pem"),
    })
    try:
        exercise(live, folder)
        if shutil.which("curl"):  # as ThingsBoard's docs check it
            _, token = Api(live.url, verify=client_context(folder)).login().create_device()
            done = subprocess.run(
                ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                 str(folder / "ca.pem"), "-X", "POST", "-d", "{temperature:25}",
                 f"https://localhost:{live.port}/api/v1/{token}/telemetry"],
                capture_output=True, text=True, timeout=30,
            )
            assert done.stdout == "200", done.stderr
    finally:
        live.stop()


def test_encrypted_key_in_the_certificate_file(
    pki: tuple[Path, Issued, Issued], tmp_path: Path
) -> None:
    folder, _, server = pki
    (tmp_path / "both.pem").write_bytes(server.chain_pem() + server.key_pem(b"s3cret"))
    live = https_server(folder, tmp_path / "data", {
        "SSL_PEM_CERT": str(tmp_path / "both.pem"),
        "SSL_PEM_KEY": str(tmp_path / "absent.pem"),
        "SSL_PEM_KEY_PASSWORD": "s3cret",
    })
    try:
        exercise(live, folder)
    finally:
        live.stop()


def test_pkcs12_keystore(pki: tuple[Path, Issued, Issued], tmp_path: Path) -> None:
    folder, _, server = pki
    (tmp_path / "keystore.p12").write_bytes(pkcs12_bytes("tomcat", server, b"storepass"))
    live = https_server(folder, tmp_path / "data", {
        "SSL_CREDENTIALS_TYPE": "KEYSTORE",
        "SSL_KEY_STORE": str(tmp_path / "keystore.p12"),
        "SSL_KEY_STORE_PASSWORD": "storepass",
        "SSL_KEY_PASSWORD": "storepass",
        "SSL_KEY_ALIAS": "tomcat",
    })
    try:
        exercise(live, folder)
    finally:
        live.stop()


def test_jks_keystore(pki: tuple[Path, Issued, Issued], tmp_path: Path) -> None:
    # Written by Java's keytool, with a key password of its own as ThingsBoard allows.
    folder, _, server = pki
    data = java_keystore_bytes([("tomcat", server, "keypass")], "storepass")
    (tmp_path / "keystore.jks").write_bytes(data)
    live = https_server(folder, tmp_path / "data", {
        "SSL_CREDENTIALS_TYPE": "KEYSTORE",
        "SSL_KEY_STORE": str(tmp_path / "keystore.jks"),
        "SSL_KEY_STORE_TYPE": "JKS",
        "SSL_KEY_STORE_PASSWORD": "storepass",
        "SSL_KEY_PASSWORD": "keypass",
        "SSL_KEY_ALIAS": "tomcat",
    })
    try:
        exercise(live, folder)
    finally:
        live.stop()


def start_failure(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``thingport serve`` expecting it to refuse to start."""
    full = {**os.environ, "THINGPORT_DATA_DIR": str(tmp_path / "data"), "SSL_ENABLED": "true",
            "HTTP_BIND_ADDRESS": "127.0.0.1", "HTTP_BIND_PORT": "0", **env}
    return subprocess.run([sys.executable, "-m", "thingport", "serve"], env=full,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(("case", "variable"), [
    ("missing certificate", "SSL_PEM_CERT"),
    ("wrong key password", "SSL_PEM_KEY_PASSWORD"),
    ("key of another certificate", "SSL_PEM_KEY"),
    ("wrong keystore password", "SSL_KEY_STORE_PASSWORD"),
    ("wrong key password in the keystore", "SSL_KEY_PASSWORD"),
    ("wrong key password in the JKS keystore", "SSL_KEY_PASSWORD"),
    ("encrypted key, no password set", "SSL_PEM_KEY_PASSWORD"),
    ("bad credentials type", "SSL_CREDENTIALS_TYPE"),
])
def test_bad_configuration_stops_the_server_with_one_line(
    pki: tuple[Path, Issued, Issued], tmp_path: Path, case: str, variable: str
) -> None:
    _, ca, server = pki
    (tmp_path / "server.pem").write_bytes(server.chain_pem())
    (tmp_path / "plain.pem").write_bytes(server.key_pem())
    (tmp_path / "locked.pem").write_bytes(server.key_pem(b"right"))
    (tmp_path / "other.pem").write_bytes(ca.issue("other").key_pem())
    (tmp_path / "keystore.p12").write_bytes(pkcs12_bytes("tomcat", server, b"right"))
    if "JKS" in case:
        (tmp_path / "keystore.jks").write_bytes(java_keystore_bytes([("tomcat", server, "right!")],
                                                                    "right!"))
    env = {
        "missing certificate": {"SSL_PEM_CERT": str(tmp_path / "nope.pem")},
        "wrong key password": {"SSL_PEM_CERT": str(tmp_path / "server.pem"),
                               "SSL_PEM_KEY": str(tmp_path / "locked.pem"),
                               "SSL_PEM_KEY_PASSWORD": "wrong"},
        "key of another certificate": {"SSL_PEM_CERT": str(tmp_path / "server.pem"),
                                       "SSL_PEM_KEY": str(tmp_path / "other.pem")},
        "wrong keystore password": {"SSL_CREDENTIALS_TYPE": "KEYSTORE",
                                    "SSL_KEY_STORE": str(tmp_path / "keystore.p12"),
                                    "SSL_KEY_STORE_PASSWORD": "wrong"},
        "wrong key password in the keystore": {"SSL_CREDENTIALS_TYPE": "KEYSTORE",
                                               "SSL_KEY_STORE": str(tmp_path / "keystore.p12"),
                                               "SSL_KEY_STORE_PASSWORD": "right",
                                               "SSL_KEY_PASSWORD": "wrong"},
        "wrong key password in the JKS keystore": {"SSL_CREDENTIALS_TYPE": "KEYSTORE",
                                                   "SSL_KEY_STORE": str(tmp_path / "keystore.jks"),
                                                   "SSL_KEY_STORE_TYPE": "JKS",
                                                   "SSL_KEY_STORE_PASSWORD": "right!",
                                                   "SSL_KEY_PASSWORD": "wrong!"},
        "encrypted key, no password set": {"SSL_PEM_CERT": str(tmp_path / "server.pem"),
                                           "SSL_PEM_KEY": str(tmp_path / "locked.pem")},
        "bad credentials type": {"SSL_CREDENTIALS_TYPE": "DER"},
    }[case]
    done = start_failure(tmp_path, env)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"thingport: {variable}: "), lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    if case == "encrypted key, no password set":
        # None was given, so it is not "wrong": the message says what to set.
        assert "wrong password" not in lines[0] and "set SSL_PEM_KEY_PASSWORD" in lines[0]
