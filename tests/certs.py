"""Certificates made at test time: a CA, intermediates, server certificates, PEM, PKCS#12 and JKS
files.

Typical use::

    ca = make_ca()
    server = ca.issue("localhost", names=("localhost", "127.0.0.1"))
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    (tmp_path / "server.pem").write_bytes(server.chain_pem())
    (tmp_path / "server_key.pem").write_bytes(server.key_pem())

Nothing here touches the code under test, so black-box tests can use it too.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_NAMES",
    "Issued",
    "KeyType",
    "java_keystore_bytes",
    "keytool",
    "make_ca",
    "new_key",
    "pkcs12_bytes",
]

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: Names a local server certificate needs for ``https://localhost`` and ``https://127.0.0.1``.
DEFAULT_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")


def new_key(key_type: KeyType = "ec") -> PrivateKey:
    """A fresh private key: P-256 by default (fast), or RSA 2048."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Issued:
    """A certificate, its private key, and the certificates above it (issuer first, root last)."""

    cert: x509.Certificate
    key: PrivateKey
    issuers: tuple[x509.Certificate, ...] = field(default=())

    @property
    def is_ca(self) -> bool:
        """Whether this certificate may sign others."""
        return self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    def cert_pem(self) -> bytes:
        """This certificate alone, as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self, *, include_root: bool = False) -> bytes:
        """This certificate then its intermediates, as a server sends them; the root on request."""
        chain = [self.cert, *self.issuers]
        if not include_root and self.issuers:
            chain = chain[:-1]
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)

    def key_pem(self, password: bytes | None = None, *, traditional: bool = False) -> bytes:
        """The key as PEM: PKCS#8 by default, or OpenSSL's traditional format.

        With a password, PKCS#8 gives ``BEGIN ENCRYPTED PRIVATE KEY`` and the traditional
        format gives ``Proc-Type: 4,ENCRYPTED`` with a ``DEK-Info`` header.
        """
        fmt = (
            serialization.PrivateFormat.TraditionalOpenSSL
            if traditional
            else serialization.PrivateFormat.PKCS8
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, fmt, encryption)

    def issue(
        self,
        common_name: str,
        *,
        names: Sequence[str] = DEFAULT_NAMES,
        ca: bool = False,
        key_type: KeyType = "ec",
        key: PrivateKey | None = None,
        valid_days: int = 2,
    ) -> Issued:
        """Sign a new certificate with this one's key: a server certificate, or an intermediate CA.

        ``names`` become the subjectAltName (IP addresses are recognised); they are ignored
        for a CA. ``key`` supplies the subject's key (e.g. a deliberately weak one) instead of
        generating one of ``key_type``.
        """
        if not self.is_ca:
            raise ValueError("only a CA certificate can issue certificates")
        if key is None:
            key = new_key(key_type)
        builder = _builder(common_name, key, self.cert.subject, valid_days)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            critical=False,
        )
        if ca:
            builder = _ca_extensions(builder)
        else:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            if names:
                builder = builder.add_extension(
                    x509.SubjectAlternativeName([_general_name(name) for name in names]),
                    critical=False,
                )
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert, key, (self.cert, *self.issuers))


def make_ca(common_name: str = "thingport test CA", *, key_type: KeyType = "ec") -> Issued:
    """A self-signed root CA."""
    key = new_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = _ca_extensions(_builder(common_name, key, name, valid_days=30))
    return Issued(builder.sign(key, hashes.SHA256()), key)


def pkcs12_bytes(alias: str | None, issued: Issued, password: bytes, *,
                 include_chain: bool = True) -> bytes:
    """A PKCS#12 keystore written by ``cryptography``: one key entry and its chain.

    An alias of None gives an entry without a friendly name, as ``openssl pkcs12 -export``
    without ``-name`` does. ``cryptography`` writes one key entry at most: `java_keystore_bytes`
    with ``store_type="PKCS12"`` writes several.
    """
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        alias.encode() if alias is not None else None,
        issued.key,
        issued.cert,
        list(issued.issuers) if include_chain else None,
        encryption,
    )


def keytool() -> str:
    """The path of Java's ``keytool``: the test is skipped without it, except under CI (fails)."""
    path = shutil.which("keytool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("keytool is not installed (CI needs a Java runtime for the JKS tests)")
        pytest.skip("keytool is not installed (a Java runtime: default-jre-headless)")
    return path


def java_keystore_bytes(
    entries: Sequence[tuple[str, Issued, str]],
    store_password: str,
    *,
    trusted: Sequence[tuple[str, Issued]] = (),
    store_type: Literal["JKS", "JCEKS", "PKCS12"] = "JKS",
) -> bytes:
    """A keystore written by Java's ``keytool``: a key entry with its chain per ``(alias, issued,
    key password)``, then a trusted certificate entry per ``(alias, issued)``.

    keytool wants passwords of 6 characters or more, lower-cases aliases, and ignores a PKCS12
    key password that differs from the store password.
    """
    tool = keytool()
    with tempfile.TemporaryDirectory(prefix="thingport-jks-") as folder:
        store = Path(folder) / "keystore"
        for number, (alias, issued, key_password) in enumerate(entries):
            source = Path(folder) / f"entry{number}.p12"
            source.write_bytes(pkcs12_bytes(alias, issued, b"transfer"))
            _keytool(tool, "-importkeystore", "-srckeystore", source, "-srcstoretype", "PKCS12",
                     "-srcstorepass", "transfer", "-srcalias", alias,
                     "-destkeystore", store, "-deststoretype", store_type,
                     "-deststorepass", store_password, "-destkeypass", key_password)
        for number, (alias, issued) in enumerate(trusted):
            pem = Path(folder) / f"trusted{number}.pem"
            pem.write_bytes(issued.cert_pem())
            _keytool(tool, "-importcert", "-alias", alias, "-file", pem, "-keystore", store,
                     "-storetype", store_type, "-storepass", store_password)
        return store.read_bytes()


def _keytool(tool: str, *args: str | Path) -> None:
    done = subprocess.run(
        [tool, *map(str, args), "-noprompt"], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"keytool {args[0]} failed: {done.stdout}{done.stderr}")


# --------------------------------------------------------------------------- internals


def _builder(
    common_name: str, key: PrivateKey, issuer: x509.Name, valid_days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little so that a slow clock elsewhere does not make it "not yet valid".
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _ca_extensions(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=True,
            key_encipherment=False,
            content_commitment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
