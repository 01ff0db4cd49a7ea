"""Which proxies to believe: the ``X-Forwarded-*`` headers of ``THINGPORT_TRUSTED_PROXIES`` only.

A request whose peer is a trusted proxy gets, as uvicorn's own ``ProxyHeadersMiddleware``
would do, its client address from ``X-Forwarded-For`` (the nearest address that is not itself
a trusted proxy) and its scheme from ``X-Forwarded-Proto``. It is also marked (``TRUSTED_PROXY``
in its scope), so that the links thingport builds may use the proxy's ``X-Forwarded-Host`` and
``X-Forwarded-Port`` (``thingport.api.public_url``); uvicorn's middleware forgets who the peer
was, so it could not tell those from a client's own. Anybody else's forwarded headers are
ignored: they could claim any address (and dodge the per-address provisioning limit).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from thingport.http.asgi import Receive, Scope, Send
from thingport.lru import LruCache

#: Scope key, True when the request came through a trusted proxy.
TRUSTED_PROXY = "thingport.trusted_proxy"
#: Peer addresses whose trust has been decided, kept at most (the least recently seen are
#: forgotten first, and decided again when they come back).
_CACHE_SIZE = 4096

Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The addresses and networks of ``THINGPORT_TRUSTED_PROXIES`` (``*``: every address)."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self.networks: list[Network] = [
            ipaddress.ip_network(item, strict=False) for item in items if item != "*"
        ]
        self._known: LruCache[str, bool] = LruCache(_CACHE_SIZE)

    def __contains__(self, host: str) -> bool:
        if self.everyone:
            return True
        # Decided once per peer: a proxy sends many requests from few addresses.
        known = self._known.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host)
                known = any(address in network for network in self.networks)
            except ValueError:  # a Unix socket peer, or no address at all
                known = False
            self._known[host] = known
        return known

    def client(self, forwarded_for: str) -> str:
        """The client behind ``X-Forwarded-For``: the nearest hop that is not a trusted
        proxy, or the farthest one when all are."""
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0] if hops else ""


class ForwardedHeaders:
    """ASGI middleware applying what a trusted proxy forwards."""

    def __init__(self, app: Asgi, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and peer[0] in self.trusted:
                self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        scope[TRUSTED_PROXY] = True
        proto = forwarded_for = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[0].strip().lower()
            elif name == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
        if proto in ("http", "https", "ws", "wss"):
            if scope["type"] == "websocket":
                scope["scheme"] = proto.replace("http", "ws")
            else:
                scope["scheme"] = proto.replace("ws", "http")
        if forwarded_for:
            client = self.trusted.client(forwarded_for)
            if client:
                scope["client"] = (client, 0)
