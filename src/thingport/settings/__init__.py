"""The one place that reads the environment, and the one table of settings.

Every setting is declared once, as a field of `Settings` (or of `TlsConfig`, the ``SSL_*``
ones) made with `setting`: its type, default, environment variable, help and parser. `SETTINGS`
lists them, and from it come `Settings.from_env`, the options of ``thingport serve`` and their
``--help`` (``thingport.cli``), and the README's configuration table
(``python -m thingport.settings.doc``).

Names are ThingsBoard's where ThingsBoard has the setting (``HTTP_BIND_PORT``,
``HTTP_REQUEST_TIMEOUT``, ``SSL_*`` ...) and ``THINGPORT_*`` for what is ours. Settings are built
once at start and passed in; a bad value stops the server with a message naming the variable.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, cast

from thingport.errors import ConfigError
from thingport.settings.parsers import (
    choice,
    parse_base_url,
    parse_bool,
    parse_choice,
    parse_first_password,
    parse_non_negative_int,
    parse_port,
    parse_positive_int,
    parse_positive_seconds,
    parse_rate_limit_text,
    parse_trusted_proxies,
)

__all__ = [
    "DEFAULT_PAYLOAD_LIMITS", "LOG_FORMATS", "LOG_LEVELS", "SETTINGS", "TB_KEY_PASSWORD",
    "TB_PEM_KEY_PASSWORD", "CredentialsType", "KeyStoreType", "Setting", "Settings",
    "TlsConfig", "parse_base_url", "parse_bool", "parse_choice", "parse_trusted_proxies",
    "setting",
]

DEFAULT_PAYLOAD_LIMITS = "/api/v1/*/rpc/**=65536;/api/v1/**=52428800"
#: The levels THINGPORT_LOG_LEVEL accepts (uvicorn's names, which are also logging's).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
LOG_FORMATS = ("text", "json")

CredentialsType = Literal["PEM", "KEYSTORE"]
KeyStoreType = Literal["PKCS12", "JKS"]

#: ThingsBoard's defaults of SSL_PEM_KEY_PASSWORD and SSL_KEY_PASSWORD, tried when unset.
TB_PEM_KEY_PASSWORD: Final = "server_key_password"
TB_KEY_PASSWORD: Final = "thingsboard"

T = TypeVar("T")
_ROW = "thingport.setting"
_NESTED = "thingport.settings_of"


@dataclass(frozen=True)
class Setting:
    """One row of the table: how a setting is named, documented and parsed."""

    #: The field's name, which is also the option's (``--data-dir``); ``ssl_`` + the field's
    #: name for `TlsConfig`'s.
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    #: What the default means when the value alone does not say ("generated into the data
    #: dir"); shown instead of a None default, after another one.
    default_text: str | None = None
    #: An empty value is a value (an empty password), not "unset".
    keep_empty: bool = False

    @property
    def option(self) -> str:
        """The option of ``thingport serve``."""
        return "--" + self.name.replace("_", "-")


def setting(env: str, default: T, help: str, parse: Callable[[str], object] = str, *,
            default_text: str | None = None, keep_empty: bool = False,
            secret: bool = False) -> T:
    """A field of `Settings` (or `TlsConfig`) with its row of the table. ``secret`` keeps the
    value out of ``repr``."""
    row = Setting("", env, default, help, parse, default_text, keep_empty)
    return field(default=default, repr=not secret, metadata={_ROW: row})


@dataclass(frozen=True)
class TlsConfig:
    """The ``SSL_*`` settings, named and defaulted as in ThingsBoard's ``tb-http-transport.yml``.

    The two key passwords are None when their variable is not set. An encrypted PEM key is then
    tried with ThingsBoard's default, ``"server_key_password"``, and a keystore's key with the
    store password (keytool and openssl encrypt keys with it), then ThingsBoard's default
    ``"thingsboard"``. A password that is set must open its key: ThingsBoard would refuse it too.
    ``key_store`` keeps ThingsBoard's ``classpath:`` default; thingport has no classpath and
    reads such a path relative to the working directory. Passwords are left out of ``repr``.
    Paths and passwords are taken as they are (an empty SSL_PEM_KEY means the key is in
    SSL_PEM_CERT) and checked by ``thingport.tls.build_ssl_context``.
    """

    enabled: bool = setting("SSL_ENABLED", False, "Serve HTTPS on the listener.", parse_bool)
    # RUF009 takes a Literal for a mutable type; `setting` returns a Field, not a value.
    credentials_type: CredentialsType = setting(  # noqa: RUF009
        "SSL_CREDENTIALS_TYPE", "PEM", "Where the certificate and key are: PEM or KEYSTORE.",
        choice("PEM", "KEYSTORE"))
    pem_cert: str = setting(
        "SSL_PEM_CERT", "server.pem",
        "The certificate (or a chain, possibly holding the key too), a PEM file.",
        keep_empty=True)
    pem_key: str = setting(
        "SSL_PEM_KEY", "server_key.pem",
        "Its private key, a PEM file (empty: the key is in SSL_PEM_CERT).", keep_empty=True)
    pem_key_password: str | None = setting(
        "SSL_PEM_KEY_PASSWORD", None, "The password of an encrypted PEM key.",
        default_text=f"unset: {TB_PEM_KEY_PASSWORD} is tried", keep_empty=True, secret=True)
    key_store: str = setting(
        "SSL_KEY_STORE", "classpath:keystore/keystore.p12", "The keystore file.",
        default_text="read from the working directory", keep_empty=True)
    key_store_type: KeyStoreType = setting(  # noqa: RUF009
        "SSL_KEY_STORE_TYPE", "PKCS12", "The keystore's type: PKCS12 or JKS.",
        choice("PKCS12", "JKS"))
    key_store_password: str = setting(
        "SSL_KEY_STORE_PASSWORD", TB_KEY_PASSWORD, "The keystore's password.", keep_empty=True,
        secret=True)
    key_alias: str = setting("SSL_KEY_ALIAS", "tomcat", "The keystore's key entry.",
                             keep_empty=True)
    key_password: str | None = setting(
        "SSL_KEY_PASSWORD", None, "The key entry's password.",
        default_text=f"unset: the store password, then {TB_KEY_PASSWORD}", keep_empty=True,
        secret=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TlsConfig:
        """Read the ``SSL_*`` variables from ``environ``; unset ones keep ThingsBoard's default.

        Raises `ConfigError` naming the variable when a boolean or a choice is not valid.
        """
        return _build(cls, _read(tuple(_rows(cls)), environ))


def _rate_limit(env: str, profile_field: str, what: str) -> str | None:
    return setting(env, None, f"Default of tenant profiles' {profile_field} (capacity:seconds,"
                   f"..., e.g. 100:1,3000:60): {what}.", parse_rate_limit_text,
                   default_text="no limit")


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with ThingsBoard's defaults; in the README's order."""

    host: str = setting("HTTP_BIND_ADDRESS", "0.0.0.0", "Address to listen on.")
    port: int = setting("HTTP_BIND_PORT", 8080, "Port to listen on.", parse_port)
    workers: int = setting(
        "THINGPORT_WORKERS", 0,
        "Worker processes serving requests; 1 runs everything in one process.",
        parse_non_negative_int, default_text="one per CPU")
    data_dir: str = setting("THINGPORT_DATA_DIR", "./thingport-data",
                            "Directory of the SQLite database and the generated JWT key.")
    database_url: str | None = setting(
        "THINGPORT_DATABASE_URL", None,
        "The store: sqlite:///path or postgresql://user:password@host:port/database.",
        default_text="thingport.db in the data dir")
    database_pool_size: int = setting(
        "THINGPORT_DATABASE_POOL_SIZE", 8,
        "PostgreSQL connections per node (a few write lanes and a pool of readers), dealt "
        "out among its worker processes (two each at least); keep nodes x (pool size + "
        "workers) under the server's max_connections.", parse_positive_int)
    ts_partitioning: str = setting(
        "SQL_POSTGRES_TS_KV_PARTITIONING", "MONTHS",
        "Time partitions of PostgreSQL's ts_kv: DAYS, MONTHS, YEARS or INDEFINITE, as in "
        "ThingsBoard.", choice("DAYS", "MONTHS", "YEARS", "INDEFINITE"))
    ts_ttl_days: int = setting(
        "THINGPORT_TS_TTL_DAYS", 0,
        "Keep time-series history this many days: PostgreSQL drops whole partitions, SQLite "
        "deletes in bounded batches; latest values stay.", parse_non_negative_int,
        default_text="forever")
    request_timeout_ms: int = setting(
        "HTTP_REQUEST_TIMEOUT", 60000, "Default wait of long polls and client-side RPC, in ms.",
        parse_positive_int)
    max_request_timeout_ms: int = setting(
        "HTTP_MAX_REQUEST_TIMEOUT", 300000,
        "Longest wait a device may ask for with ?timeout=, in ms.", parse_positive_int)
    payload_limits: str = setting(
        "HTTP_TRANSPORT_MAX_PAYLOAD_SIZE_LIMIT_CONFIGURATION", DEFAULT_PAYLOAD_LIMITS,
        "Device API body size limits, 'antPattern=bytes;...', first match wins; counted on "
        "the bytes received, so chunked uploads are limited too.")
    rest_max_payload: int = setting(
        "THINGPORT_REST_MAX_PAYLOAD_SIZE", 16777216,
        "Body size limit of the REST API, in bytes (OTA uploads have their own).",
        parse_positive_int)
    ota_max_size: int = setting(
        "THINGPORT_OTA_MAX_SIZE", 2147483648,
        "Largest OTA package upload (firmware, software), in bytes.", parse_positive_int)
    json_type_cast: bool = setting("JSON_TYPE_CAST_ENABLED", True,
                                   "Store numeric strings ('42') as numbers.", parse_bool)
    json_max_string_length: int = setting(
        "JSON_MAX_STRING_VALUE_LENGTH", 1048576,
        "Longest string value of telemetry or attributes accepted, in characters (UTF-16 "
        "code units, as ThingsBoard counts); longer is a 400 (0: no limit, ThingsBoard's "
        "default).", parse_non_negative_int)
    json_max_json_length: int = setting(
        "THINGPORT_JSON_MAX_JSON_VALUE_LENGTH", 1048576,
        "Longest JSON (object or array) value of telemetry or attributes accepted, in "
        "characters of its compact text; longer is a 400 (0: no limit).",
        parse_non_negative_int)
    max_data_points: int = setting(
        "THINGPORT_MAX_DATA_POINTS_PER_REQUEST", 100000,
        "Most values (data points) one telemetry or attributes upload may carry; more is a "
        "413 and nothing of it is stored (0: no limit).", parse_non_negative_int)
    jwt_signing_key: str | None = setting(
        "JWT_TOKEN_SIGNING_KEY", None,
        "HS256 key of REST API tokens; set the same on every node of a cluster.",
        default_text="generated into the data dir", secret=True)
    jwt_expiration_s: int = setting("JWT_TOKEN_EXPIRATION_TIME", 9000,
                                    "Access token lifetime, in s.", parse_positive_int)
    jwt_refresh_expiration_s: int = setting(
        "JWT_REFRESH_TOKEN_EXPIRATION_TIME", 604800, "Refresh token lifetime, in s.",
        parse_positive_int)
    sysadmin_email: str = setting("THINGPORT_SYSADMIN_EMAIL", "sysadmin@thingsboard.org",
                                  "System administrator created on first start.")
    sysadmin_password: str | None = setting(
        "THINGPORT_SYSADMIN_PASSWORD", None,
        "Its password (6 to 72 characters).", parse_first_password,
        default_text="generated and printed once", secret=True)
    tenant_admin_email: str = setting(
        "THINGPORT_TENANT_ADMIN_EMAIL", "tenant@thingsboard.org",
        "Administrator of the default tenant created on first start.")
    tenant_admin_password: str | None = setting(
        "THINGPORT_TENANT_ADMIN_PASSWORD", None,
        "Its password (6 to 72 characters).", parse_first_password,
        default_text="generated and printed once", secret=True)
    rpc_default_timeout_ms: int = setting(
        "DEFAULT_SERVER_SIDE_RPC_TIMEOUT", 10000,
        "Server-side RPC timeout when the request names none, in ms.", parse_positive_int)
    rpc_min_timeout_ms: int = setting("MIN_SERVER_SIDE_RPC_TIMEOUT", 5000,
                                      "Shortest server-side RPC timeout, in ms.",
                                      parse_positive_int)
    client_rpc_timeout_ms: int = setting(
        "CLIENT_SIDE_RPC_TIMEOUT", 60000,
        "How long a device's client-side RPC waits for an answer, in ms.", parse_positive_int)
    claim_duration_ms: int = setting(
        "SECURITY_CLAIM_DURATION", 86400000,
        "How long a device's claim window stays open when it names none, in ms.",
        parse_positive_int)
    claim_allowed_by_default: bool = setting(
        "SECURITY_CLAIM_ALLOW_CLAIMING_BY_DEFAULT", True,
        "Devices may be claimed without the server attribute claimingAllowed=true.",
        parse_bool)
    #: HTTPS: the ``SSL_*`` rows, options ``--ssl-enabled`` ...
    tls: TlsConfig = field(default_factory=TlsConfig, metadata={_NESTED: "ssl_"})
    trusted_proxies: str | None = setting(
        "THINGPORT_TRUSTED_PROXIES", None,
        "Comma-separated addresses or networks (10.0.0.0/8), or * for any, of reverse "
        "proxies whose X-Forwarded-For, -Proto, -Host and -Port are believed; anything else "
        "stops the server.", parse_trusted_proxies, default_text="none")
    base_url: str | None = setting(
        "THINGPORT_BASE_URL", None,
        "The public address, e.g. https://iot.example.com, for the links thingport builds "
        "(activation links, connectivity commands); default: from the trusted proxy's "
        "X-Forwarded-* headers, else the request's Host.", parse_base_url,
        default_text="from the request")
    metrics_enabled: bool = setting(
        "THINGPORT_METRICS_ENABLED", True,
        "Serve Prometheus metrics at GET /metrics (no authentication; keep it off the "
        "public proxy).", parse_bool)
    log_level: str = setting("THINGPORT_LOG_LEVEL", "info",
                             "Log level: critical, error, warning, info, debug or trace.",
                             choice(*LOG_LEVELS))
    log_format: str = setting(
        "THINGPORT_LOG_FORMAT", "text",
        "Log lines as text, or json: one JSON object a line (time, level, logger, message, "
        "exception).", choice(*LOG_FORMATS))
    ws_ping_timeout_ms: int = setting(
        "TB_SERVER_WS_PING_TIMEOUT", 30000,
        "A WebSocket that answers no ping for this long is closed, in ms; the server pings "
        "every third of it.", parse_positive_int)
    http_header_timeout_s: float = setting(
        "THINGPORT_HTTP_HEADER_TIMEOUT", 20.0,
        "Time a client has to send a request's line and headers (from its connection, or a "
        "keep-alive request's first byte), in s, fractions allowed; then 408 and closed "
        "(nginx: client_header_timeout).", parse_positive_seconds)
    http_body_timeout_s: float = setting(
        "THINGPORT_HTTP_BODY_TIMEOUT", 20.0,
        "Longest pause between two parts of a request body, in s; then 408 and closed (the "
        "time to answer, such as a long poll's, is not limited by it; nginx: "
        "client_body_timeout).", parse_positive_seconds)
    http_max_header_size: int = setting(
        "THINGPORT_HTTP_MAX_HEADER_SIZE", 32768,
        "Largest request line and headers, in bytes; larger is answered 431 (nginx: "
        "large_client_header_buffers).", parse_positive_int)
    http_max_headers: int = setting("THINGPORT_HTTP_MAX_HEADERS", 100,
                                    "Most header fields in a request; more is answered 431.",
                                    parse_positive_int)
    http_max_connections: int = setting(
        "THINGPORT_HTTP_MAX_CONNECTIONS", 0,
        "Most open connections (HTTP, long polls and WebSockets); past it a new one gets 503 "
        "(health checks are still answered), and past a reserve above it is closed at once "
        "(nginx: worker_connections).", parse_non_negative_int,
        default_text="the open-files limit less a tenth")
    provision_max_failures: int = setting(
        "THINGPORT_PROVISION_MAX_FAILURES", 10,
        "Wrong provision keys or secrets (NOT_FOUND) one address may send within the failure "
        "window before it is answered 429.", parse_positive_int)
    provision_failure_window_s: int = setting(
        "THINGPORT_PROVISION_FAILURE_WINDOW", 60,
        "The provisioning failure window, and how long a blocked address waits, in s.",
        parse_positive_int)
    login_max_failures: int = setting(
        "THINGPORT_LOGIN_MAX_FAILURES", 10,
        "Failed logins one address may have within the login failure window before it is "
        "answered 429.", parse_positive_int)
    login_failure_window_s: int = setting(
        "THINGPORT_LOGIN_FAILURE_WINDOW", 60,
        "The login failure window, and how long a blocked address waits, in s.",
        parse_positive_int)
    login_lockout_s: int = setting(
        "THINGPORT_LOGIN_LOCKOUT", 900,
        "How long an account locked after too many wrong passwords (the security settings' "
        "maxFailedLoginAttempts, default 10) stays locked, in s (0: until an administrator "
        "unlocks it).", parse_non_negative_int)
    password_hash_concurrency: int = setting(
        "THINGPORT_PASSWORD_HASH_CONCURRENCY", 2,
        "Passwords hashed at once (each takes a CPU core and 64 MiB for tens of ms); more "
        "logins wait in line.", parse_positive_int)
    ip_limits_enabled: bool = setting(
        "TB_TRANSPORT_IP_RATE_LIMITS_ENABLED", True,
        "Block an address that sends too many wrong access tokens to the device API.",
        parse_bool, default_text="ThingsBoard: false")
    max_wrong_credentials_per_ip: int = setting(
        "TB_TRANSPORT_MAX_WRONG_CREDENTIALS_PER_IP", 10,
        "Wrong access tokens one address may send within the block timeout before it is "
        "answered 429.", parse_positive_int)
    ip_block_timeout_ms: int = setting(
        "TB_TRANSPORT_IP_BLOCK_TIMEOUT", 60000,
        "The wrong-token counting window, and how long a blocked address waits, in ms.",
        parse_positive_int)
    claim_max_failures: int = setting(
        "THINGPORT_CLAIM_MAX_FAILURES", 10,
        "Failed claims (wrong secretKey, no open claim window) one address may make within "
        "the claim failure window before it is answered 429.", parse_positive_int)
    claim_failure_window_s: int = setting(
        "THINGPORT_CLAIM_FAILURE_WINDOW", 60,
        "The claim failure window, and how long a blocked address waits, in s.",
        parse_positive_int)
    tenant_msg_rate_limit: str | None = _rate_limit(
        "THINGPORT_TRANSPORT_TENANT_MSG_RATE_LIMIT", "transportTenantMsgRateLimit",
        "a tenant's device messages without data points")
    tenant_telemetry_msg_rate_limit: str | None = _rate_limit(
        "THINGPORT_TRANSPORT_TENANT_TELEMETRY_MSG_RATE_LIMIT",
        "transportTenantTelemetryMsgRateLimit",
        "a tenant's telemetry (and attribute upload) messages")
    tenant_telemetry_data_points_rate_limit: str | None = _rate_limit(
        "THINGPORT_TRANSPORT_TENANT_TELEMETRY_DATA_POINTS_RATE_LIMIT",
        "transportTenantTelemetryDataPointsRateLimit",
        "the data points of a tenant's telemetry (and attribute uploads)")
    device_msg_rate_limit: str | None = _rate_limit(
        "THINGPORT_TRANSPORT_DEVICE_MSG_RATE_LIMIT", "transportDeviceMsgRateLimit",
        "a device's messages without data points")
    device_telemetry_msg_rate_limit: str | None = _rate_limit(
        "THINGPORT_TRANSPORT_DEVICE_TELEMETRY_MSG_RATE_LIMIT",
        "transportDeviceTelemetryMsgRateLimit",
        "a device's telemetry (and attribute upload) messages")
    device_telemetry_data_points_rate_limit: str | None = _rate_limit(
        "THINGPORT_TRANSPORT_DEVICE_TELEMETRY_DATA_POINTS_RATE_LIMIT",
        "transportDeviceTelemetryDataPointsRateLimit",
        "the data points of a device's telemetry (and attribute uploads)")
    redis_url: str | None = setting(
        "THINGPORT_REDIS_URL", None,
        "Redis, the bus of several nodes behind a load balancer (redis://host:6379/0).",
        default_text="none: in-process, one node")
    inactivity_timeout_s: int = setting(
        "DEFAULT_INACTIVITY_TIMEOUT", 600,
        "A device without requests for this long becomes inactive (server attribute "
        "active=false), in s.", parse_positive_int)
    state_check_interval_s: int = setting(
        "DEFAULT_STATE_CHECK_INTERVAL", 60,
        "How often devices are checked for inactivity, in s.", parse_positive_int)
    activity_flush_interval_ms: int = setting(
        "THINGPORT_ACTIVITY_FLUSH_INTERVAL", 5000,
        "How often the last activity times of active devices are written to the store, in "
        "ms (a device turning active is written within a second).", parse_positive_int)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Settings from the environment, then ``overrides`` (command-line options, parsed,
        by `Setting.name`) on top."""
        unknown = set(overrides) - {row.name for row in SETTINGS}
        if unknown:
            raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
        values = _read(SETTINGS, os.environ if environ is None else environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return _build(cls, values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed."""
        return dataclasses.replace(self, **changes)

    @property
    def store_url(self) -> str:
        """The store URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return "sqlite:///" + str(Path(self.data_dir) / "thingport.db")


def _rows(cls: type, prefix: str = "") -> Iterator[Setting]:
    """The rows of ``cls``'s fields, in order, nested ones in their place."""
    for item in dataclasses.fields(cls):
        if _NESTED in item.metadata:
            nested = item.default_factory
            assert isinstance(nested, type)
            yield from _rows(nested, prefix + item.metadata[_NESTED])
        else:
            yield dataclasses.replace(item.metadata[_ROW], name=prefix + item.name)


def _read(rows: tuple[Setting, ...], environ: Mapping[str, str]) -> dict[str, Any]:
    """The values set in ``environ``, parsed, by `Setting.name`; blank is unset (unless
    `Setting.keep_empty`)."""
    values: dict[str, Any] = {}
    for row in rows:
        raw = environ.get(row.env)
        if raw is None or (not raw.strip() and not row.keep_empty):
            continue
        try:
            values[row.name] = row.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{row.env}: {exc}") from None
    return values


def _build(cls: type[T], values: Mapping[str, Any], prefix: str = "") -> T:
    """A ``cls`` from ``values`` (by `Setting.name`); what they lack keeps its default."""
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(cast(Any, cls)):
        if _NESTED in item.metadata:
            kwargs[item.name] = _build(cast(type, item.default_factory), values,
                                       prefix + item.metadata[_NESTED])
        elif prefix + item.name in values:
            kwargs[item.name] = values[prefix + item.name]
    return cls(**kwargs)


#: Every setting, in the order of the README's table.
SETTINGS: tuple[Setting, ...] = tuple(_rows(Settings))
