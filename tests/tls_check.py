"""What the TLS tests share: a PKI with an intermediate, a TLS handshake, and config errors."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.certs import Issued, make_ca
from thingport.errors import ConfigError
from thingport.settings import TlsConfig
from thingport.tls import build_ssl_context


@dataclasses.dataclass(frozen=True)
class Pki:
    """Root -> intermediate -> servers, so that chains are really needed for verification."""

    root: Issued
    intermediate: Issued
    server: Issued  # EC, issued by the intermediate
    rsa_server: Issued  # RSA, issued by the intermediate
    other: Issued  # a second server, for mismatches and multi-entry keystores


def make_pki() -> Pki:
    """A fresh root, intermediate and servers."""
    root = make_ca("thingport test root")
    intermediate = root.issue("thingport test intermediate", ca=True)
    return Pki(
        root=root,
        intermediate=intermediate,
        server=intermediate.issue("localhost"),
        rsa_server=intermediate.issue("localhost rsa", key_type="rsa"),
        other=intermediate.issue("other.example", names=("other.example",)),
    )


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def pem_env(cert: str, key: str | None = None, password: str | None = None) -> dict[str, str]:
    env = {"SSL_ENABLED": "true", "SSL_PEM_CERT": cert}
    if key is not None:
        env["SSL_PEM_KEY"] = key
    if password is not None:
        env["SSL_PEM_KEY_PASSWORD"] = password
    return env


def build(env: dict[str, str]) -> ssl.SSLContext:
    return build_ssl_context(TlsConfig.from_env(env))


def handshake(
    server_context: ssl.SSLContext, root: Issued, server_hostname: str = "localhost"
) -> tuple[bytes, str]:
    """Serve one TLS connection on 127.0.0.1 and connect trusting only ``root``.

    Returns the certificate the server presented (DER) and the negotiated TLS version. The
    client checks the chain and the hostname, so a successful return proves both.
    """
    client = ssl.create_default_context(cadata=root.cert_pem().decode())
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
    failures: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with server_context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.sendall(b"hello")
            except BaseException as exc:  # reported to the test thread below
                failures.append(exc)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            client.wrap_socket(raw, server_hostname=server_hostname) as tls,
        ):
            assert tls.recv(5) == b"hello"
            peer = tls.getpeercert(binary_form=True)
            version = tls.version()
        thread.join(10)
    assert not failures, failures
    assert peer is not None and version is not None
    return peer, version


def der(issued: Issued) -> bytes:
    """The certificate's DER, as ``getpeercert(binary_form=True)`` gives it."""
    return issued.cert.public_bytes(Encoding.DER)


def config_error(env: dict[str, str], variable: str) -> str:
    """Build from ``env``, expecting a ConfigError about ``variable``; return its message."""
    with pytest.raises(ConfigError) as caught:
        build(env)
    message = str(caught.value)
    assert message.startswith(f"{variable}: "), message
    assert "\n" not in message
    return message


def store_env(path: str, password: str = "thingsboard", **extra: str) -> dict[str, str]:
    return {
        "SSL_ENABLED": "true",
        "SSL_CREDENTIALS_TYPE": "KEYSTORE",
        "SSL_KEY_STORE": path,
        "SSL_KEY_STORE_PASSWORD": password,
        **extra,
    }


