"""thingport.tls: the SSL_* variables, PEM loading, and the errors an operator sees.

Keystores (PKCS#12, JKS) are tested in test_tls_keystores.py.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.tls_check import (
    Pki,
    build,
    config_error,
    der,
    handshake,
    make_pki,
    pem_env,
    write,
)
from thingport.errors import ConfigError
from thingport.settings import TlsConfig
from thingport.tls import build_ssl_context


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


# --------------------------------------------------------------------------- from_env


def test_defaults_are_thingsboards() -> None:
    config = TlsConfig.from_env({})
    assert config == TlsConfig()
    assert config.enabled is False
    assert config.credentials_type == "PEM"
    assert config.pem_cert == "server.pem"
    assert config.pem_key == "server_key.pem"
    # Unset passwords are None; their ThingsBoard defaults are tried when a key needs one.
    assert config.pem_key_password is None
    assert config.key_store == "classpath:keystore/keystore.p12"
    assert config.key_store_type == "PKCS12"
    assert config.key_store_password == "thingsboard"
    assert config.key_alias == "tomcat"
    assert config.key_password is None


def test_from_env_reads_every_variable() -> None:
    env = {
        "SSL_ENABLED": "true",
        "SSL_CREDENTIALS_TYPE": "keystore",
        "SSL_PEM_CERT": "/c.pem",
        "SSL_PEM_KEY": "/k.pem",
        "SSL_PEM_KEY_PASSWORD": "kp",
        "SSL_KEY_STORE": "/s.p12",
        "SSL_KEY_STORE_TYPE": "pkcs12",
        "SSL_KEY_STORE_PASSWORD": "sp",
        "SSL_KEY_ALIAS": "a",
        "SSL_KEY_PASSWORD": "p",
        "HTTP2_ENABLED": "nonsense",  # not ours: ignored
    }
    assert TlsConfig.from_env(env) == TlsConfig(
        enabled=True,
        credentials_type="KEYSTORE",
        pem_cert="/c.pem",
        pem_key="/k.pem",
        pem_key_password="kp",
        key_store="/s.p12",
        key_store_type="PKCS12",
        key_store_password="sp",
        key_alias="a",
        key_password="p",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), (" yes ", True), ("on", True), ("1", True),
     ("false", False), ("Off", False), ("no", False), ("0", False), ("", False)],
)  # fmt: skip
def test_ssl_enabled_accepts_springs_booleans(raw: str, expected: bool) -> None:
    assert TlsConfig.from_env({"SSL_ENABLED": raw}).enabled is expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SSL_ENABLED", "maybe"),
        ("SSL_CREDENTIALS_TYPE", "DER"),
        ("SSL_KEY_STORE_TYPE", "BKS"),
    ],
)
def test_bad_boolean_or_choice_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TlsConfig.from_env({variable: value})
    assert str(caught.value).startswith(f"{variable}: ")
    assert repr(value) in str(caught.value)


def test_repr_hides_passwords() -> None:
    text = repr(TlsConfig(pem_key_password="s1", key_store_password="s2", key_password="s3"))
    assert "s1" not in text and "s2" not in text and "s3" not in text


# --------------------------------------------------------------------------- PEM


def test_pem_pair_handshake_verifies_localhost_and_ip(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    # No SSL_PEM_KEY_PASSWORD: ThingsBoard's default password must not bother an unencrypted key.
    key = write(tmp_path / "server_key.pem", pki.server.key_pem())
    context = build(pem_env(cert, key))
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    for hostname in ("localhost", "127.0.0.1"):
        peer, version = handshake(context, pki.root, hostname)
        assert peer == der(pki.server)
        assert version in ("TLSv1.2", "TLSv1.3")


def test_hostname_not_in_san_is_refused_by_the_client(pki: Pki, tmp_path: Path) -> None:
    # The check above is meaningful only if a wrong name fails.
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key = write(tmp_path / "server_key.pem", pki.server.key_pem())
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(build(pem_env(cert, key)), pki.root, "not-localhost")


def test_key_inside_cert_file_when_key_file_is_missing(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem() + pki.server.key_pem())
    context = build(pem_env(cert, str(tmp_path / "server_key.pem")))
    assert handshake(context, pki.root)[0] == der(pki.server)


def test_key_inside_cert_file_with_empty_pem_key(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.key_pem() + pki.server.chain_pem())
    assert handshake(build(pem_env(cert, "")), pki.root)[0] == der(pki.server)


def test_key_file_wins_over_key_in_cert_file(pki: Pki, tmp_path: Path) -> None:
    # The cert file's key is for "other"; the explicit key file matches the first certificate.
    cert = write(tmp_path / "server.pem", pki.server.chain_pem() + pki.other.key_pem())
    key = write(tmp_path / "server_key.pem", pki.server.key_pem())
    assert handshake(build(pem_env(cert, key)), pki.root)[0] == der(pki.server)


def test_chain_order_in_file_does_not_matter(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.intermediate.cert_pem() + pki.server.cert_pem())
    key = write(tmp_path / "server_key.pem", pki.server.key_pem())
    assert handshake(build(pem_env(cert, key)), pki.root)[0] == der(pki.server)


def test_encrypted_pkcs8_key(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key_pem = pki.server.key_pem(b"s3cret")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in key_pem
    key = write(tmp_path / "server_key.pem", key_pem)
    assert handshake(build(pem_env(cert, key, "s3cret")), pki.root)[0] == der(pki.server)


def test_encrypted_traditional_key(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.rsa_server.chain_pem())
    key_pem = pki.rsa_server.key_pem(b"s3cret", traditional=True)
    assert b"BEGIN RSA PRIVATE KEY" in key_pem and b"Proc-Type: 4,ENCRYPTED" in key_pem
    key = write(tmp_path / "server_key.pem", key_pem)
    assert handshake(build(pem_env(cert, key, "s3cret")), pki.root)[0] == der(pki.rsa_server)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_encrypted_traditional_des3_key_written_by_openssl(pki: Pki, tmp_path: Path) -> None:
    # Old `openssl genrsa -des3` keys use DES-EDE3-CBC, which cryptography never writes.
    plain = write(tmp_path / "plain.pem", pki.rsa_server.key_pem(traditional=True))
    key = str(tmp_path / "server_key.pem")
    subprocess.run(
        ["openssl", "rsa", "-in", plain, "-des3", "-traditional", "-passout", "pass:s3cret",
         "-out", key],
        check=True, capture_output=True,
    )  # fmt: skip
    assert b"DEK-Info: DES-EDE3-CBC" in Path(key).read_bytes()
    cert = write(tmp_path / "server.pem", pki.rsa_server.chain_pem())
    assert handshake(build(pem_env(cert, key, "s3cret")), pki.root)[0] == der(pki.rsa_server)


def test_encrypted_key_inside_cert_file(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem() + pki.server.key_pem(b"pw"))
    context = build(pem_env(cert, str(tmp_path / "absent.pem"), "pw"))
    assert handshake(context, pki.root)[0] == der(pki.server)


def test_key_material_is_not_left_on_disk(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    seen: list[tuple[int, int, bytes]] = []
    original = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: str, *args: object, **kwargs: object) -> None:
        seen.append(
            (
                stat.S_IMODE(os.stat(os.path.dirname(certfile)).st_mode),
                stat.S_IMODE(os.stat(certfile).st_mode),
                Path(certfile).read_bytes(),
            )
        )
        original(self, certfile, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key = write(tmp_path / "server_key.pem", pki.server.key_pem())
    build(pem_env(cert, key))

    [(dir_mode, file_mode, content)] = seen
    assert dir_mode == 0o700 and file_mode == 0o600
    # Even during the load, the key on disk is encrypted with a throwaway password.
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in content
    assert pki.server.key_pem() not in content
    assert list(scratch.iterdir()) == []


# --------------------------------------------------------------------------- PEM errors


def test_missing_cert_file(tmp_path: Path) -> None:
    missing = tmp_path / "server.pem"
    message = config_error(pem_env(str(missing)), "SSL_PEM_CERT")
    assert message == f"SSL_PEM_CERT: file not found: {missing}"


def test_relative_default_cert_path_is_shown_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    message = config_error({"SSL_ENABLED": "true"}, "SSL_PEM_CERT")
    assert message == f"SSL_PEM_CERT: file not found: {tmp_path / 'server.pem'}"


def test_missing_key_file_and_no_key_in_cert(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    missing = tmp_path / "server_key.pem"
    message = config_error(pem_env(cert, str(missing)), "SSL_PEM_KEY")
    assert f"file not found: {missing}" in message


def test_empty_key_setting_and_no_key_in_cert(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    config_error(pem_env(cert, ""), "SSL_PEM_KEY")


@pytest.mark.parametrize("traditional", [False, True], ids=["pkcs8", "traditional"])
def test_wrong_key_password(pki: Pki, tmp_path: Path, traditional: bool) -> None:
    cert = write(tmp_path / "server.pem", pki.rsa_server.chain_pem())
    key = write(
        tmp_path / "server_key.pem", pki.rsa_server.key_pem(b"right", traditional=traditional)
    )
    message = config_error(pem_env(cert, key, "wrong"), "SSL_PEM_KEY_PASSWORD")
    assert message == f"SSL_PEM_KEY_PASSWORD: wrong password for {key}"


def test_encrypted_key_and_no_password_set(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key = write(tmp_path / "server_key.pem", pki.server.key_pem(b"right"))
    message = config_error(pem_env(cert, key), "SSL_PEM_KEY_PASSWORD")
    # Not "wrong password": none was given. The message says what to set.
    assert "wrong password" not in message
    assert message == (
        f"SSL_PEM_KEY_PASSWORD: the private key in {key} is encrypted; set SSL_PEM_KEY_PASSWORD "
        "to its password (ThingsBoard's default 'server_key_password' does not open it)")


def test_encrypted_key_with_thingsboards_default_password(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key = write(tmp_path / "server_key.pem", pki.server.key_pem(b"server_key_password"))
    assert handshake(build(pem_env(cert, key)), pki.root)[0] == der(pki.server)


def test_encrypted_key_with_empty_password(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key = write(tmp_path / "server_key.pem", pki.server.key_pem(b"right"))
    message = config_error(pem_env(cert, key, ""), "SSL_PEM_KEY_PASSWORD")
    assert "encrypted" in message


def test_key_does_not_match_cert(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key = write(tmp_path / "server_key.pem", pki.other.key_pem())
    message = config_error(pem_env(cert, key), "SSL_PEM_KEY")
    assert "the private key does not match the certificate in SSL_PEM_CERT" in message


def test_key_in_cert_file_does_not_match_cert(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem() + pki.other.key_pem())
    message = config_error(pem_env(cert, str(tmp_path / "absent.pem")), "SSL_PEM_CERT")
    assert "does not match" in message


def test_cert_file_without_certificate(tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", b"\x30\x82\x01\x00 not pem")
    message = config_error(pem_env(cert), "SSL_PEM_CERT")
    assert "no PEM certificate" in message


def test_corrupt_certificate(pki: Pki, tmp_path: Path) -> None:
    broken = pki.server.cert_pem().replace(b"\n", b"\n!", 3)
    config_error(pem_env(write(tmp_path / "server.pem", broken)), "SSL_PEM_CERT")


def test_key_file_without_key(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    key = write(tmp_path / "server_key.pem", pki.server.cert_pem())
    message = config_error(pem_env(cert, key), "SSL_PEM_KEY")
    assert "no PEM private key" in message


def test_key_file_is_a_directory(pki: Pki, tmp_path: Path) -> None:
    cert = write(tmp_path / "server.pem", pki.server.chain_pem())
    config_error(pem_env(cert, str(tmp_path)), "SSL_PEM_KEY")


def test_openssl_rejection_becomes_config_error(pki: Pki, tmp_path: Path) -> None:
    # Python's default security level refuses 1024-bit RSA: that ssl.SSLError must not escape.
    weak = pki.intermediate.issue(
        "localhost", key=rsa.generate_private_key(public_exponent=65537, key_size=1024)
    )
    cert = write(tmp_path / "server.pem", weak.chain_pem())
    key = write(tmp_path / "server_key.pem", weak.key_pem())
    message = config_error(pem_env(cert, key), "SSL_PEM_CERT")
    assert "OpenSSL rejected" in message


def test_unknown_credentials_type_in_a_hand_made_config() -> None:
    config = dataclasses.replace(TlsConfig(), credentials_type="DER")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^SSL_CREDENTIALS_TYPE: "):
        build_ssl_context(config)
