"""The public address of this server, for the absolute links it builds.

Activation links and "check connectivity" commands must name the address a person or a device
uses, not the one thingport listens on behind a proxy. In order:

1. ``THINGPORT_BASE_URL``, when set (``https://iot.example.com`` or with a path prefix);
2. from a trusted proxy (``THINGPORT_TRUSTED_PROXIES``): ``X-Forwarded-Host`` (else the ``Host``
   header), its port replaced by ``X-Forwarded-Port`` when there is one, and
   ``X-Forwarded-Proto``'s scheme (applied by ``http.forwarded``);
3. otherwise the request's own ``Host`` header and scheme.

A port that is the scheme's default is left out. A host that is not a host name, an IPv4 address
or a bracketed IPv6 address is a 400: it would end up in a link or a shell command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request

from thingport.errors import BadRequest
from thingport.http.forwarded import TRUSTED_PROXY

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# A DNS name, an IPv4 address or a bracketed IPv6 address, and an optional port: nothing a
# shell or curl would read as more than a host.
HOST: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?")


@dataclass(frozen=True, slots=True)
class PublicAddress:
    """Where clients reach this server: ``{scheme}://{authority}{prefix}``."""

    scheme: str
    authority: str  # host[:port], the port only when it is not the scheme's default
    prefix: str = ""  # a path without a trailing slash, from THINGPORT_BASE_URL

    @property
    def origin(self) -> str:
        """The address as a URL, to which paths like ``/activate`` are appended."""
        return f"{self.scheme}://{self.authority}{self.prefix}"


def authority(host: str, port: int | None, scheme: str) -> str:
    """``host[:port]`` without the scheme's default port."""
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return host
    return f"{host}:{port}"


def _split(raw: str) -> tuple[str, int | None]:
    match = HOST.fullmatch(raw.strip())
    if match is None or (match.group(2) is not None and int(match.group(2)) > 65535):
        raise BadRequest("Invalid Host header")
    return match.group(1), int(match.group(2)) if match.group(2) else None


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(name)
    # A proxy chain may list several: the first is the one the client used.
    return value.split(",")[0].strip() if value else None


def from_base_url(base_url: str) -> PublicAddress:
    """The address THINGPORT_BASE_URL names (validated when the settings were read)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return PublicAddress(parts.scheme, authority(host, parts.port, parts.scheme),
                         parts.path.rstrip("/"))


def public_address(request: Request) -> PublicAddress:
    """This server's address as the caller knows it (see the module's docstring)."""
    base_url: str | None = request.app.state.settings.base_url
    if base_url:
        return from_base_url(base_url)
    scheme = "https" if request.url.scheme in ("https", "wss") else "http"
    trusted = bool(request.scope.get(TRUSTED_PROXY))
    raw = (_header(request, "x-forwarded-host") if trusted else None) \
        or request.headers.get("host")
    if raw is None:
        server = request.scope.get("server")
        if not server:
            raise BadRequest("The request has no Host header")
        host, port = server
        raw = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    host, port = _split(raw)
    forwarded_port = _header(request, "x-forwarded-port") if trusted else None
    if forwarded_port:  # it wins over a port in the host, as in Spring's forwarded headers
        if not forwarded_port.isdigit() or int(forwarded_port) > 65535:
            raise BadRequest("Invalid X-Forwarded-Port header")
        port = int(forwarded_port)
    return PublicAddress(scheme, authority(host, port, scheme))
