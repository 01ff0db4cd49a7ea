"""The one place that reads the environment.

Names are ThingsBoard's where ThingsBoard has the setting (``HTTP_BIND_PORT``,
``HTTP_REQUEST_TIMEOUT``, ``SSL_*`` ...) and ``THINGPORT_*`` for what is ours. Settings are built
once at start and passed in; a bad value stops the server with a message naming the variable.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from thingport.domain.password_policy import PasswordPolicy
from thingport.domain.rate_limit import format_rate_limit, parse_rate_limit
from thingport.errors import ConfigError
from thingport.tls import TlsConfig

DEFAULT_PAYLOAD_LIMITS = "/api/v1/*/rpc/**=65536;/api/v1/**=52428800"

T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    """How one setting is named, documented and parsed; drives both the env and `--help`."""

    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def parse_bool(text: str) -> bool:
    """Accept the spellings ThingsBoard's YAML accepts for booleans."""
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _int(text: str, problem: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{problem}, got {text!r}") from None


def parse_positive_int(text: str) -> int:
    """An integer above zero."""
    value = _int(text, "must be a positive integer")
    if value <= 0:
        raise ValueError(f"must be a positive integer, got {text!r}")
    return value


def parse_non_negative_int(text: str) -> int:
    """An integer, zero or more."""
    value = _int(text, "must be zero or more")
    if value < 0:
        raise ValueError(f"must be zero or more, got {text!r}")
    return value


def parse_choice(text: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, case-insensitively."""
    value = text.strip().upper()
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
    return value


def parse_positive_seconds(text: str) -> float:
    """A number of seconds above zero; fractions allowed (0.5)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {text!r}")
    return value


def parse_port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a port number (0-65535), got {text!r}")
    return value


#: The levels THINGPORT_LOG_LEVEL accepts (uvicorn's names, which are also logging's).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def parse_log_level(text: str) -> str:
    """One of LOG_LEVELS, case-insensitively."""
    level = text.strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return level


def parse_trusted_proxies(text: str) -> str:
    """Comma-separated IP addresses or networks (``10.0.0.0/8``), or ``*`` for any address;
    returned cleaned up (no blanks). Anything else is refused, so that a typo cannot silently
    trust nobody (or everybody)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"expected IP addresses or networks (e.g. 127.0.0.1,10.0.0.0/8) or *, "
                f"got {item!r}"
            ) from None
    return ",".join(items)


def parse_first_password(text: str) -> str:
    """A first administrator's password, which must follow ThingsBoard's default password
    policy (the one a fresh store starts with)."""
    problems = PasswordPolicy().problems(text)
    if problems:
        raise ValueError(" ".join(problems))
    return text


def parse_rate_limit_text(text: str) -> str | None:
    """ThingsBoard's rate-limit syntax, ``capacity:seconds,...`` (e.g. 100:1,3000:60),
    returned tidied; None (no limit) when blank."""
    return format_rate_limit(parse_rate_limit(text)) or None


def _rate_limit_setting(name: str, field_name: str, what: str) -> Setting:
    env = "THINGPORT_" + "".join("_" + c if c.isupper() else c.upper()
                                 for c in field_name).lstrip("_")
    return Setting(name, env, None,
                   f"Default of tenant profiles' {field_name}: {what} (e.g. 100:1,3000:60; "
                   "default: no limit).", parse_rate_limit_text)


def parse_base_url(text: str) -> str:
    """An absolute http(s) URL without query or fragment, returned without a trailing slash."""
    url = text.strip()
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"has an invalid port: {text!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http(s)://host[:port][/path], got {text!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"expected no user, query or fragment, got {text!r}")
    return url.rstrip("/")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "HTTP_BIND_ADDRESS", "0.0.0.0", "Address to listen on."),
    Setting("port", "HTTP_BIND_PORT", 8080, "Port to listen on.", parse_port),
    Setting("workers", "THINGPORT_WORKERS", 0,
            "Worker processes serving requests (0: one per CPU; 1: a single process).",
            parse_non_negative_int),
    Setting("data_dir", "THINGPORT_DATA_DIR", "./thingport-data",
            "Directory for the SQLite database and the generated JWT key."),
    Setting("database_url", "THINGPORT_DATABASE_URL", None,
            "Store URL: sqlite:///path/to/file.db (default: <data-dir>/thingport.db)."),
    Setting("database_pool_size", "THINGPORT_DATABASE_POOL_SIZE", 8,
            "PostgreSQL connections per node (write lanes and readers together).",
            parse_positive_int),
    Setting("ts_partitioning", "SQL_POSTGRES_TS_KV_PARTITIONING", "MONTHS",
            "PostgreSQL time-series partitions: DAYS, MONTHS, YEARS or INDEFINITE.",
            lambda text: parse_choice(text, ("DAYS", "MONTHS", "YEARS", "INDEFINITE"))),
    Setting("ts_ttl_days", "THINGPORT_TS_TTL_DAYS", 0,
            "Keep time-series history this many days (0: forever); on PostgreSQL whole "
            "partitions are dropped.", parse_non_negative_int),
    Setting("request_timeout_ms", "HTTP_REQUEST_TIMEOUT", 60000,
            "Default wait of long polls and client-side RPC, in ms.", parse_positive_int),
    Setting("max_request_timeout_ms", "HTTP_MAX_REQUEST_TIMEOUT", 300000,
            "Longest wait a device may ask for with ?timeout=, in ms.", parse_positive_int),
    Setting("redis_url", "THINGPORT_REDIS_URL", None,
            "Redis for several nodes behind a load balancer (redis://host:6379/0); "
            "default: in-process, one node."),
    Setting("claim_duration_ms", "SECURITY_CLAIM_DURATION", 86400000,
            "How long a device's claim window stays open when it names none, in ms.",
            parse_positive_int),
    Setting("claim_allowed_by_default", "SECURITY_CLAIM_ALLOW_CLAIMING_BY_DEFAULT", True,
            "Devices may be claimed without the server attribute claimingAllowed=true.",
            parse_bool),
    Setting("provision_max_failures", "THINGPORT_PROVISION_MAX_FAILURES", 10,
            "Wrong provision keys or secrets (NOT_FOUND) one address may send within the "
            "failure window before it is answered 429.", parse_positive_int),
    Setting("provision_failure_window_s", "THINGPORT_PROVISION_FAILURE_WINDOW", 60,
            "The provisioning failure window, and how long a blocked address waits, in s.",
            parse_positive_int),
    Setting("login_max_failures", "THINGPORT_LOGIN_MAX_FAILURES", 10,
            "Failed logins one address may have within the login failure window before it "
            "is answered 429.", parse_positive_int),
    Setting("login_failure_window_s", "THINGPORT_LOGIN_FAILURE_WINDOW", 60,
            "The login failure window, and how long a blocked address waits, in s.",
            parse_positive_int),
    Setting("login_lockout_s", "THINGPORT_LOGIN_LOCKOUT", 900,
            "How long an account locked after too many wrong passwords (the security "
            "settings' maxFailedLoginAttempts) stays locked, in s (0: until an administrator "
            "unlocks it).", parse_non_negative_int),
    Setting("password_hash_concurrency", "THINGPORT_PASSWORD_HASH_CONCURRENCY", 2,
            "Passwords hashed at once (each takes a CPU core and 64 MiB for tens of ms); "
            "more logins wait in line.", parse_positive_int),
    Setting("ip_limits_enabled", "TB_TRANSPORT_IP_RATE_LIMITS_ENABLED", True,
            "Block an address that sends too many wrong access tokens to the device API "
            "(ThingsBoard's default: false).", parse_bool),
    Setting("max_wrong_credentials_per_ip", "TB_TRANSPORT_MAX_WRONG_CREDENTIALS_PER_IP", 10,
            "Wrong access tokens one address may send within the block timeout before it is "
            "answered 429.", parse_positive_int),
    Setting("ip_block_timeout_ms", "TB_TRANSPORT_IP_BLOCK_TIMEOUT", 60000,
            "The wrong-token counting window, and how long a blocked address waits, in ms.",
            parse_positive_int),
    Setting("claim_max_failures", "THINGPORT_CLAIM_MAX_FAILURES", 10,
            "Failed claims (wrong secretKey, no open claim window) one address may make "
            "within the claim failure window before it is answered 429.", parse_positive_int),
    Setting("claim_failure_window_s", "THINGPORT_CLAIM_FAILURE_WINDOW", 60,
            "The claim failure window, and how long a blocked address waits, in s.",
            parse_positive_int),
    _rate_limit_setting("tenant_msg_rate_limit", "transportTenantMsgRateLimit",
                        "a tenant's device messages without data points"),
    _rate_limit_setting("tenant_telemetry_msg_rate_limit", "transportTenantTelemetryMsgRateLimit",
                        "a tenant's telemetry (and attribute upload) messages"),
    _rate_limit_setting("tenant_telemetry_data_points_rate_limit",
                        "transportTenantTelemetryDataPointsRateLimit",
                        "the data points of a tenant's telemetry (and attribute uploads)"),
    _rate_limit_setting("device_msg_rate_limit", "transportDeviceMsgRateLimit",
                        "a device's messages without data points"),
    _rate_limit_setting("device_telemetry_msg_rate_limit", "transportDeviceTelemetryMsgRateLimit",
                        "a device's telemetry (and attribute upload) messages"),
    _rate_limit_setting("device_telemetry_data_points_rate_limit",
                        "transportDeviceTelemetryDataPointsRateLimit",
                        "the data points of a device's telemetry (and attribute uploads)"),
    Setting("rpc_default_timeout_ms", "DEFAULT_SERVER_SIDE_RPC_TIMEOUT", 10000,
            "Server-side RPC timeout when the request names none, in ms.", parse_positive_int),
    Setting("rpc_min_timeout_ms", "MIN_SERVER_SIDE_RPC_TIMEOUT", 5000,
            "Shortest server-side RPC timeout, in ms.", parse_positive_int),
    Setting("client_rpc_timeout_ms", "CLIENT_SIDE_RPC_TIMEOUT", 60000,
            "How long a device's client-side RPC waits for an answer, in ms.",
            parse_positive_int),
    Setting("payload_limits", "HTTP_TRANSPORT_MAX_PAYLOAD_SIZE_LIMIT_CONFIGURATION",
            DEFAULT_PAYLOAD_LIMITS,
            "Body size limits, 'antPattern=bytes;...', first match wins."),
    Setting("rest_max_payload", "THINGPORT_REST_MAX_PAYLOAD_SIZE", 16777216,
            "Body size limit of the REST API, in bytes.", parse_positive_int),
    Setting("ota_max_size", "THINGPORT_OTA_MAX_SIZE", 2147483648,
            "Largest OTA package upload (firmware, software), in bytes; instead of the REST "
            "limit.", parse_positive_int),
    Setting("json_type_cast", "JSON_TYPE_CAST_ENABLED", True,
            "Store numeric strings ('42') as numbers.", parse_bool),
    Setting("json_max_string_length", "JSON_MAX_STRING_VALUE_LENGTH", 1048576,
            "Longest string value of telemetry or attributes accepted, in characters (UTF-16 "
            "code units, as ThingsBoard counts); a longer one is answered 400 (0: no limit).",
            parse_non_negative_int),
    Setting("json_max_json_length", "THINGPORT_JSON_MAX_JSON_VALUE_LENGTH", 1048576,
            "Longest JSON (object or array) value of telemetry or attributes accepted, in "
            "characters of its compact text; a longer one is answered 400 (0: no limit).",
            parse_non_negative_int),
    Setting("max_data_points", "THINGPORT_MAX_DATA_POINTS_PER_REQUEST", 100000,
            "Most values (data points) one telemetry or attributes upload may carry; more is "
            "413 (0: no limit).", parse_non_negative_int),
    Setting("jwt_signing_key", "JWT_TOKEN_SIGNING_KEY", None,
            "HS256 key for REST API tokens (default: generated once into the data dir; "
            "set it on every node of a cluster)."),
    Setting("jwt_expiration_s", "JWT_TOKEN_EXPIRATION_TIME", 9000,
            "Access token lifetime, in seconds.", parse_positive_int),
    Setting("jwt_refresh_expiration_s", "JWT_REFRESH_TOKEN_EXPIRATION_TIME", 604800,
            "Refresh token lifetime, in seconds.", parse_positive_int),
    Setting("sysadmin_email", "THINGPORT_SYSADMIN_EMAIL", "sysadmin@thingsboard.org",
            "System administrator created on first start."),
    Setting("sysadmin_password", "THINGPORT_SYSADMIN_PASSWORD", None,
            "Its password (default: generated and printed once).", parse_first_password),
    Setting("tenant_admin_email", "THINGPORT_TENANT_ADMIN_EMAIL", "tenant@thingsboard.org",
            "Administrator of the default tenant created on first start."),
    Setting("tenant_admin_password", "THINGPORT_TENANT_ADMIN_PASSWORD", None,
            "Its password (default: generated and printed once).", parse_first_password),
    Setting("log_level", "THINGPORT_LOG_LEVEL", "info",
            "critical, error, warning, info, debug or trace.",
            parse_log_level),
    Setting("ws_ping_timeout_ms", "TB_SERVER_WS_PING_TIMEOUT", 30000,
            "A WebSocket that answers no ping for this long is closed, in ms; the server pings "
            "every third of it.", parse_positive_int),
    Setting("http_header_timeout_s", "THINGPORT_HTTP_HEADER_TIMEOUT", 20.0,
            "Time a client has to send a request's line and headers (from its connection, or "
            "a keep-alive request's first byte), in s; then 408 and closed.",
            parse_positive_seconds),
    Setting("http_body_timeout_s", "THINGPORT_HTTP_BODY_TIMEOUT", 20.0,
            "Longest pause between two parts of a request body, in s; then 408 and closed "
            "(the time to answer, such as a long poll's, is not limited by it).",
            parse_positive_seconds),
    Setting("http_max_header_size", "THINGPORT_HTTP_MAX_HEADER_SIZE", 32768,
            "Largest request line and headers, in bytes; larger is answered 431.",
            parse_positive_int),
    Setting("http_max_headers", "THINGPORT_HTTP_MAX_HEADERS", 100,
            "Most header fields in a request; more is answered 431.", parse_positive_int),
    Setting("http_max_connections", "THINGPORT_HTTP_MAX_CONNECTIONS", 0,
            "Most open connections (HTTP, long polls and WebSockets); past it a new one gets "
            "503 (health checks are still answered), and past a reserve above it is closed "
            "at once (0: the open-files limit less a tenth).", parse_non_negative_int),
    Setting("trusted_proxies", "THINGPORT_TRUSTED_PROXIES", None,
            "Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For, "
            "X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Port are believed "
            "(default: none; * for any).", parse_trusted_proxies),
    Setting("base_url", "THINGPORT_BASE_URL", None,
            "The public address, e.g. https://iot.example.com, for the links thingport builds "
            "(activation links, connectivity commands); default: from the trusted proxy's "
            "X-Forwarded-* headers, else the request's Host.", parse_base_url),
    Setting("metrics_enabled", "THINGPORT_METRICS_ENABLED", True,
            "Serve Prometheus metrics at GET /metrics (no authentication; keep it off the "
            "public proxy).", parse_bool),
    Setting("inactivity_timeout_s", "DEFAULT_INACTIVITY_TIMEOUT", 600,
            "A device without requests for this long becomes inactive (server attribute "
            "active=false), in s.", parse_positive_int),
    Setting("state_check_interval_s", "DEFAULT_STATE_CHECK_INTERVAL", 60,
            "How often devices are checked for inactivity, in s.", parse_positive_int),
    Setting("activity_flush_interval_ms", "THINGPORT_ACTIVITY_FLUSH_INTERVAL", 5000,
            "How often the last activity times of active devices are written to the store, "
            "in ms (a device turning active is written within a second).",
            parse_positive_int),
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with ThingsBoard's defaults."""

    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 0
    data_dir: str = "./thingport-data"
    database_url: str | None = None
    database_pool_size: int = 8
    ts_partitioning: str = "MONTHS"
    ts_ttl_days: int = 0
    request_timeout_ms: int = 60000
    max_request_timeout_ms: int = 300000
    redis_url: str | None = None
    claim_duration_ms: int = 86400000
    claim_allowed_by_default: bool = True
    provision_max_failures: int = 10
    provision_failure_window_s: int = 60
    ip_limits_enabled: bool = True
    max_wrong_credentials_per_ip: int = 10
    ip_block_timeout_ms: int = 60000
    claim_max_failures: int = 10
    claim_failure_window_s: int = 60
    tenant_msg_rate_limit: str | None = None
    tenant_telemetry_msg_rate_limit: str | None = None
    tenant_telemetry_data_points_rate_limit: str | None = None
    device_msg_rate_limit: str | None = None
    device_telemetry_msg_rate_limit: str | None = None
    device_telemetry_data_points_rate_limit: str | None = None
    login_max_failures: int = 10
    login_failure_window_s: int = 60
    login_lockout_s: int = 900
    password_hash_concurrency: int = 2
    rpc_default_timeout_ms: int = 10000
    rpc_min_timeout_ms: int = 5000
    client_rpc_timeout_ms: int = 60000
    payload_limits: str = DEFAULT_PAYLOAD_LIMITS
    rest_max_payload: int = 16777216
    ota_max_size: int = 2147483648
    json_type_cast: bool = True
    json_max_string_length: int = 1048576
    json_max_json_length: int = 1048576
    max_data_points: int = 100000
    jwt_signing_key: str | None = None
    jwt_expiration_s: int = 9000
    jwt_refresh_expiration_s: int = 604800
    sysadmin_email: str = "sysadmin@thingsboard.org"
    sysadmin_password: str | None = None
    tenant_admin_email: str = "tenant@thingsboard.org"
    tenant_admin_password: str | None = None
    log_level: str = "info"
    ws_ping_timeout_ms: int = 30000
    http_header_timeout_s: float = 20.0
    http_body_timeout_s: float = 20.0
    http_max_header_size: int = 32768
    http_max_headers: int = 100
    http_max_connections: int = 0
    trusted_proxies: str | None = None
    base_url: str | None = None
    metrics_enabled: bool = True
    inactivity_timeout_s: int = 600
    state_check_interval_s: int = 60
    activity_flush_interval_ms: int = 5000
    tls: TlsConfig = field(default_factory=TlsConfig)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Settings from the environment, then ``overrides`` (command-line options) on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env)
            if raw is None or raw == "":
                continue
            try:
                values[setting.name] = setting.parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{setting.env}: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["tls"] = TlsConfig.from_env(env)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed."""
        return dataclasses.replace(self, **changes)

    @property
    def store_url(self) -> str:
        """The store URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return "sqlite:///" + str(Path(self.data_dir) / "thingport.db")
