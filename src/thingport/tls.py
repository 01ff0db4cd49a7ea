"""HTTPS configured the ThingsBoard way, from the ``SSL_*`` environment variables.

`TlsConfig.from_env` reads the variables ThingsBoard's HTTP transport reads (spec §1.9, decision
10), with ThingsBoard's defaults. `build_ssl_context` turns them into a server `ssl.SSLContext`
for uvicorn, from PEM files or a PKCS#12 keystore. Every problem becomes a one-line `ConfigError`
that names the variable to fix, so that a bad path or password stops the server at start.

Python's ``ssl`` module can load certificates and keys only from files. The material is therefore
parsed and checked with ``cryptography`` first (which gives precise errors), then written to one
file in a private temporary directory, the key re-encrypted with a random one-time password, and
that file is deleted as soon as OpenSSL has read it: ``thingport.tls_files``, imported only when
HTTPS is on.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, TypeVar

from thingport.errors import ConfigError

__all__ = ["CredentialsType", "KeyStoreType", "TlsConfig", "build_ssl_context"]

CredentialsType = Literal["PEM", "KEYSTORE"]
KeyStoreType = Literal["PKCS12", "JKS"]

_Choice = TypeVar("_Choice", bound=str)

_CREDENTIALS_TYPES: Final[dict[str, CredentialsType]] = {"PEM": "PEM", "KEYSTORE": "KEYSTORE"}
_KEY_STORE_TYPES: Final[dict[str, KeyStoreType]] = {"PKCS12": "PKCS12", "JKS": "JKS"}
#: ThingsBoard's defaults of SSL_PEM_KEY_PASSWORD and SSL_KEY_PASSWORD, tried when unset.
TB_PEM_KEY_PASSWORD: Final = "server_key_password"
TB_KEY_PASSWORD: Final = "thingsboard"
# Spring's StringToBooleanConverter accepts exactly these, case-insensitively.
_TRUE: Final = frozenset({"true", "on", "yes", "1"})
_FALSE: Final = frozenset({"false", "off", "no", "0"})


@dataclass(frozen=True)
class TlsConfig:
    """The ``SSL_*`` settings, named and defaulted as in ThingsBoard's ``tb-http-transport.yml``.

    The two key passwords are None when their variable is not set. An encrypted PEM key is then
    tried with ThingsBoard's default, ``"server_key_password"``, and a keystore's key with the
    store password (keytool and openssl encrypt keys with it), then ThingsBoard's default
    ``"thingsboard"``. A password that is set must open its key: ThingsBoard would refuse it too.
    ``key_store`` keeps ThingsBoard's ``classpath:`` default; thingport has no classpath and
    reads such a path relative to the working directory. Passwords are left out of ``repr``.
    """

    enabled: bool = False
    credentials_type: CredentialsType = "PEM"
    pem_cert: str = "server.pem"
    pem_key: str = "server_key.pem"
    pem_key_password: str | None = field(default=None, repr=False)
    key_store: str = "classpath:keystore/keystore.p12"
    key_store_type: KeyStoreType = "PKCS12"
    key_store_password: str = field(default="thingsboard", repr=False)
    key_alias: str = "tomcat"
    key_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TlsConfig:
        """Read the ``SSL_*`` variables from ``environ``; unset ones keep ThingsBoard's default.

        Raises `ConfigError` naming the variable when a boolean or a choice is not valid.
        Paths and passwords are only checked by `build_ssl_context`.
        """
        defaults = cls()
        return cls(
            enabled=_env_bool(environ, "SSL_ENABLED", defaults.enabled),
            credentials_type=_env_choice(
                environ, "SSL_CREDENTIALS_TYPE", _CREDENTIALS_TYPES, defaults.credentials_type
            ),
            pem_cert=environ.get("SSL_PEM_CERT", defaults.pem_cert),
            pem_key=environ.get("SSL_PEM_KEY", defaults.pem_key),
            pem_key_password=environ.get("SSL_PEM_KEY_PASSWORD"),
            key_store=environ.get("SSL_KEY_STORE", defaults.key_store),
            key_store_type=_env_choice(
                environ, "SSL_KEY_STORE_TYPE", _KEY_STORE_TYPES, defaults.key_store_type
            ),
            key_store_password=environ.get("SSL_KEY_STORE_PASSWORD", defaults.key_store_password),
            key_alias=environ.get("SSL_KEY_ALIAS", defaults.key_alias),
            key_password=environ.get("SSL_KEY_PASSWORD"),
        )


def build_ssl_context(config: TlsConfig) -> ssl.SSLContext:
    """Build a server-side context (TLS 1.2 or newer) from ``config``.

    It does not look at ``config.enabled``: the caller decides whether HTTPS is on. Raises
    `ConfigError` with one line naming the variable at fault; no ``ssl`` or ``cryptography``
    exception escapes.
    """
    if config.credentials_type not in _CREDENTIALS_TYPES.values():
        raise _fail(
            "SSL_CREDENTIALS_TYPE", f"expected PEM or KEYSTORE, got {config.credentials_type!r}"
        )
    # Imported here: ``cryptography`` is about 8 MB that a server without HTTPS never needs.
    from thingport.tls_files import load_into

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_into(context, config)
    return context


# --------------------------------------------------------------------------- environment parsing


def _env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise _fail(name, f"expected true or false, got {environ[name]!r}")


def _env_choice(
    environ: Mapping[str, str], name: str, choices: Mapping[str, _Choice], default: _Choice
) -> _Choice:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return choices[raw.upper()]
    except KeyError:
        expected = " or ".join(choices)
        raise _fail(name, f"expected {expected}, got {raw!r}") from None


def _fail(variable: str, problem: str) -> ConfigError:
    # Foreign messages (OpenSSL, cryptography) may span lines; the contract is one line.
    return ConfigError(f"{variable}: {' '.join(problem.split())}")
