"""The certificate and key material of HTTPS, read and checked with ``cryptography``.

``thingport.tls`` imports this only when HTTPS is on (``cryptography`` is about 8 MB of a
process that never needs it otherwise). PEM files are parsed and checked here, keystores (PKCS#12,
JKS) by ``thingport.tls.keystores``, which gives precise errors. The chain and key are then
written to one file in a private temporary directory, the key re-encrypted with a random one-time
password, and that file is deleted as soon as OpenSSL has read it. Every problem is a one-line
``ConfigError`` naming the variable at fault.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from thingport.settings import TB_PEM_KEY_PASSWORD, TlsConfig
from thingport.tls import _fail
from thingport.tls.keystores import read_keystore

logger = logging.getLogger("thingport.tls")


def load_into(context: ssl.SSLContext, config: TlsConfig) -> None:
    """Load ``config``'s chain and key into ``context`` (PEM files or a keystore, as
    ``config.credentials_type`` says), warning when the certificate has expired."""
    material = _load_pem(config) if config.credentials_type == "PEM" else _load_keystore(config)
    _warn_if_expired(material)
    _install(context, material)


@dataclass
class _Material:
    """What goes into the context: the chain (leaf first) and its key."""

    chain: list[x509.Certificate]
    key: PrivateKeyTypes
    variable: str  # named when OpenSSL itself rejects the pair
    origin: str  # the file, for messages


def _resolve(variable: str, value: str) -> Path:
    if not value.strip():
        raise _fail(variable, "is empty; set it to a file path")
    # Spring resource prefixes, so that values copied from a ThingsBoard setup still work.
    if value.startswith("file:"):
        value = value.removeprefix("file:")
    elif value.startswith("classpath:"):
        value = value.removeprefix("classpath:").lstrip("/")
    return Path(os.path.abspath(os.path.expanduser(value)))


def _read(variable: str, value: str) -> tuple[Path, bytes]:
    path = _resolve(variable, value)
    hint = ""
    if value.startswith("classpath:"):
        hint = (
            f" (from {value}; thingport has no classpath and reads it from the working directory)"
        )
    try:
        return path, path.read_bytes()
    except FileNotFoundError:
        raise _fail(variable, f"file not found: {path}{hint}") from None
    except IsADirectoryError:
        raise _fail(variable, f"is a directory, not a file: {path}") from None
    except OSError as exc:
        raise _fail(variable, f"cannot read {path}: {exc.strerror or exc}") from None


def _public_der(key: PrivateKeyTypes | x509.Certificate) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert_for_key(key: PrivateKeyTypes, certs: list[x509.Certificate]) -> x509.Certificate | None:
    wanted = _public_der(key)
    for cert in certs:
        try:
            if _public_der(cert) == wanted:
                return cert
        except (ValueError, UnsupportedAlgorithm):
            # A certificate with an exotic key type cannot be ours; skip it.
            continue
    return None


def _warn_if_expired(material: _Material) -> None:
    # ThingsBoard starts with an expired certificate too; clients will refuse it, so say so.
    leaf = material.chain[0]
    if leaf.not_valid_after_utc < datetime.now(UTC):
        logger.warning(
            "%s: the certificate in %s expired on %s",
            material.variable,
            material.origin,
            leaf.not_valid_after_utc.isoformat(),
        )


def _install(context: ssl.SSLContext, material: _Material) -> None:
    password = secrets.token_urlsafe(32).encode("ascii")
    blob = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in material.chain)
    try:
        blob += material.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _fail(
            material.variable, f"unusable private key in {material.origin}: {exc}"
        ) from None
    try:
        # mkdtemp makes the directory 0700; the file is 0600 and exists only for the load.
        with tempfile.TemporaryDirectory(prefix="thingport-tls-") as directory:
            path = os.path.join(directory, "chain.pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(blob)
                context.load_cert_chain(path, password=password)
            finally:
                os.unlink(path)
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        raise _fail(
            material.variable,
            f"OpenSSL rejected the certificate or key in {material.origin}: {reason}",
        ) from None
    except OSError as exc:
        raise _fail(
            material.variable, f"cannot write the temporary file to load the key: {exc}"
        ) from None


# --------------------------------------------------------------------------- PEM

_CERT_BLOCK: Final = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
_KEY_BLOCK: Final = re.compile(
    rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----.*?-----END \1-----", re.S
)


def _load_pem(config: TlsConfig) -> _Material:
    cert_path, cert_data = _read("SSL_PEM_CERT", config.pem_cert)
    certs = _pem_certificates(cert_path, cert_data)
    key_variable, key_path, key_block = _find_pem_key(config, cert_path, cert_data)
    key = _decrypt_pem_key(key_variable, key_path, key_block, config.pem_key_password)
    leaf = _cert_for_key(key, certs)
    if leaf is None:
        if key_variable == "SSL_PEM_CERT":
            raise _fail(
                "SSL_PEM_CERT", f"the private key in {cert_path} does not match its certificate"
            )
        raise _fail(
            "SSL_PEM_KEY",
            "the private key does not match the certificate in SSL_PEM_CERT "
            f"(key {key_path}, certificate {cert_path})",
        )
    # The file order is the operator's choice; only the key's own certificate must come first.
    chain = [leaf, *(cert for cert in certs if cert is not leaf)]
    return _Material(chain, key, "SSL_PEM_CERT", str(cert_path))


def _pem_certificates(path: Path, data: bytes) -> list[x509.Certificate]:
    blocks = _CERT_BLOCK.findall(data)
    if not blocks:
        hint = ""
        if not data.lstrip().startswith(b"-----"):
            hint = " (a DER or PKCS12 file? PEM needs -----BEGIN CERTIFICATE----- blocks)"
        raise _fail("SSL_PEM_CERT", f"no PEM certificate found in {path}{hint}")
    certs = []
    for number, block in enumerate(blocks, start=1):
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            # cryptography's text here is a URL and a Rust debug dump: no help to an operator.
            raise _fail("SSL_PEM_CERT", f"certificate #{number} in {path} is damaged") from None
    return certs


def _find_pem_key(config: TlsConfig, cert_path: Path, cert_data: bytes) -> tuple[str, Path, bytes]:
    """Return (variable, file, PEM block) of the private key to use."""
    in_cert = _KEY_BLOCK.search(cert_data)
    if config.pem_key.strip():
        key_path = _resolve("SSL_PEM_KEY", config.pem_key)
        if key_path.exists():
            _, key_data = _read("SSL_PEM_KEY", config.pem_key)
            found = _KEY_BLOCK.search(key_data)
            if found is None:
                raise _fail("SSL_PEM_KEY", f"no PEM private key found in {key_path}")
            return "SSL_PEM_KEY", key_path, found.group(0)
        if in_cert is None:
            raise _fail(
                "SSL_PEM_KEY",
                f"file not found: {key_path} (and SSL_PEM_CERT {cert_path} holds no private key)",
            )
    elif in_cert is None:
        raise _fail("SSL_PEM_KEY", f"is empty and SSL_PEM_CERT {cert_path} holds no private key")
    return "SSL_PEM_CERT", cert_path, in_cert.group(0)


def _decrypt_pem_key(
    variable: str, path: Path, block: bytes, password: str | None
) -> PrivateKeyTypes:
    encrypted = (
        block.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY") or b"Proc-Type: 4,ENCRYPTED" in block
    )
    if encrypted and password == "":
        raise _fail(
            "SSL_PEM_KEY_PASSWORD", f"the private key in {path} is encrypted but no password is set"
        )
    attempt = TB_PEM_KEY_PASSWORD if password is None else password
    try:
        # An unencrypted key ignores the password, as ThingsBoard's default password suggests.
        return serialization.load_pem_private_key(block, attempt.encode() if encrypted else None)
    except ValueError as exc:
        if encrypted and password is None:
            # Not "wrong password": the operator never gave one; say which variable to set.
            raise _fail(
                "SSL_PEM_KEY_PASSWORD",
                f"the private key in {path} is encrypted; set SSL_PEM_KEY_PASSWORD to its "
                f"password (ThingsBoard's default {TB_PEM_KEY_PASSWORD!r} does not open it)",
            ) from None
        if encrypted:
            raise _fail("SSL_PEM_KEY_PASSWORD", f"wrong password for {path}") from None
        raise _fail(variable, f"cannot read the private key in {path}: {exc}") from None
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise _fail(variable, f"cannot read the private key in {path}: {exc}") from None


# --------------------------------------------------------------------------- keystores


def _load_keystore(config: TlsConfig) -> _Material:
    path, data = _read("SSL_KEY_STORE", config.key_store)
    entry = read_keystore(path, data, config)
    leaf = _cert_for_key(entry.key, entry.certs)
    if leaf is None:
        raise _fail(
            "SSL_KEY_STORE", f"keystore {path} has no certificate for key entry {entry.label!r}"
        )
    return _Material(_chain_from(leaf, entry.certs), entry.key, "SSL_KEY_STORE", str(path))


def _chain_from(leaf: x509.Certificate, pool: list[x509.Certificate]) -> list[x509.Certificate]:
    # A multi-entry store mixes several chains: follow issuers instead of taking every cert.
    chain = [leaf]
    current = leaf
    while current.issuer != current.subject:
        issuer = next((c for c in pool if c.subject == current.issuer and c not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return chain
