"""thingport.tls with a keystore: PKCS#12 (from cryptography or keytool), JKS and JCEKS (keytool).

The stores with several entries are made once per module with Java's ``keytool`` (about a
second a call): those tests skip without it, except under CI, where they fail.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.certs import java_keystore_bytes, pkcs12_bytes
from tests.tls_check import Pki, build, config_error, der, handshake, make_pki, store_env, write


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


# --------------------------------------------------------------------------- PKCS#12 keystore


@pytest.fixture(scope="module")
def two_entry_store(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> str:
    # Java's layout: key bags in plain content, certificates encrypted, aliases lower-cased.
    data = java_keystore_bytes(
        [("alpha", pki.other, "storepw"), ("beta", pki.server, "storepw")], "storepw",
        store_type="PKCS12",
    )
    return write(tmp_path_factory.mktemp("pkcs12") / "keystore.p12", data)


def test_pkcs12_with_thingsboards_defaults(pki: Pki, tmp_path: Path) -> None:
    # Alias "tomcat", store and key password "thingsboard": what ThingsBoard users have.
    store = write(tmp_path / "keystore.p12", pkcs12_bytes("tomcat", pki.server, b"thingsboard"))
    context = build(store_env(store))
    peer, _ = handshake(context, pki.root)  # the intermediate comes from the store
    assert peer == der(pki.server)


def test_pkcs12_alias_selects_the_entry(pki: Pki, two_entry_store: str) -> None:
    beta = build(store_env(two_entry_store, "storepw", SSL_KEY_ALIAS="beta"))
    assert handshake(beta, pki.root)[0] == der(pki.server)
    # Java lower-cases PKCS12 aliases, so the match ignores case.
    alpha = build(store_env(two_entry_store, "storepw", SSL_KEY_ALIAS="ALPHA"))
    assert handshake(alpha, pki.root, "other.example")[0] == der(pki.other)


def test_pkcs12_single_entry_is_used_whatever_its_alias(pki: Pki, tmp_path: Path) -> None:
    # `openssl pkcs12 -export` without -name writes no friendly name at all.
    store = write(tmp_path / "keystore.p12", pkcs12_bytes(None, pki.server, b"pw"))
    assert handshake(build(store_env(store, "pw")), pki.root)[0] == der(pki.server)


@pytest.mark.parametrize("alias", ["alpha", "beta"])  # the first entry, opened by OpenSSL; not
def test_pkcs12_wrong_key_password_is_refused(two_entry_store: str, alias: str) -> None:
    # ThingsBoard (Java's KeyStore.getKey) refuses a key password that does not open the key.
    env = store_env(two_entry_store, "storepw", SSL_KEY_ALIAS=alias, SSL_KEY_PASSWORD="stale")
    message = config_error(env, "SSL_KEY_PASSWORD")
    assert message == (f"SSL_KEY_PASSWORD: wrong password for key entry {alias!r} in keystore "
                       f"{two_entry_store}")


@pytest.mark.parametrize("key_password", [None, "storepw"])
def test_pkcs12_key_password_unset_or_the_store_one(
    pki: Pki, two_entry_store: str, key_password: str | None
) -> None:
    # openssl and keytool encrypt keys with the store password: unset means that one.
    extra = {"SSL_KEY_PASSWORD": key_password} if key_password else {}
    env = store_env(two_entry_store, "storepw", SSL_KEY_ALIAS="beta", **extra)
    assert handshake(build(env), pki.root)[0] == der(pki.server)


def test_pkcs12_file_with_jks_type_is_read(pki: Pki, tmp_path: Path) -> None:
    # Java reads PKCS12 files declared as JKS too; so do we.
    store = write(tmp_path / "keystore.p12", pkcs12_bytes("tomcat", pki.server, b"pw"))
    env = store_env(store, "pw", SSL_KEY_STORE_TYPE="JKS")
    assert handshake(build(env), pki.root)[0] == der(pki.server)


def test_wrong_keystore_password(pki: Pki, tmp_path: Path) -> None:
    store = write(tmp_path / "k.p12", pkcs12_bytes("tomcat", pki.server, b"right"))
    message = config_error(store_env(store, "wrong"), "SSL_KEY_STORE_PASSWORD")
    assert message == f"SSL_KEY_STORE_PASSWORD: wrong password for keystore {store}"


def test_wrong_alias_lists_the_aliases(two_entry_store: str) -> None:
    env = store_env(two_entry_store, "storepw", SSL_KEY_ALIAS="tomcat")
    message = config_error(env, "SSL_KEY_ALIAS")
    assert "'tomcat'" in message and "'alpha'" in message and "'beta'" in message


def test_garbage_store_declared_jks(tmp_path: Path) -> None:
    store = write(tmp_path / "keystore.jks", b"not a keystore at all")
    message = config_error(store_env(store, SSL_KEY_STORE_TYPE="JKS"), "SSL_KEY_STORE")
    assert "neither a JKS nor a PKCS12 keystore" in message


def test_garbage_store_declared_pkcs12(tmp_path: Path) -> None:
    store = write(tmp_path / "keystore.p12", b"not a keystore at all")
    message = config_error(store_env(store), "SSL_KEY_STORE")
    assert "not a PKCS12 keystore" in message


def test_missing_keystore(tmp_path: Path) -> None:
    missing = tmp_path / "k.p12"
    message = config_error(store_env(str(missing)), "SSL_KEY_STORE")
    assert message == f"SSL_KEY_STORE: file not found: {missing}"


def test_default_classpath_keystore_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"SSL_ENABLED": "true", "SSL_CREDENTIALS_TYPE": "KEYSTORE"}
    message = config_error(env, "SSL_KEY_STORE")
    assert str(tmp_path / "keystore" / "keystore.p12") in message and "classpath" in message


def test_classpath_keystore_is_read_from_the_working_directory(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keystore").mkdir()
    write(tmp_path / "keystore" / "keystore.p12", pkcs12_bytes("tomcat", pki.server, b"tb"))
    monkeypatch.chdir(tmp_path)
    env = store_env("classpath:keystore/keystore.p12", "tb")
    assert handshake(build(env), pki.root)[0] == der(pki.server)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_pkcs12_with_an_empty_password_written_by_openssl(pki: Pki, tmp_path: Path) -> None:
    # OpenSSL encodes an empty password its own way; cryptography takes b"" for no password.
    chain = write(tmp_path / "chain.pem", pki.server.chain_pem() + pki.server.key_pem())
    store = str(tmp_path / "empty.p12")
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-in", chain, "-name", "tomcat", "-passout", "pass:",
         "-out", store],
        check=True, capture_output=True,
    )  # fmt: skip
    assert handshake(build(store_env(store, "")), pki.root)[0] == der(pki.server)
    message = config_error(store_env(store, "", SSL_KEY_PASSWORD="stale"), "SSL_KEY_PASSWORD")
    assert message.startswith("SSL_KEY_PASSWORD: wrong password for key entry 'tomcat'")


def test_pkcs12_without_any_encryption(pki: Pki, tmp_path: Path) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"tomcat", pki.server.key, pki.server.cert, list(pki.server.issuers),
        serialization.NoEncryption(),
    )
    store = write(tmp_path / "plain.p12", data)
    assert handshake(build(store_env(store, "")), pki.root)[0] == der(pki.server)


def test_pkcs12_without_a_key_entry(pki: Pki, tmp_path: Path) -> None:
    data = pkcs12.serialize_key_and_certificates(
        None, None, None, [pki.server.cert], serialization.BestAvailableEncryption(b"pw")
    )
    store = write(tmp_path / "certs.p12", data)
    message = config_error(store_env(store, "pw"), "SSL_KEY_STORE")
    assert message == f"SSL_KEY_STORE: keystore {store} holds no private key entry"


# --------------------------------------------------------------------------- JKS, JCEKS


@dataclasses.dataclass(frozen=True)
class JavaStores:
    """Keystores written by keytool, in one folder."""

    tb: str  # JKS, ThingsBoard's defaults: alias tomcat, passwords "thingsboard"
    two: str  # JKS, storepw: "alpha" (other) with the store password, "beta" (server) "betapass"
    certs_only: str  # JKS, storepw: a trusted certificate and no key entry
    jceks: str  # JCEKS, storepw: "tomcat" (server) with key password "keypass"


@pytest.fixture(scope="module")
def java_stores(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> JavaStores:
    folder = tmp_path_factory.mktemp("java")
    return JavaStores(
        tb=write(folder / "tb.jks", java_keystore_bytes(
            [("tomcat", pki.server, "thingsboard")], "thingsboard")),
        two=write(folder / "two.jks", java_keystore_bytes(
            [("alpha", pki.other, "storepw"), ("beta", pki.server, "betapass")], "storepw",
            trusted=[("root", pki.root)])),
        certs_only=write(folder / "certs.jks", java_keystore_bytes(
            [], "storepw", trusted=[("root", pki.root)])),
        jceks=write(folder / "k.jceks", java_keystore_bytes(
            [("tomcat", pki.server, "keypass")], "storepw", store_type="JCEKS")),
    )  # fmt: skip


def test_jks_with_thingsboards_defaults(pki: Pki, java_stores: JavaStores) -> None:
    context = build(store_env(java_stores.tb, SSL_KEY_STORE_TYPE="JKS"))
    peer, _ = handshake(context, pki.root)  # the intermediate comes from the entry's chain
    assert peer == der(pki.server)


def test_jks_declared_pkcs12_is_read(pki: Pki, java_stores: JavaStores) -> None:
    # Java 9+ reads either format whatever the declared type; the file's content decides.
    assert handshake(build(store_env(java_stores.tb)), pki.root)[0] == der(pki.server)


def test_jks_alias_and_key_password_select_the_entry(pki: Pki, java_stores: JavaStores) -> None:
    beta = store_env(java_stores.two, "storepw", SSL_KEY_ALIAS="beta", SSL_KEY_PASSWORD="betapass")
    assert handshake(build(beta), pki.root)[0] == der(pki.server)
    # Unset SSL_KEY_PASSWORD means the store password; aliases ignore case as in Java.
    alpha = store_env(java_stores.two, "storepw", SSL_KEY_ALIAS="ALPHA")
    assert handshake(build(alpha), pki.root, "other.example")[0] == der(pki.other)


def test_jks_key_with_its_own_password_and_none_set(java_stores: JavaStores) -> None:
    env = store_env(java_stores.two, "storepw", SSL_KEY_ALIAS="beta")
    message = config_error(env, "SSL_KEY_PASSWORD")
    assert message == (f"SSL_KEY_PASSWORD: key entry 'beta' in keystore {java_stores.two} has a "
                       "password of its own; set SSL_KEY_PASSWORD to it")


@pytest.mark.parametrize("alias", ["alpha", "beta"])
def test_jks_wrong_key_password(java_stores: JavaStores, alias: str) -> None:
    env = store_env(java_stores.two, "storepw", SSL_KEY_ALIAS=alias, SSL_KEY_PASSWORD="stale1")
    message = config_error(env, "SSL_KEY_PASSWORD")
    assert message == (f"SSL_KEY_PASSWORD: wrong password for key entry {alias!r} in keystore "
                       f"{java_stores.two}")


def test_jks_wrong_store_password(java_stores: JavaStores) -> None:
    message = config_error(store_env(java_stores.two, "wrong!"), "SSL_KEY_STORE_PASSWORD")
    assert message == f"SSL_KEY_STORE_PASSWORD: wrong password for keystore {java_stores.two}"


def test_jks_missing_alias_lists_the_key_entries(java_stores: JavaStores) -> None:
    message = config_error(store_env(java_stores.two, "storepw"), "SSL_KEY_ALIAS")  # tomcat
    assert message == (f"SSL_KEY_ALIAS: no key entry 'tomcat' in keystore {java_stores.two}; "
                       "key entries found: 'alpha', 'beta'")  # not the trusted "root"


def test_jks_without_a_key_entry(java_stores: JavaStores) -> None:
    message = config_error(store_env(java_stores.certs_only, "storepw"), "SSL_KEY_STORE")
    assert message == f"SSL_KEY_STORE: keystore {java_stores.certs_only} holds no private key entry"


def test_jceks(pki: Pki, java_stores: JavaStores) -> None:
    env = store_env(java_stores.jceks, "storepw", SSL_KEY_PASSWORD="keypass")
    assert handshake(build(env), pki.root)[0] == der(pki.server)
    wrong = store_env(java_stores.jceks, "storepw", SSL_KEY_PASSWORD="keypasS")
    assert "wrong password for key entry 'tomcat'" in config_error(wrong, "SSL_KEY_PASSWORD")


def test_damaged_jks(java_stores: JavaStores, tmp_path: Path) -> None:
    cut = write(tmp_path / "cut.jks", Path(java_stores.two).read_bytes()[:300])
    message = config_error(store_env(cut, "storepw"), "SSL_KEY_STORE")
    assert message.startswith(f"SSL_KEY_STORE: JKS keystore {cut} is damaged or unsupported")


def test_jks_without_the_extra_names_it(
    java_stores: JavaStores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jks", None)  # what a missing package does to an import
    message = config_error(store_env(java_stores.tb), "SSL_KEY_STORE")
    assert f"{java_stores.tb} is a JKS keystore" in message
    assert "pip install 'thingport[jks]'" in message
    assert "keytool -importkeystore" in message and "-deststoretype PKCS12" in message
