"""HTTPS configured the ThingsBoard way, from the ``SSL_*`` environment variables.

``thingport.settings.TlsConfig`` (declared with the other settings) holds the variables
ThingsBoard's HTTP transport reads (spec §1.9, decision 10), with ThingsBoard's defaults.
`build_ssl_context` turns them into a server `ssl.SSLContext` for uvicorn, from PEM files or a
keystore (PKCS#12, or JKS and JCEKS with the ``jks`` extra: ``thingport.tls.keystores``).
Every problem becomes a one-line `ConfigError` that names the variable to fix, so that a bad
path or password stops the server at start.

Python's ``ssl`` module can load certificates and keys only from files. The material is therefore
parsed and checked with ``cryptography`` first (which gives precise errors), then written to one
file in a private temporary directory, the key re-encrypted with a random one-time password, and
that file is deleted as soon as OpenSSL has read it: ``thingport.tls.files``, imported only when
HTTPS is on.
"""

from __future__ import annotations

import ssl
from typing import get_args

from thingport.errors import ConfigError
from thingport.settings import CredentialsType, TlsConfig


def build_ssl_context(config: TlsConfig) -> ssl.SSLContext:
    """Build a server-side context (TLS 1.2 or newer) from ``config``.

    It does not look at ``config.enabled``: the caller decides whether HTTPS is on. Raises
    `ConfigError` with one line naming the variable at fault; no ``ssl`` or ``cryptography``
    exception escapes.
    """
    if config.credentials_type not in get_args(CredentialsType):
        raise _fail(
            "SSL_CREDENTIALS_TYPE", f"expected PEM or KEYSTORE, got {config.credentials_type!r}"
        )
    # Imported here: ``cryptography`` is about 8 MB that a server without HTTPS never needs.
    from thingport.tls.files import load_into

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_into(context, config)
    return context


def _fail(variable: str, problem: str) -> ConfigError:
    # Foreign messages (OpenSSL, cryptography) may span lines; the contract is one line.
    return ConfigError(f"{variable}: {' '.join(problem.split())}")
