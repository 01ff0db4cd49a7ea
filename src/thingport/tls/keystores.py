"""The key entry HTTPS uses from a keystore: PKCS#12, or Java's JKS and JCEKS.

PKCS#12: ``cryptography``'s ``load_pkcs12`` checks the store password and decrypts every
certificate, but returns only the first key, and ``SSL_KEY_ALIAS`` must be able to pick another
one. So ``asn1crypto`` lists the key bags with their aliases (friendly names), and
``cryptography`` decrypts the chosen one. JKS and JCEKS: ``pyjks``, the optional extra
``thingport[jks]``. As Java (9 and later) does, the file's content decides how it is read,
whatever ``SSL_KEY_STORE_TYPE`` says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from thingport.settings import TB_KEY_PASSWORD, TlsConfig
from thingport.tls import _fail

__all__ = ["KeyEntry", "read_keystore"]

logger = logging.getLogger("thingport.tls")

_JAVA_MAGIC: Final = {b"\xfe\xed\xfe\xed": "JKS", b"\xce\xce\xce\xce": "JCEKS"}


@dataclass(frozen=True)
class KeyEntry:
    """The chosen key entry: its alias, its key, and the certificates its chain is built from."""

    alias: str | None
    key: PrivateKeyTypes
    certs: list[x509.Certificate]

    @property
    def label(self) -> str:
        """The alias for messages."""
        return self.alias or "(unnamed)"


def read_keystore(path: Path, data: bytes, config: TlsConfig) -> KeyEntry:
    """The key entry ``config`` asks for from the keystore ``data`` (read from ``path``).

    Raises `ConfigError` naming the variable at fault.
    """
    java_type = _JAVA_MAGIC.get(data[:4])
    if java_type is not None:
        return _read_java(path, data, java_type, config)
    entry = _read_pkcs12(path, data, config)
    if entry is not None:
        return entry
    if config.key_store_type == "JKS":
        raise _fail("SSL_KEY_STORE", f"{path} is neither a JKS nor a PKCS12 keystore (or it is "
                                     "damaged)")
    raise _fail("SSL_KEY_STORE", f"{path} is not a PKCS12 keystore (or it is damaged)")


# --------------------------------------------------------------------------- both formats


def _key_passwords(config: TlsConfig) -> tuple[str, ...]:
    """The passwords to try on the chosen key entry, best first."""
    if config.key_password is not None:
        return (config.key_password,)
    return (config.key_store_password, TB_KEY_PASSWORD)


def _select(path: Path, names: list[str | None], alias: str) -> int:
    """The index of the key entry named ``alias`` (Java's aliases ignore case)."""
    if alias:
        for index, name in enumerate(names):
            if name is not None and name.lower() == alias.lower():
                return index
    if len(names) == 1:
        _check_single_alias(path, names[0], alias)
        return 0
    if not alias:
        return 0
    found = ", ".join(repr(name) if name is not None else "(unnamed)" for name in names)
    raise _fail(
        "SSL_KEY_ALIAS", f"no key entry {alias!r} in keystore {path}; key entries found: {found}"
    )


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


def _decrypt_with(
    path: Path,
    label: str,
    passwords: Iterable[str],
    attempt: Callable[[str], PrivateKeyTypes | None],
    *,
    key_password_set: bool,
) -> PrivateKeyTypes:
    """The key that the first of ``passwords`` opens; ``attempt`` gives None for a wrong one."""
    for password in dict.fromkeys(passwords):
        key = attempt(password)
        if key is not None:
            return key
    if not key_password_set:
        raise _fail("SSL_KEY_PASSWORD", f"key entry {label!r} in keystore {path} has a password "
                                        "of its own; set SSL_KEY_PASSWORD to it")
    raise _fail("SSL_KEY_PASSWORD", f"wrong password for key entry {label!r} in keystore {path}")


def _convert_advice(path: Path, store_type: str) -> str:
    return (
        "or convert it to PKCS12 with "
        f"`keytool -importkeystore -srckeystore {path} -srcstoretype {store_type} "
        f"-destkeystore {path.with_suffix('.p12')} -deststoretype PKCS12` "
        "and set SSL_KEY_STORE to the new file and SSL_KEY_STORE_TYPE=PKCS12"
    )


def _load_certificates(path: Path, label: str, ders: Iterable[bytes]) -> list[x509.Certificate]:
    try:
        return [x509.load_der_x509_certificate(der) for der in ders]
    except ValueError:
        raise _fail(
            "SSL_KEY_STORE", f"a certificate of key entry {label!r} in {path} is damaged"
        ) from None


# --------------------------------------------------------------------------- PKCS#12


@dataclass(frozen=True)
class _KeyBag:
    name: str | None
    der: bytes = field(repr=False)  # PrivateKeyInfo, or EncryptedPrivateKeyInfo if shrouded
    shrouded: bool


def _pkcs12_key_bags(data: bytes) -> list[_KeyBag] | None:
    """The key bags outside encrypted content, or None when ``data`` is not a PKCS#12 file."""
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        # The other integrity mode (public-key, "signed_data") is one that nobody uses.
        if pfx["version"].native != "v3" or pfx["auth_safe"]["content_type"].native != "data":
            return None
        bags: list[_KeyBag] = []
        for content_info in pfx.authenticated_safe:
            # keytool and openssl put their (password-protected) key bags in plain content and
            # the certificates in encrypted content, which load_pkcs12 decrypts.
            if content_info["content_type"].native == "data":
                contents = asn1_pkcs12.SafeContents.load(content_info["content"].native)
                _collect_bags(contents, bags, depth=0)
        return bags
    except (ValueError, TypeError):  # what asn1crypto raises for data it cannot parse
        return None


def _collect_bags(contents: asn1_pkcs12.SafeContents, bags: list[_KeyBag], depth: int) -> None:
    if depth > 4:
        raise ValueError("safe contents nested too deep")
    for bag in contents:
        kind = bag["bag_id"].native
        if kind == "safe_contents":
            _collect_bags(bag["bag_value"], bags, depth + 1)
        elif kind in ("key_bag", "pkcs8_shrouded_key_bag"):
            bags.append(_KeyBag(
                _friendly_name(bag), bag["bag_value"].untag().dump(),
                kind == "pkcs8_shrouded_key_bag",
            ))  # fmt: skip


def _friendly_name(bag: asn1_pkcs12.SafeBag) -> str | None:
    attributes = bag["bag_attributes"]
    if not isinstance(attributes, asn1_pkcs12.Attributes):  # absent: asn1crypto's Void
        return None
    for attribute in attributes:
        if attribute["type"].native == "friendly_name" and len(attribute["values"]):
            name: str = attribute["values"][0].native
            return name
    return None


def _read_pkcs12(path: Path, data: bytes, config: TlsConfig) -> KeyEntry | None:
    bags = _pkcs12_key_bags(data)
    if bags is None:
        return None
    store = _open_pkcs12(path, data, config.key_store_password)
    certs = [entry.certificate for entry in (store.cert, *store.additional_certs) if entry]
    if bags:
        bag = bags[_select(path, [bag.name for bag in bags], config.key_alias)]
        if bag is bags[0] and store.key is not None and _friendly(store.cert) == bag.name:
            # OpenSSL already decrypted this one with the store password, including the odd
            # encodings it uses for empty passwords (cryptography takes b"" as no password).
            key = store.key
            if config.key_password not in (None, config.key_store_password):
                # A key password that is set must open the key, as Java's getKey requires.
                _decrypt_bag(path, bag, (config.key_password,), key_password_set=True)
        else:
            key = _decrypt_bag(path, bag, _key_passwords(config),
                               key_password_set=config.key_password is not None)
        return KeyEntry(bag.name, key, certs)
    if store.key is not None:
        # A key inside encrypted content is invisible to asn1crypto; OpenSSL found one, so it
        # opens with the store password: a different SSL_KEY_PASSWORD does not.
        name = _friendly(store.cert)
        _check_single_alias(path, name, config.key_alias)
        if config.key_password not in (None, config.key_store_password):
            raise _fail("SSL_KEY_PASSWORD", f"wrong password for key entry "
                                            f"{name or '(unnamed)'!r} in keystore {path}")
        return KeyEntry(name, store.key, certs)
    raise _fail("SSL_KEY_STORE", f"keystore {path} holds no private key entry")


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


def _plain_key(der: bytes, label: str, path: Path) -> PrivateKeyTypes:
    """A keystore entry's unencrypted PKCS#8 key; a clear error when it is not one."""
    try:
        return serialization.load_der_private_key(der, None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _fail("SSL_KEY_STORE", f"cannot read key entry {label!r} in {path}: {exc}") from None


def _decrypt_bag(
    path: Path, bag: _KeyBag, passwords: tuple[str, ...], *, key_password_set: bool
) -> PrivateKeyTypes:
    label = bag.name or "(unnamed)"
    if not bag.shrouded:
        return _plain_key(bag.der, label, path)

    def attempt(password: str) -> PrivateKeyTypes | None:
        try:
            return serialization.load_der_private_key(bag.der, password.encode())
        except UnsupportedAlgorithm as exc:
            raise _fail("SSL_KEY_STORE", f"key entry {label!r} in {path}: {exc}") from None
        except (ValueError, TypeError):  # wrong password (TypeError: an empty one)
            return None

    return _decrypt_with(path, label, passwords, attempt, key_password_set=key_password_set)


# --------------------------------------------------------------------------- JKS, JCEKS


def _read_java(path: Path, data: bytes, store_type: str, config: TlsConfig) -> KeyEntry:
    try:
        import jks  # the optional extra thingport[jks]
        from pyasn1.error import PyAsn1Error
    except ImportError:
        raise _fail(
            "SSL_KEY_STORE",
            f"{path} is a {store_type} keystore; reading it needs the optional extra "
            f"thingport[jks] (pip install 'thingport[jks]'), {_convert_advice(path, store_type)}",
        ) from None
    try:
        # Keys are decrypted below, with SSL_KEY_PASSWORD when it is set.
        store = jks.KeyStore.loads(data, config.key_store_password, try_decrypt_keys=False)
    except jks.KeystoreSignatureException:
        raise _fail("SSL_KEY_STORE_PASSWORD", f"wrong password for keystore {path}") from None
    except (jks.KeystoreException, ValueError, PyAsn1Error) as exc:
        raise _fail(
            "SSL_KEY_STORE", f"{store_type} keystore {path} is damaged or unsupported: {exc}"
        ) from None
    entries = store.private_keys
    if not entries:
        raise _fail("SSL_KEY_STORE", f"keystore {path} holds no private key entry")
    names: list[str | None] = list(entries)
    alias = names[_select(path, names, config.key_alias)]
    assert alias is not None  # every JKS entry has an alias
    entry = entries[alias]

    def attempt(password: str) -> PrivateKeyTypes | None:
        try:
            entry.decrypt(password)
        except (jks.DecryptionFailureException, PyAsn1Error, ValueError):
            # A JCEKS key opened by a wrong password can pass the padding check and then fail
            # to parse; a JCEKS password must be ASCII (ValueError).
            return None
        except jks.KeystoreException as exc:
            raise _fail("SSL_KEY_STORE", f"key entry {alias!r} in {path}: {exc}") from None
        return _plain_key(entry.pkey_pkcs8, alias, path)

    key = _decrypt_with(path, alias, _key_passwords(config), attempt,
                        key_password_set=config.key_password is not None)
    certs = _load_certificates(path, alias, (der for _, der in entry.cert_chain))
    return KeyEntry(alias, key, certs)
