"""The certificate and key material of HTTPS, read and checked with ``cryptography``.

``thingport.tls`` imports this only when HTTPS is on (``cryptography`` is about 8 MB of a
process that never needs it otherwise). PEM files or a PKCS#12 keystore are parsed and checked
here (which gives precise errors), then written to one file in a private temporary directory,
the key re-encrypted with a random one-time password, and that file is deleted as soon as
OpenSSL has read it. Every problem is a one-line ``ConfigError`` naming the variable at fault.
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
from cryptography.hazmat.primitives.serialization import pkcs12

from thingport.pkcs12_keys import KeyBag, pkcs12_key_bags
from thingport.tls import TB_KEY_PASSWORD, TB_PEM_KEY_PASSWORD, TlsConfig, _fail

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


# --------------------------------------------------------------------------- PKCS#12 keystore

_JKS_MAGIC: Final = b"\xfe\xed\xfe\xed"
_JCEKS_MAGIC: Final = b"\xce\xce\xce\xce"


def _load_keystore(config: TlsConfig) -> _Material:
    path, data = _read("SSL_KEY_STORE", config.key_store)
    java_type = {_JKS_MAGIC: "JKS", _JCEKS_MAGIC: "JCEKS"}.get(data[:4])
    bags = pkcs12_key_bags(data)
    if java_type is not None:
        raise _fail(
            "SSL_KEY_STORE",
            f"{path} is a {java_type} keystore, which thingport cannot "
            f"read; {_convert_advice(path, java_type)}",
        )
    if bags is None and config.key_store_type == "JKS":
        raise _fail(
            "SSL_KEY_STORE",
            f"{path} cannot be read as PKCS12 (thingport cannot read JKS); "
            f"if it is a JKS keystore, {_convert_advice(path, 'JKS')}",
        )
    if bags is None:
        raise _fail("SSL_KEY_STORE", f"{path} is not a PKCS12 keystore (or it is damaged)")

    store = _open_pkcs12(path, data, config.key_store_password)
    certs = [entry.certificate for entry in (store.cert, *store.additional_certs) if entry]
    if bags:
        bag = _select_bag(path, bags, config.key_alias)
        label = bag.name or "(unnamed)"
        if bag is bags[0] and store.key is not None and _friendly(store.cert) == bag.name:
            # OpenSSL already decrypted this one with the store password, including the odd
            # encodings it uses for empty passwords.
            key = store.key
            if config.key_password not in (None, config.key_store_password):
                # A key password that is set must open the key, as Java's getKey requires.
                _decrypt_bag(path, bag, (config.key_password,))
        else:
            key = _decrypt_bag(path, bag, _key_passwords(config),
                               key_password_set=config.key_password is not None)
    elif store.key is not None:
        # Keys hidden inside encrypted content are invisible to our walker; OpenSSL found one,
        # so it opens with the store password: a different SSL_KEY_PASSWORD does not.
        key = store.key
        label = _friendly(store.cert) or "(unnamed)"
        _check_single_alias(path, _friendly(store.cert), config.key_alias)
        if config.key_password not in (None, config.key_store_password):
            raise _fail("SSL_KEY_PASSWORD", f"wrong password for key entry {label!r} in "
                                            f"keystore {path}")
    else:
        raise _fail("SSL_KEY_STORE", f"keystore {path} holds no private key entry")

    leaf = _cert_for_key(key, certs)
    if leaf is None:
        raise _fail("SSL_KEY_STORE", f"keystore {path} has no certificate for key entry {label!r}")
    return _Material(_chain_from(leaf, certs), key, "SSL_KEY_STORE", str(path))


def _key_passwords(config: TlsConfig) -> tuple[str, ...]:
    """The passwords to try on the chosen key entry, best first."""
    if config.key_password is not None:
        return (config.key_password,)
    return (config.key_store_password, TB_KEY_PASSWORD)


def _convert_advice(path: Path, store_type: str) -> str:
    return (
        "convert it to PKCS12 with "
        f"`keytool -importkeystore -srckeystore {path} -srcstoretype {store_type} "
        f"-destkeystore {path.with_suffix('.p12')} -deststoretype PKCS12` "
        "and set SSL_KEY_STORE to the new file and SSL_KEY_STORE_TYPE=PKCS12"
    )


def _open_pkcs12(path: Path, data: bytes, password: str) -> pkcs12.PKCS12KeyAndCertificates:
    # OpenSSL treats "no password" and "empty password" differently; an empty setting means either.
    attempts: list[bytes | None] = [password.encode()] if password else [None, b""]
    for attempt in attempts:
        try:
            return pkcs12.load_pkcs12(data, attempt)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    # The outer structure parsed (checked by the caller), so the password is what failed.
    raise _fail("SSL_KEY_STORE_PASSWORD", f"wrong password for keystore {path}")


def _friendly(entry: pkcs12.PKCS12Certificate | None) -> str | None:
    if entry is None or entry.friendly_name is None:
        return None
    return entry.friendly_name.decode("utf-8", "replace")


def _check_single_alias(path: Path, name: str | None, alias: str) -> None:
    # One key entry: use it whatever it is called (openssl-made stores often have no name),
    # but tell the operator, since ThingsBoard would have insisted on the alias.
    if alias and (name is None or name.lower() != alias.lower()):
        logger.warning(
            "SSL_KEY_ALIAS: keystore %s has no key entry %r; using its only one, %s",
            path,
            alias,
            repr(name) if name is not None else "which has no name",
        )


def _select_bag(path: Path, bags: list[KeyBag], alias: str) -> KeyBag:
    if alias:
        for bag in bags:
            # Java lower-cases PKCS12 aliases, so the match is case-insensitive as in ThingsBoard.
            if bag.name is not None and bag.name.lower() == alias.lower():
                return bag
    if len(bags) == 1:
        _check_single_alias(path, bags[0].name, alias)
        return bags[0]
    if not alias:
        return bags[0]
    found = ", ".join(repr(bag.name) if bag.name is not None else "(unnamed)" for bag in bags)
    raise _fail(
        "SSL_KEY_ALIAS", f"no key entry {alias!r} in keystore {path}; key entries found: {found}"
    )


def _decrypt_bag(
    path: Path, bag: KeyBag, passwords: tuple[str, ...], *, key_password_set: bool = True
) -> PrivateKeyTypes:
    label = bag.name or "(unnamed)"
    if not bag.shrouded:
        try:
            return serialization.load_der_private_key(bag.der, None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise _fail(
                "SSL_KEY_STORE", f"cannot read key entry {label!r} in {path}: {exc}"
            ) from None
    unsupported: Exception | None = None
    for password in dict.fromkeys(passwords):
        try:
            return serialization.load_der_private_key(bag.der, password.encode())
        except UnsupportedAlgorithm as exc:
            unsupported = exc
        except (ValueError, TypeError):
            continue
    if unsupported is not None:
        raise _fail("SSL_KEY_STORE", f"key entry {label!r} in {path}: {unsupported}")
    if not key_password_set:
        raise _fail("SSL_KEY_PASSWORD", f"key entry {label!r} in keystore {path} has a password "
                                        "of its own; set SSL_KEY_PASSWORD to it")
    raise _fail("SSL_KEY_PASSWORD", f"wrong password for key entry {label!r} in keystore {path}")


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
