"""Run the app under uvicorn: the listener (bound before anything starts), TLS, trusted
proxies, and a clean stop.

Stopping (SIGTERM, SIGINT): uvicorn closes the listener, asks each connection to close once its
response is out, waits up to ``timeout_graceful_shutdown`` for the requests still running, then
cancels them (a 500 and a traceback each) and runs the lifespan's shutdown. Long polls would
wait out their timeout there, so ``ThingportServer.shutdown`` first closes the listener and has
the app answer every waiting poll as expired (408) and close every WebSocket with 1001
(``Lifecycle.stop``); then uvicorn's own sequence finds only short requests left, which it lets
finish, and the lifespan's shutdown commits what the store still has queued.
"""

from __future__ import annotations

import errno
import gc
import logging
import resource
import shutil
import socket
from typing import Any

import uvicorn

from thingport.app import Thingport, create_app, jwt_key
from thingport.errors import ConfigError
from thingport.http.forwarded import ForwardedHeaders, TrustedProxies
from thingport.http.limits import HttpLimits, LimitedHttpToolsProtocol, connection_cap
from thingport.log_config import configure_logging
from thingport.settings import Settings, TlsConfig
from thingport.store import sqlite_path
from thingport.store.sqlite.lock import check_free
from thingport.tls import build_ssl_context

log = logging.getLogger("uvicorn.error")

#: Backstop only: polls and sockets end at once; this bounds the requests that still write.
GRACEFUL_SHUTDOWN_S = 5


class ThingportConfig(uvicorn.Config):
    """uvicorn's configuration with the SSL context built by ``thingport.tls`` (uvicorn's own
    options take only PEM file paths; ThingsBoard's variables also allow keystores)."""

    def __init__(self, app: Any, *, tls: TlsConfig, http_limits: HttpLimits | None = None,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        # Keep the config, not a context: uvicorn pickles its config into worker processes.
        self.tls = tls if tls.enabled else None
        #: Read by ``LimitedHttpToolsProtocol``, one per connection.
        self.http_limits = http_limits or HttpLimits()

    def load(self) -> None:
        super().load()
        if self.tls is not None:
            self.ssl = build_ssl_context(self.tls)


class ThingportServer(uvicorn.Server):
    """uvicorn's server, with the waiting requests ended before uvicorn waits for them."""

    def __init__(self, config: uvicorn.Config, app: Thingport) -> None:
        super().__init__(config)
        self.thingport = app

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start, then the "running on" line it logs only for sockets of its own."""
        await super().startup(sockets)
        if self.started and sockets:
            # uvicorn says where it listens only for sockets it bound itself.
            self._log_started_message(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Close the listener, end every wait (408, 1001), then uvicorn's own shutdown."""
        # Stop accepting first (uvicorn does it again; closing twice is harmless): a device
        # answered 408 below must reconnect to the next server, not to this one.
        for server in getattr(self, "servers", ()):
            server.close()
        for sock in sockets or ():
            sock.close()
        await self.thingport.stop_waiting()
        await super().shutdown(sockets)


def uvicorn_config(settings: Settings, app: Thingport) -> uvicorn.Config:
    """uvicorn's configuration for ``settings``: no body limit of its own (the app enforces
    ThingsBoard's), no access log on the hot path."""
    asgi: Any = app
    if settings.trusted_proxies:
        # Our own middleware instead of uvicorn's: it also marks requests from a trusted
        # proxy, whose X-Forwarded-Host and -Port the links then use.
        asgi = ForwardedHeaders(app, TrustedProxies(settings.trusted_proxies))
    return ThingportConfig(
        asgi,
        tls=settings.tls,
        http_limits=http_limits(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools, with the timeouts and limits of the connection uvicorn lacks.
        http=LimitedHttpToolsProtocol,
        lifespan="on",
        access_log=False,
        # Logging is ours (``log_config.configure_logging``, done by now); uvicorn's own
        # configuration would give its loggers a second format.
        log_config=None,
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=60,
        # WebSocket keepalive as ThingsBoard's: by default a ping every 10 s, closed after 30 s
        # without a pong. The frame limit is checked by the session too (with ThingsBoard's
        # 1009); this one keeps a larger frame from being buffered at all.
        ws_ping_interval=settings.ws_ping_timeout_ms / 3000,
        ws_ping_timeout=settings.ws_ping_timeout_ms / 1000,
        ws_max_size=65536,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def http_limits(settings: Settings) -> HttpLimits:
    """The connection limits of ``settings``; the automatic connection cap is taken from the
    open-files limit in force (``cli`` has raised it to the hard limit by now). The process
    that raised it (the primary) says once how many connections that leaves room for."""
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if open_files == resource.RLIM_INFINITY:
        open_files = 1 << 20
    cap, reserve = connection_cap(settings.http_max_connections, open_files)
    if cap + reserve > open_files:
        log.warning("THINGPORT_HTTP_MAX_CONNECTIONS=%d (and %d more for health checks) is above "
                    "the open-files limit of %d: connections may fail with 'Too many open "
                    "files' before the cap refuses them", cap, reserve, open_files)
    from thingport.http.limits import open_files_change, open_files_line

    change = open_files_change()
    if change is not None:
        from thingport.workers import worker_count

        log.info("%s", open_files_line(*change, cap, worker_count(settings),
                                       bool(settings.http_max_connections)))
    return HttpLimits(
        header_timeout_s=settings.http_header_timeout_s,
        body_timeout_s=settings.http_body_timeout_s,
        max_header_bytes=settings.http_max_header_size,
        max_headers=settings.http_max_headers,
        max_connections=cap,
        reserve=reserve,
    )


def bind(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets for ``host``:``port`` (every address the name has, as asyncio would
    bind them), or a one-line ConfigError naming the variable at fault. With ``reuse_port``,
    more sets may be bound to the same port, and the kernel spreads new connections evenly
    over them (one set per worker process)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"HTTP_BIND_ADDRESS: cannot listen on {host!r}: {exc.strerror}") \
            from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(
            (i[0], i[1], i[2], i[3], i[4][:2]) for i in infos
        ):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"HTTP_BIND_PORT: {where} is already in use by another program") \
                from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise ConfigError(f"HTTP_BIND_PORT: not allowed to listen on {where} "
                              f"(ports below 1024 need privileges)") from None
        raise ConfigError(f"HTTP_BIND_ADDRESS: cannot listen on {where}: {exc.strerror}") \
            from None
    return sockets


def check_extras(settings: Settings) -> None:
    """Drivers that optional settings need, checked before anything starts."""
    if settings.redis_url:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigError(
                "THINGPORT_REDIS_URL: Redis needs its driver, which is not installed: "
                "pip install 'thingport[redis]'"
            ) from None


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections: a body of a million samples becomes millions of objects,
    and with Python's default thresholds the collector made many full passes over them while
    it was parsed and stored, each stopping every thread (up to 0.64 s; bench/writer_stall.py).
    What exists at start (modules, the app) is frozen out of those passes."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run(settings: Settings) -> None:
    """Serve until stopped. A bad setting, a TLS problem or a port in use stops here with one
    line (a ConfigError), before anything listens or the store is opened."""
    from thingport.bus.ipc import HubBus
    from thingport.workers import Workers, worker_count

    check_extras(settings)
    database = sqlite_path(settings.store_url)
    if database is not None:
        check_free(database)
    if settings.tls.enabled:
        build_ssl_context(settings.tls)
    configure_logging(settings)
    count = worker_count(settings)
    sockets = bind(settings.host, settings.port)
    if count > 1:
        # Bound once without reuse-port, as a single server is, so that a port anyone holds
        # (even with reuse-port) is refused; then again for sharing among the workers.
        port = sockets[0].getsockname()[1]
        for sock in sockets:
            sock.close()
        sockets = bind(settings.host, port, reuse_port=True)
    workers: Workers | None = None
    try:
        if count > 1:
            # One signing key for every process, made before any of them starts; a configured
            # connection cap is the whole server's, dealt out as the kernel deals connections,
            # and so are its PostgreSQL connections (each process has its own pool, two
            # connections at least: a write lane and a reader).
            settings = settings.replace(
                jwt_signing_key=jwt_key(settings),
                http_max_connections=-(-settings.http_max_connections // count),
                database_pool_size=max(2, -(-settings.database_pool_size // count)))
            # A listener of its own for each worker: a connection waits in its worker's queue
            # (even while that worker restarts), and the kernel deals them out evenly, which
            # a shared listener does not (the idlest process takes most of a burst).
            workers = Workers(settings, [
                bind(settings.host, port, reuse_port=True) for _ in range(count - 1)],
                own=sockets)
            hub = HubBus(workers.bus_socket) if workers.bus_socket else None
            app = create_app(settings, bus=hub, workers=workers)
        else:
            app = create_app(settings)
        tune_garbage_collector()
        server = ThingportServer(uvicorn_config(settings, app), app)
        try:
            server.run(sockets=sockets)
        except SystemExit:
            # uvicorn exits when the lifespan's start fails; a bad setting is then one line.
            if app.startup_error is not None:
                raise app.startup_error from None
            raise
    finally:
        for sock in sockets:
            sock.close()
        if workers is not None:
            workers.close_listeners()
            shutil.rmtree(workers.runtime, ignore_errors=True)
