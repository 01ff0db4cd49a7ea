"""The SQLite backend: one writer thread with group commit, a pool of reader threads.

How a write travels::

    coroutine ──put(op)──> queue ──> writer thread: BEGIN IMMEDIATE
                                       SAVEPOINT / op 1 / RELEASE      (a failing op rolls back
                                       SAVEPOINT / op 2 / RELEASE       only its own savepoint)
                                       one executemany for a run of telemetry ops (fast lane)
                                     COMMIT (fsync: synchronous=FULL)
    coroutine <──call_soon_threadsafe── every future of the batch resolved, only after COMMIT

Everything queued while the previous transaction was committing goes into the next one, so the
cost of the fsync is shared by all concurrent writers (group commit) and a caller is answered
only once its data is durable. If SQLite rolls back the whole transaction by itself (disk full,
I/O error), the batch is redone one operation at a time so that only the operations that cannot
be written fail. A failed COMMIT fails the whole batch: none of it is durable. Reads run on a
small pool of threads, each with its own connection; WAL lets them read the last committed
snapshot while the writer works. The atomic "takes" of long polls (the next RPC, client RPC or
batch of attribute changes) look on a reader first and go to the writer only when there is
something to take, since most checks of a waiting poll find nothing.

Time series and attributes use integer keys: a device's ``seq`` (its rowid, never reused) and a
``key_dictionary`` id per key name. The writer thread owns the authoritative caches of both maps
(they may hold ids from its open transaction). After each COMMIT it publishes the newly committed
ids to a second pair of maps that ``save_telemetry`` reads on the event loop to build finished
rows, so the writer only concatenates them; the writer still checks each device, since a
published id may belong to a device deleted since. Readers resolve ids inside their SQL.

One process per database file: the writer's caches assume nobody else writes to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.resources
import logging
import math
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar, cast
from uuid import UUID

import orjson

from thingport.clock import now_ms
from thingport.domain.model import (
    Aggregation,
    AttributeChanges,
    AttributeKvEntry,
    AttributeScope,
    Authority,
    ClaimWindow,
    ClientRpc,
    CredentialsType,
    Customer,
    DataType,
    Device,
    DeviceCredentials,
    DeviceProfile,
    KvEntry,
    Page,
    PageLink,
    Rpc,
    RpcStatus,
    Tenant,
    TsKvEntry,
    User,
    UserCredentials,
)
from thingport.errors import BadRequest, ConfigError, Conflict, NotFound
from thingport.store.base import Store
from thingport.store.sqlite_device_info import SQLiteDeviceInfoMixin
from thingport.store.sqlite_ota import SQLiteOtaMixin

__all__ = ["SQLiteStats", "SQLiteStore"]

_R = TypeVar("_R")
_T = TypeVar("_T")

Value = bool | int | float | str

# Codes stored in the `type` column; the order is part of the on-disk format.
_TYPE_CODE: Final[dict[DataType, int]] = {
    DataType.BOOLEAN: 1,
    DataType.LONG: 2,
    DataType.DOUBLE: 3,
    DataType.STRING: 4,
    DataType.JSON: 5,
}
_CODE_TYPE: Final[dict[int, DataType]] = {code: t for t, code in _TYPE_CODE.items()}
_BOOLEAN, _LONG, _DOUBLE = 1, 2, 3
# ThingsBoard's own scope ids.
_SCOPE_CODE: Final[dict[AttributeScope, int]] = {
    AttributeScope.CLIENT_SCOPE: 1,
    AttributeScope.SERVER_SCOPE: 2,
    AttributeScope.SHARED_SCOPE: 3,
}
_SHARED: Final = _SCOPE_CODE[AttributeScope.SHARED_SCOPE]
#: RETURNING, which the atomic "take" operations use, arrived in SQLite 3.35.
_MIN_SQLITE: Final = (3, 35, 0)

#: How many queued operations one transaction takes at most. Large enough to absorb a burst of
#: concurrent requests in one fsync, small enough that the first caller is not kept waiting long.
DEFAULT_BATCH_LIMIT: Final = 1024
DEFAULT_READERS: Final = 4
_BUSY_TIMEOUT_MS: Final = 10_000
_DEVICE_CACHE_LIMIT: Final = 200_000

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"(\d{4})_[A-Za-z0-9_\-]+\.sql")

# Samples go to the append-only log first; _merge_log moves them into ts_kv (see 0004).
_INSERT_TS: Final = "INSERT INTO ts_kv_log (device, key, ts, type, v) VALUES (?, ?, ?, ?, ?)"
# Sorted for locality in ts_kv; by seq last, so a later write at an equal (device, key, ts)
# replaces the earlier one, as a direct INSERT OR REPLACE would have.
_MERGE_LOG: Final = (
    "INSERT OR REPLACE INTO ts_kv (device, key, ts, type, v) "
    "SELECT device, key, ts, type, v FROM ts_kv_log ORDER BY device, key, ts, seq"
)
#: Merge the log once it holds this many samples...
MERGE_ROWS: Final = 50_000
#: ...or once its oldest unmerged sample has waited this long.
MERGE_INTERVAL_S: Final = 1.0
# `>=`: a later write at an equal timestamp replaces the value, as it does in ts_kv.
_UPSERT_LATEST: Final = (
    "INSERT INTO ts_kv_latest (device, key, ts, type, v) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (device, key) DO UPDATE SET ts = excluded.ts, type = excluded.type, "
    "v = excluded.v WHERE excluded.ts >= ts_kv_latest.ts"
)
# Resolves a device UUID inside the query, so readers need no cache of their own.
_DEVICE_SEQ: Final = "(SELECT seq FROM device WHERE id = ?)"
_KEY_ID: Final = "(SELECT key_id FROM key_dictionary WHERE key = ?)"

# Messages ThingsBoard gives for the same violations, keyed by SQLite's constraint text.
_CONFLICT_MESSAGES: Final[dict[str, str]] = {
    "device.tenant_id, device.name": "Device with such name already exists!",
    "device.id": "Device with such id already exists!",
    "device_credentials.credentials_id": (
        "Device credentials are already assigned to another device!"
    ),
    "device_credentials.device_id": "Device already has credentials!",
    "device_credentials.id": "Device credentials with such id already exist!",
    "user.email_lower": "User with such email already exists!",
    "user_credentials.activate_token": "Activation token is already in use!",
    "customer.tenant_id, customer.title": "Customer with such title already exists!",
    "device_profile.tenant_id, device_profile.name": (
        "Device profile with such name already exists!"
    ),
    "device_profile.provision_device_key": (
        "Device profile with such provision device key already exists!"
    ),
    "rpc.id": "RPC with such id already exists!",
    "client_rpc.id": "Client-side RPC with such id already exists!",
}


@dataclass(frozen=True, slots=True)
class SQLiteStats:
    """Counters of the writer thread, for monitoring and for tests of group commit."""

    transactions: int
    operations: int
    largest_batch: int


# -- value and row conversion ----------------------------------------------------------------


def _encode(entry_type: DataType, value: Value) -> Value:
    # A DOUBLE given as a Python int must come back as a float, so store it as REAL.
    return float(value) if entry_type is DataType.DOUBLE else value


def _decode(code: int, v: Any) -> Value:
    if code == _BOOLEAN:
        return bool(v)
    if code == _DOUBLE:
        # SQLite stores NaN as NULL.
        return math.nan if v is None else float(v)
    return cast(Value, v)


def _s(uuid: UUID | None) -> str | None:
    return None if uuid is None else str(uuid)


def _u(text: str | None) -> UUID | None:
    return None if text is None else UUID(text)


def _dumps(data: Any) -> str | None:
    return None if data is None else orjson.dumps(data).decode()


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _contains(haystack: str | None, folded_needle: str) -> bool:
    # Python's casefold, because SQLite's LIKE and lower() fold ASCII letters only.
    return haystack is not None and folded_needle in haystack.casefold()


_TENANT_COLS: Final = "id, title, created_time, email, additional_info"


def _tenant(r: tuple[Any, ...]) -> Tenant:
    return Tenant(UUID(r[0]), r[1], r[2], r[3], _loads(r[4]))


_CUSTOMER_COLS: Final = "id, tenant_id, title, created_time, email, additional_info"


def _customer(r: tuple[Any, ...]) -> Customer:
    return Customer(UUID(r[0]), UUID(r[1]), r[2], r[3], r[4], _loads(r[5]))


_USER_COLS: Final = (
    "id, tenant_id, customer_id, email, authority, created_time, first_name, last_name, "
    "additional_info"
)


def _user(r: tuple[Any, ...]) -> User:
    return User(
        UUID(r[0]), _u(r[1]), _u(r[2]), r[3], Authority(r[4]), r[5], r[6], r[7], _loads(r[8])
    )


_USER_CREDENTIALS_COLS: Final = "user_id, password_hash, activate_token, enabled"


def _user_credentials(r: tuple[Any, ...]) -> UserCredentials:
    return UserCredentials(UUID(r[0]), r[1], r[2], bool(r[3]))


_PROFILE_COLS: Final = (
    "id, tenant_id, name, created_time, is_default, description, type, transport_type, "
    "provision_type, provision_device_key, profile_data, firmware_id, software_id"
)


def _profile(r: tuple[Any, ...]) -> DeviceProfile:
    return DeviceProfile(
        UUID(r[0]), UUID(r[1]), r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9],
        orjson.loads(r[10]), _u(r[11]), _u(r[12]),
    )


_DEVICE_COLS: Final = (
    "id, tenant_id, name, type, device_profile_id, created_time, customer_id, label, "
    "additional_info, firmware_id, software_id"
)


def _device(r: Sequence[Any]) -> Device:
    return Device(
        UUID(r[0]), UUID(r[1]), r[2], r[3], UUID(r[4]), r[5], _u(r[6]), r[7], _loads(r[8]),
        _u(r[9]), _u(r[10]),
    )


_CREDENTIALS_COLS: Final = (
    "id, device_id, created_time, credentials_type, credentials_id, credentials_value"
)


def _credentials(r: Sequence[Any]) -> DeviceCredentials:
    return DeviceCredentials(UUID(r[0]), UUID(r[1]), r[2], CredentialsType(r[3]), r[4], r[5])


_RPC_COLS: Final = (
    "id, tenant_id, device_id, created_time, expiration_time, method, params, oneway, "
    "persistent, status, request_id, response, additional_info, retries"
)


def _rpc(r: Sequence[Any]) -> Rpc:
    return Rpc(
        UUID(r[0]), UUID(r[1]), UUID(r[2]), r[3], r[4], r[5], r[6], bool(r[7]), bool(r[8]),
        RpcStatus(r[9]), r[10], r[11], _loads(r[12]), r[13],
    )


_CLIENT_RPC_COLS: Final = (
    "id, tenant_id, device_id, created_time, expiration_time, method, params, claimed, response"
)


def _client_rpc(r: Sequence[Any]) -> ClientRpc:
    return ClientRpc(
        UUID(r[0]), UUID(r[1]), UUID(r[2]), r[3], r[4], r[5], r[6], bool(r[7]), r[8]
    )


def _status_list(statuses: frozenset[RpcStatus]) -> str:
    # Enum names only (never user text), so they can be inlined as SQL literals.
    return ", ".join(f"'{RpcStatus(s).value}'" for s in sorted(statuses))


def _translate(exc: Exception) -> Exception:
    """Turn a constraint violation into the domain error the contract promises."""
    if isinstance(exc, sqlite3.IntegrityError):
        text = str(exc)
        for prefix in ("UNIQUE constraint failed: ", "PRIMARY KEY constraint failed: "):
            if text.startswith(prefix):
                constraint = text.removeprefix(prefix)
                return Conflict(_CONFLICT_MESSAGES.get(constraint, f"Duplicate {constraint}"))
        if text.startswith("FOREIGN KEY constraint failed"):
            return NotFound("A referenced entity does not exist")
    return exc


# -- paging ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Listing:
    """How one entity table is paged: its columns, sortable properties and searched columns."""

    table: str
    columns: str
    #: ThingsBoard's camelCase sort property -> (column, compared as text).
    sort: dict[str, tuple[str, bool]]
    default_sort: str
    search: tuple[str, ...]
    #: The last sort key, unique within a listing, so that pages neither repeat nor skip rows.
    tiebreak: str = "id"


_COMMON_SORT: Final = {"createdTime": ("created_time", False), "id": ("id", True)}
_TENANTS = _Listing(
    "tenant", _TENANT_COLS,
    {**_COMMON_SORT, "title": ("title", True), "email": ("email", True)},
    "title", ("title",),
)
_CUSTOMERS = _Listing(
    "customer", _CUSTOMER_COLS,
    {**_COMMON_SORT, "title": ("title", True), "email": ("email", True)},
    "title", ("title",),
)
_USERS = _Listing(
    "user", _USER_COLS,
    {
        **_COMMON_SORT, "email": ("email", True), "firstName": ("first_name", True),
        "lastName": ("last_name", True), "authority": ("authority", True),
    },
    "email", ("email", "first_name", "last_name"),
)
_PROFILES = _Listing(
    "device_profile", _PROFILE_COLS,
    {
        **_COMMON_SORT, "name": ("name", True), "type": ("type", True),
        "transportType": ("transport_type", True), "provisionType": ("provision_type", True),
        "description": ("description", True), "isDefault": ("is_default", False),
        "default": ("is_default", False),
    },
    "name", ("name",),
)
_DEVICES = _Listing(
    "device", _DEVICE_COLS,
    {
        **_COMMON_SORT, "name": ("name", True), "type": ("type", True),
        "label": ("label", True),
    },
    "name", ("name",),
)
# Always one device's RPCs, where the request id is unique and follows creation order.
_RPCS = _Listing(
    "rpc", _RPC_COLS,
    {
        **_COMMON_SORT, "expirationTime": ("expiration_time", False),
        "requestId": ("request_id", False), "status": ("status", True),
        "method": ("method", True),
    },
    "createdTime", ("method",), tiebreak="request_id",
)


def _page(
    conn: sqlite3.Connection,
    listing: _Listing,
    where: list[str],
    params: list[Any],
    link: PageLink,
    make: Callable[[tuple[Any, ...]], _T],
) -> Page[_T]:
    if link.page_size < 1:
        raise BadRequest("Page size must be greater than zero")
    if link.page < 0:
        raise BadRequest("Page must be positive integer")
    where, params = list(where), list(params)
    if link.text_search:
        folded = link.text_search.casefold()
        where.append("(" + " OR ".join(f"tp_contains({c}, ?)" for c in listing.search) + ")")
        params.extend([folded] * len(listing.search))
    prop = link.sort_property or listing.default_sort
    if prop not in listing.sort:
        raise BadRequest(f"Invalid sort property: {prop}")
    direction = link.sort_order.upper()
    if direction not in ("ASC", "DESC"):
        raise BadRequest(f"Invalid sort order: {link.sort_order}")
    column, is_text = listing.sort[prop]
    collate = " COLLATE NOCASE" if is_text else ""
    # NULLs last when ascending and first when descending, as PostgreSQL (ThingsBoard) does;
    # the tiebreak column (the id) breaks ties so that pages neither repeat nor skip rows.
    order = (
        f"{column} IS NULL {direction}, {column}{collate} {direction}, "
        f"{listing.tiebreak} {direction}"
    )
    where_sql = (" WHERE " + " AND ".join(where)) if where else ""
    # One read transaction, so the count and the rows come from the same snapshot.
    conn.execute("BEGIN")
    try:
        count_sql = f"SELECT count(*) FROM {listing.table}{where_sql}"
        total = conn.execute(count_sql, params).fetchone()[0]
        rows = conn.execute(
            f"SELECT {listing.columns} FROM {listing.table}{where_sql} ORDER BY {order} "
            "LIMIT ? OFFSET ?",
            [*params, link.page_size, link.page * link.page_size],
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    total_pages = -(-total // link.page_size)
    return Page(
        data=[make(r) for r in rows],
        total_pages=total_pages,
        total_elements=total,
        has_next=(link.page + 1) * link.page_size < total,
    )


# -- schema migrations -------------------------------------------------------------------------


def _migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration shipped with the package, in order."""
    root = importlib.resources.files("thingport.store") / "migrations" / "sqlite"
    found: list[tuple[int, str, str]] = []
    for entry in root.iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ConfigError(f"SQLite migrations must be numbered 1, 2, 3, ...; found {numbers}")
    return found


def _statements(script: str) -> Iterator[str]:
    """Split a script into statements, leaving triggers' BEGIN ... END bodies whole."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    leftover = "\n".join(
        line for line in buffer.splitlines() if line.strip() and not line.strip().startswith("--")
    )
    if leftover:
        raise ConfigError(f"Unterminated SQL statement in migration: {leftover[:80]!r}")


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's ``PRAGMA user_version``; returns the
    version reached. Each migration is one transaction, so a failure leaves the previous
    version intact."""
    migrations = _migrations()
    latest = migrations[-1][0] if migrations else 0
    current = _user_version(conn)
    if current > latest:
        raise ConfigError(
            f"The database schema is version {current}, newer than this thingport knows "
            f"({latest}); upgrade thingport"
        )
    for number, name, script in migrations:
        if number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while this one waited for the lock.
            if _user_version(conn) < number:
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except Exception as exc:
            conn.execute("ROLLBACK")
            raise ConfigError(f"SQLite migration {name} failed: {exc}") from exc
        current = number
    return current


def _connect(path: str) -> sqlite3.Connection:
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False only so
        # that close() can close a connection after its thread has stopped; each connection is
        # used by one thread at a time.
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    except sqlite3.Error as exc:
        raise ConfigError(f"Cannot open the SQLite database {path!r}: {exc}") from exc
    return conn


# -- the writer thread -------------------------------------------------------------------------


class _Op:
    """A queued write: a function run inside the batch's transaction."""

    __slots__ = ("fn", "future", "loop")

    def __init__(
        self, fn: Callable[[_Tx], Any], future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop


class _TelemetryOp:
    """A queued save_telemetry, taken by the writer's fast lane.

    Resolved (``seq`` set): ``rows`` are finished (device, key id, ts, type, value) rows and
    ``newest`` the rows for ts_kv_latest, all prepared on the event loop from published ids.
    Unresolved (a device or key not published yet): ``rows`` are (key, ts, type, value) and the
    writer maps them.
    """

    __slots__ = ("device_id", "future", "loop", "newest", "rows", "seq")

    def __init__(
        self, device_id: UUID, seq: int | None, rows: list[Any], newest: list[_Row] | None,
        future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.device_id = device_id
        self.seq = seq
        self.rows = rows
        self.newest = newest
        self.future = future
        self.loop = loop


_STOP: Final = object()
_Row = tuple[int, int, int, int, Value]


class _TransactionLost(Exception):
    """SQLite rolled back the whole transaction by itself (disk full, I/O error)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in items:
        if future.done():  # the caller was cancelled; its write is committed all the same
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class _Tx:
    """What a write operation sees: the writer's connection and its id caches.

    Only the writer thread touches an instance, so the caches need no lock. They may hold ids
    of rows written earlier in the current, uncommitted transaction; the writer forgets what a
    rolled-back savepoint or transaction created.
    """

    def __init__(
        self, conn: sqlite3.Connection, published_keys: dict[str, int],
        published_devices: dict[UUID, int],
    ) -> None:
        self.conn = conn
        self.keys: dict[str, int] = {}
        self.devices: dict[UUID, int] = {}
        #: Samples appended to ts_kv_log since the last merge (it drives when to merge; reads
        #: do not rely on it: they merge whatever is there).
        self.log_rows = 0
        #: Keys inserted by the running operation, forgotten if its savepoint rolls back.
        self.new_keys: list[str] = []
        # Shared with the event loop, which only reads them; written here after COMMIT only.
        self._published_keys = published_keys
        self._published_devices = published_devices
        #: Ids learnt in the open transaction, published once it commits.
        self._tx_keys: list[str] = []
        self._tx_devices: list[UUID] = []

    def load_keys(self) -> None:
        self.keys = dict(self.conn.execute("SELECT key, key_id FROM key_dictionary"))
        self._published_keys.update(self.keys)

    def merge_log(self) -> None:
        """Move every logged sample into ts_kv, within the open transaction."""
        self.conn.execute(_MERGE_LOG)
        self.conn.execute("DELETE FROM ts_kv_log")
        self.log_rows = 0

    def forget_all(self) -> None:
        """Drop every cached id: the transaction that may have created them rolled back."""
        self.keys.clear()
        self.devices.clear()
        self.new_keys.clear()
        self._tx_keys.clear()
        self._tx_devices.clear()
        self._published_devices.clear()
        self.load_keys()

    def publish(self) -> None:
        """Hand the ids of a committed transaction to the event loop."""
        for key in self._tx_keys:
            kid = self.keys.get(key)
            if kid is not None:  # else its savepoint rolled back
                self._published_keys[key] = kid
        for device_id in self._tx_devices:
            seq = self.devices.get(device_id)
            if seq is not None:
                if len(self._published_devices) >= _DEVICE_CACHE_LIMIT:
                    self._published_devices.clear()
                self._published_devices[device_id] = seq
        self._tx_keys.clear()
        self._tx_devices.clear()

    def device_seq(self, device_id: UUID) -> int:
        """The device's integer key; NotFound when there is no such device."""
        seq = self.devices.get(device_id)
        if seq is None:
            row = self.conn.execute(
                "SELECT seq FROM device WHERE id = ?", (str(device_id),)
            ).fetchone()
            if row is None:
                raise NotFound(f"Device with id [{device_id}] is not found")
            seq = row[0]
            if len(self.devices) >= _DEVICE_CACHE_LIMIT:
                self.devices.clear()
            self.devices[device_id] = seq
            self._tx_devices.append(device_id)
        return seq

    def forget_device(self, device_id: UUID) -> None:
        """Drop a device that is being deleted from both caches."""
        self.devices.pop(device_id, None)
        self._published_devices.pop(device_id, None)

    def key_id(self, key: str) -> int:
        """The key's id, added to the dictionary when new."""
        kid = self.keys.get(key)
        if kid is None:
            kid = self.find_key_id(key)
            if kid is None:
                cur = self.conn.execute("INSERT INTO key_dictionary (key) VALUES (?)", (key,))
                kid = cast(int, cur.lastrowid)
                self.keys[key] = kid
                self.new_keys.append(key)
                self._tx_keys.append(key)
        return kid

    def find_key_id(self, key: str) -> int | None:
        """The key's id, or None when no value ever used it."""
        kid = self.keys.get(key)
        if kid is None:
            row = self.conn.execute(
                "SELECT key_id FROM key_dictionary WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                kid = self.keys[key] = row[0]
                self._tx_keys.append(key)
        return kid


class _Writer:
    """The thread that owns the write connection and commits queued operations in batches."""

    def __init__(
        self, path: str, batch_limit: int, published_keys: dict[str, int],
        published_devices: dict[UUID, int],
    ) -> None:
        self._path = path
        self._batch_limit = batch_limit
        self._published_keys = published_keys
        self._published_devices = published_devices
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._started: ThreadFuture[None] = ThreadFuture()
        self._thread = threading.Thread(
            target=self._main, name="thingport-sqlite-writer", daemon=True
        )
        self._tx: _Tx | None = None
        self.conn: sqlite3.Connection | None = None
        self.transactions = 0
        self.operations = 0
        self.largest_batch = 0

    # -- called from the event loop ----------------------------------------------------------
    async def start(self) -> None:
        self._thread.start()
        await asyncio.wrap_future(self._started)

    def put(self, op: _Op | _TelemetryOp) -> None:
        self._queue.put(op)

    async def stop(self) -> None:
        """Commit everything queued so far, then end the thread (the connection stays open)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)

    # -- the thread --------------------------------------------------------------------------
    def _main(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn = _connect(self._path)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise ConfigError(
                    f"SQLite database {self._path!r} cannot use WAL mode (got {mode!r}); "
                    "put it on a local file system"
                )
            # FULL: the WAL is fsynced at every commit, so an acknowledged write survives a
            # power loss, not only a crash of the process.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA cache_size = -32768")
            # Keeps the WAL file from staying huge after a burst.
            conn.execute("PRAGMA journal_size_limit = 67108864")
            migrate(conn)
            self.conn = conn
            self._tx = _Tx(conn, self._published_keys, self._published_devices)
            self._tx.load_keys()
            # Samples a crash left unmerged are merged with the next ones.
            self._tx.log_rows = conn.execute("SELECT count(*) FROM ts_kv_log").fetchone()[0]
        except BaseException as exc:
            if conn is not None:
                conn.close()
            self._started.set_exception(exc)
            return
        self._started.set_result(None)
        self._loop()

    def _loop(self) -> None:
        get, get_nowait, limit = self._queue.get, self._queue.get_nowait, self._batch_limit
        tx = cast(_Tx, self._tx)
        logged_since: float | None = time.monotonic() if tx.log_rows else None
        stopping = False
        while not stopping:
            try:
                if logged_since is None:
                    item = get()
                else:
                    item = get(timeout=max(0.0, logged_since + MERGE_INTERVAL_S
                                           - time.monotonic()))
            except queue.Empty:
                item = None
            batch: list[_Op | _TelemetryOp] = []
            while item is not None:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(cast("_Op | _TelemetryOp", item))
                if len(batch) >= limit:
                    break
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._run_batch(batch)
            if tx.log_rows and logged_since is None:
                logged_since = time.monotonic()
            if logged_since is not None and (
                stopping or tx.log_rows >= MERGE_ROWS
                or time.monotonic() - logged_since >= MERGE_INTERVAL_S
            ):
                self._merge()
                logged_since = time.monotonic() if tx.log_rows else None

    def _merge(self) -> None:
        """Merge the sample log into ts_kv in a transaction of its own. A failure leaves the
        samples in the log, where reads still find them after their own merge."""
        tx = cast(_Tx, self._tx)
        conn = tx.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            tx.merge_log()
            conn.execute("COMMIT")
        except sqlite3.Error:
            log.exception("merging the sample log failed; it stays and is merged later")
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    def _run_batch(self, batch: list[_Op | _TelemetryOp]) -> None:
        tx = cast(_Tx, self._tx)
        conn = tx.conn
        n = len(batch)
        results: list[Any] = [None] * n
        errors: list[BaseException | None] = [None] * n
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._execute(tx, batch, range(n), results, errors)
            except _TransactionLost:
                tx.forget_all()
                self._execute_one_by_one(tx, batch, results, errors)
            conn.execute("COMMIT")
        except Exception as exc:
            # BEGIN or COMMIT failed: nothing of this batch is durable.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                tx.forget_all()
            for k in range(n):
                results[k] = None
                errors[k] = errors[k] or exc
        else:
            tx.publish()
        self.transactions += 1
        self.operations += n
        self.largest_batch = max(self.largest_batch, n)
        self._resolve(batch, results, errors)

    def _execute(
        self, tx: _Tx, batch: list[_Op | _TelemetryOp], indices: range,
        results: list[Any], errors: list[BaseException | None],
    ) -> None:
        """Run batch[indices] in the open transaction: each operation in its own savepoint,
        each run of consecutive telemetry operations through the fast lane."""
        i, end = indices.start, indices.stop
        while i < end:
            if type(batch[i]) is _TelemetryOp:
                j = i + 1
                while j < end and type(batch[j]) is _TelemetryOp:
                    j += 1
                self._run_telemetry(tx, cast(list[_TelemetryOp], batch[i:j]), i, errors)
            else:
                j = i + 1
                self._run_op(tx, cast(_Op, batch[i]), i, results, errors)
            i = j

    def _execute_one_by_one(
        self, tx: _Tx, batch: list[_Op | _TelemetryOp], results: list[Any],
        errors: list[BaseException | None],
    ) -> None:
        """SQLite rolled the whole transaction back (disk full, I/O error), taking the work of
        innocent operations with it. Redo the batch one operation at a time in a new
        transaction; an operation that loses the transaction again is failed alone and the
        others are redone once more. Each round drops one operation, so this ends."""
        pending = list(range(len(batch)))
        conn = tx.conn
        while True:
            for k in pending:
                results[k] = errors[k] = None
            conn.execute("BEGIN IMMEDIATE")
            for position, k in enumerate(pending):
                try:
                    self._execute(tx, batch, range(k, k + 1), results, errors)
                except _TransactionLost as lost:
                    errors[k] = lost.cause
                    tx.forget_all()
                    del pending[position]
                    break
            else:
                return  # the caller commits

    @staticmethod
    def _run_op(
        tx: _Tx, op: _Op, index: int, results: list[Any], errors: list[BaseException | None]
    ) -> None:
        conn = tx.conn
        conn.execute("SAVEPOINT op")
        tx.new_keys.clear()
        try:
            results[index] = op.fn(tx)
        except Exception as exc:
            if not conn.in_transaction:
                raise _TransactionLost(exc) from exc
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            for key in tx.new_keys:
                tx.keys.pop(key, None)
            errors[index] = _translate(exc)
        else:
            conn.execute("RELEASE op")

    @staticmethod
    def _run_telemetry(
        tx: _Tx, ops: list[_TelemetryOp], offset: int, errors: list[BaseException | None]
    ) -> None:
        """Write a run of consecutive telemetry operations with one executemany per table.

        Keys are added to the dictionary outside any savepoint: a key nobody ended up using is
        harmless. If the shared statement fails (a value SQLite cannot bind, say), each
        operation is retried alone in its own savepoint so that only the culprit fails.
        """
        conn = tx.conn
        keys = tx.keys
        rows: list[_Row] = []
        # (index in the batch, its rows' span, its rows for ts_kv_latest)
        spans: list[tuple[int, int, int, list[_Row]]] = []
        for index, op in enumerate(ops, offset):
            start = len(rows)
            try:
                seq = tx.device_seq(op.device_id)
                if op.seq == seq:
                    rows.extend(op.rows)
                    newest = cast(list[_Row], op.newest)
                else:
                    if op.seq is not None:  # a device deleted, then created again with its id
                        rows.extend((seq, *row[1:]) for row in op.rows)
                    else:
                        for key, ts, code, value in op.rows:
                            kid = keys.get(key)
                            if kid is None:
                                kid = tx.key_id(key)
                            rows.append((seq, kid, ts, code, value))
                    newest = _newest(rows[start:])
            except Exception as exc:
                if not conn.in_transaction:
                    raise _TransactionLost(exc) from exc
                del rows[start:]
                errors[index] = exc
                continue
            spans.append((index, start, len(rows), newest))
        tx.new_keys.clear()
        if not rows:
            return
        conn.execute("SAVEPOINT telemetry")
        try:
            conn.executemany(_INSERT_TS, rows)
            conn.executemany(_UPSERT_LATEST, _merge_newest([span[3] for span in spans]))
        except Exception as exc:
            if not conn.in_transaction:
                raise _TransactionLost(exc) from exc
            conn.execute("ROLLBACK TO telemetry")
            conn.execute("RELEASE telemetry")
        else:
            conn.execute("RELEASE telemetry")
            tx.log_rows += len(rows)
            return
        for index, start, end, newest in spans:
            conn.execute("SAVEPOINT telemetry")
            try:
                conn.executemany(_INSERT_TS, rows[start:end])
                conn.executemany(_UPSERT_LATEST, newest)
            except Exception as exc:
                if not conn.in_transaction:
                    raise _TransactionLost(exc) from exc
                conn.execute("ROLLBACK TO telemetry")
                errors[index] = _translate(exc)
            else:
                tx.log_rows += end - start
            conn.execute("RELEASE telemetry")

    @staticmethod
    def _resolve(
        batch: list[_Op | _TelemetryOp], results: list[Any], errors: list[BaseException | None]
    ) -> None:
        # One wake-up of each event loop per batch, not one per operation.
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for op, result, error in zip(batch, results, errors, strict=True):
            by_loop.setdefault(op.loop, []).append((op.future, result, error))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, items)


def _newest(rows: list[_Row]) -> list[_Row]:
    """The row with the greatest ts per (device, key); the later one wins a tie."""
    if len(rows) == 1:
        return rows
    newest: dict[tuple[int, int], _Row] = {}
    for row in rows:
        current = newest.get((row[0], row[1]))
        if current is None or row[2] >= current[2]:
            newest[(row[0], row[1])] = row
    return list(newest.values())


def _merge_newest(parts: list[list[_Row]]) -> list[_Row]:
    """``_newest`` over several operations' own newest rows, taken in queue order."""
    if len(parts) == 1:
        return parts[0]
    return _newest([row for part in parts for row in part])


# -- the store ---------------------------------------------------------------------------------


class SQLiteStore(SQLiteOtaMixin, SQLiteDeviceInfoMixin, Store):
    """The default store: a single SQLite file in WAL mode.

    ``readers`` is how many threads (each with its own connection) serve reads;
    ``batch_limit`` caps how many queued writes share one transaction.
    """

    def __init__(
        self, path: str, *, readers: int = DEFAULT_READERS, batch_limit: int = DEFAULT_BATCH_LIMIT
    ) -> None:
        if path == ":memory:" or not path:
            raise ConfigError("SQLiteStore needs a file path (':memory:' is not supported)")
        self._path = path
        # Ids committed to key_dictionary and device, published by the writer after each COMMIT
        # and read here on the event loop (single dict operations are atomic under the GIL).
        self._key_ids: dict[str, int] = {}
        self._device_seqs: dict[UUID, int] = {}
        self._writer = _Writer(path, batch_limit, self._key_ids, self._device_seqs)
        self._readers = ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="thingport-sqlite-read"
        )
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._open = False
        self._closed = False

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def stats(self) -> SQLiteStats:
        """How many transactions and operations the writer has committed so far."""
        w = self._writer
        return SQLiteStats(w.transactions, w.operations, w.largest_batch)

    # -- plumbing ----------------------------------------------------------------------------
    async def _merge_log(self) -> None:
        """Merge the sample log into ts_kv, so that a read of ts_kv sees every acknowledged
        sample (one writer round trip; it writes nothing when the log is empty)."""
        await self._write(lambda tx: tx.merge_log())

    async def _write(self, fn: Callable[[_Tx], _R]) -> _R:
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_R] = loop.create_future()
        self._writer.put(_Op(fn, future, loop))
        return await future

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self._path)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA cache_size = -16384")
            conn.create_function("tp_contains", 2, _contains, deterministic=True)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], _R]) -> _R:
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Start the writer thread, switch the file to WAL and migrate the schema."""
        if self._open or self._closed:
            raise RuntimeError("SQLiteStore can be opened once")
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise ConfigError(
                f"thingport needs SQLite {'.'.join(map(str, _MIN_SQLITE))} or newer (for "
                f"RETURNING); this Python uses SQLite {sqlite3.sqlite_version}"
            )
        await self._writer.start()
        self._open = True

    async def close(self) -> None:
        """Commit every queued write, stop the threads, close every connection."""
        if self._closed:
            return
        self._closed = True
        # Refuse new work first, so nothing is queued behind the writer's stop signal.
        self._open = False
        await self._writer.stop()
        await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        # Closed last: the last connection to go checkpoints the WAL into the database file.
        if self._writer.conn is not None:
            self._writer.conn.close()

    # -- tenants -----------------------------------------------------------------------------
    async def save_tenant(self, tenant: Tenant) -> None:
        """Insert or update a tenant."""
        params = (
            str(tenant.id), tenant.title, tenant.created_time, tenant.email,
            _dumps(tenant.additional_info),
        )

        def op(tx: _Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO tenant ({_TENANT_COLS}) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, email = excluded.email, "
                "additional_info = excluded.additional_info",
                params,
            )

        await self._write(op)

    async def get_tenant(self, tenant_id: UUID) -> Tenant | None:
        """The tenant with this id."""
        return await self._one(
            f"SELECT {_TENANT_COLS} FROM tenant WHERE id = ?", (str(tenant_id),), _tenant
        )

    async def find_tenants(self, page_link: PageLink) -> Page[Tenant]:
        """A page of tenants, searched and sorted by title."""
        return await self._read(lambda c: _page(c, _TENANTS, [], [], page_link, _tenant))

    # -- customers ---------------------------------------------------------------------------
    async def save_customer(self, customer: Customer) -> None:
        """Insert or update a customer; a duplicate title in the tenant raises Conflict."""
        params = (
            str(customer.id), str(customer.tenant_id), customer.title, customer.created_time,
            customer.email, _dumps(customer.additional_info),
        )

        def op(tx: _Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO customer ({_CUSTOMER_COLS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, email = excluded.email, "
                "additional_info = excluded.additional_info",
                params,
            )

        await self._write(op)

    async def get_customer(self, customer_id: UUID) -> Customer | None:
        """The customer with this id."""
        return await self._one(
            f"SELECT {_CUSTOMER_COLS} FROM customer WHERE id = ?", (str(customer_id),), _customer
        )

    async def find_customers(self, tenant_id: UUID, page_link: PageLink) -> Page[Customer]:
        """A page of the tenant's customers, searched and sorted by title."""
        return await self._read(
            lambda c: _page(
                c, _CUSTOMERS, ["tenant_id = ?"], [str(tenant_id)], page_link, _customer
            )
        )

    async def delete_customer(self, customer_id: UUID) -> None:
        """Delete a customer, its users, and unassign its devices."""
        # The foreign keys do the rest: users ON DELETE CASCADE (and their credentials with
        # them), devices ON DELETE SET NULL.
        def op(tx: _Tx) -> None:
            tx.conn.execute("DELETE FROM customer WHERE id = ?", (str(customer_id),))

        await self._write(op)

    # -- users -------------------------------------------------------------------------------
    async def save_user(self, user: User, credentials: UserCredentials | None = None) -> None:
        """Insert or update a user (and its credentials when given); a duplicate email raises
        Conflict."""
        if credentials is not None and credentials.user_id != user.id:
            raise ValueError("credentials.user_id must be the user's id")
        params = (
            str(user.id), _s(user.tenant_id), _s(user.customer_id), user.email,
            user.authority.value, user.created_time, user.first_name, user.last_name,
            _dumps(user.additional_info), user.email.lower(),
        )

        def op(tx: _Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO user ({_USER_COLS}, email_lower) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, "
                "customer_id = excluded.customer_id, email = excluded.email, "
                "email_lower = excluded.email_lower, authority = excluded.authority, "
                "first_name = excluded.first_name, last_name = excluded.last_name, "
                "additional_info = excluded.additional_info",
                params,
            )
            if credentials is not None:
                _upsert_user_credentials(tx.conn, credentials)

        await self._write(op)

    async def get_user(self, user_id: UUID) -> User | None:
        """The user with this id."""
        return await self._one(
            f"SELECT {_USER_COLS} FROM user WHERE id = ?", (str(user_id),), _user
        )

    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively."""
        return await self._one(
            f"SELECT {_USER_COLS} FROM user WHERE email_lower = ?", (email.lower(),), _user
        )

    async def get_user_credentials(self, user_id: UUID) -> UserCredentials | None:
        """The user's password hash and activation state."""
        return await self._one(
            f"SELECT {_USER_CREDENTIALS_COLS} FROM user_credentials WHERE user_id = ?",
            (str(user_id),), _user_credentials,
        )

    async def get_user_credentials_by_activate_token(self, token: str) -> UserCredentials | None:
        """The credentials waiting for activation with this token."""
        return await self._one(
            f"SELECT {_USER_CREDENTIALS_COLS} FROM user_credentials WHERE activate_token = ?",
            (token,), _user_credentials,
        )

    async def find_users(
        self, tenant_id: UUID | None, customer_id: UUID | None, page_link: PageLink,
        authority: Authority | None = None,
    ) -> Page[User]:
        """A page of users of a tenant (customer_id None: all of them) or of one customer,
        optionally only those of one authority. A tenant_id of None selects the users of no
        tenant (system administrators)."""
        where = ["tenant_id IS ?"]
        params: list[Any] = [_s(tenant_id)]
        if customer_id is not None:
            where.append("customer_id = ?")
            params.append(str(customer_id))
        if authority is not None:
            where.append("authority = ?")
            params.append(authority.value)
        return await self._read(lambda c: _page(c, _USERS, where, params, page_link, _user))

    async def delete_user(self, user_id: UUID) -> None:
        """Delete a user and its credentials."""
        def op(tx: _Tx) -> None:
            tx.conn.execute("DELETE FROM user WHERE id = ?", (str(user_id),))

        await self._write(op)

    async def count_users(self) -> int:
        """How many users exist; zero means a fresh store that needs its first administrators."""
        return await self._read(lambda c: int(c.execute("SELECT count(*) FROM user").fetchone()[0]))

    # -- device profiles ---------------------------------------------------------------------
    async def save_device_profile(self, profile: DeviceProfile) -> None:
        """Insert or update a profile. Marking it default unmarks the tenant's previous default.
        A duplicate name, or a provision key used by another profile, raises Conflict."""
        params = (
            str(profile.id), str(profile.tenant_id), profile.name, profile.created_time,
            int(profile.default), profile.description, profile.type, profile.transport_type,
            profile.provision_type, profile.provision_device_key,
            orjson.dumps(profile.profile_data).decode(), _s(profile.firmware_id),
            _s(profile.software_id),
        )

        def op(tx: _Tx) -> None:
            if profile.default:
                tx.conn.execute(
                    "UPDATE device_profile SET is_default = 0 "
                    "WHERE tenant_id = ? AND is_default AND id <> ?",
                    (str(profile.tenant_id), str(profile.id)),
                )
            tx.conn.execute(
                f"INSERT INTO device_profile ({_PROFILE_COLS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "is_default = excluded.is_default, description = excluded.description, "
                "type = excluded.type, transport_type = excluded.transport_type, "
                "provision_type = excluded.provision_type, "
                "provision_device_key = excluded.provision_device_key, "
                "profile_data = excluded.profile_data, firmware_id = excluded.firmware_id, "
                "software_id = excluded.software_id",
                params,
            )

        await self._write(op)

    async def get_device_profile(self, profile_id: UUID) -> DeviceProfile | None:
        """The profile with this id."""
        return await self._one(
            f"SELECT {_PROFILE_COLS} FROM device_profile WHERE id = ?", (str(profile_id),),
            _profile,
        )

    async def get_device_profile_by_name(self, tenant_id: UUID, name: str) -> DeviceProfile | None:
        """The tenant's profile with this name."""
        return await self._one(
            f"SELECT {_PROFILE_COLS} FROM device_profile WHERE tenant_id = ? AND name = ?",
            (str(tenant_id), name), _profile,
        )

    async def get_default_device_profile(self, tenant_id: UUID) -> DeviceProfile | None:
        """The tenant's default profile."""
        return await self._one(
            f"SELECT {_PROFILE_COLS} FROM device_profile WHERE tenant_id = ? AND is_default",
            (str(tenant_id),), _profile,
        )

    async def get_device_profile_by_provision_key(self, key: str) -> DeviceProfile | None:
        """The profile (of any tenant) whose provision device key is this."""
        return await self._one(
            f"SELECT {_PROFILE_COLS} FROM device_profile WHERE provision_device_key = ?",
            (key,), _profile,
        )

    async def find_device_profiles(
        self, tenant_id: UUID, page_link: PageLink
    ) -> Page[DeviceProfile]:
        """A page of the tenant's profiles, searched and sorted by name."""
        return await self._read(
            lambda c: _page(
                c, _PROFILES, ["tenant_id = ?"], [str(tenant_id)], page_link, _profile
            )
        )

    async def delete_device_profile(self, profile_id: UUID) -> None:
        """Delete a profile; the caller has checked that no device uses it (if one still does,
        Conflict, and nothing is deleted)."""

        def op(tx: _Tx) -> None:
            try:
                tx.conn.execute("DELETE FROM device_profile WHERE id = ?", (str(profile_id),))
            except sqlite3.IntegrityError as exc:
                raise Conflict("The device profile is used by devices") from exc

        await self._write(op)

    async def count_devices_with_profile(self, profile_id: UUID) -> int:
        """How many devices use this profile."""
        return await self._read(
            lambda c: int(
                c.execute(
                    "SELECT count(*) FROM device WHERE device_profile_id = ?", (str(profile_id),)
                ).fetchone()[0]
            )
        )

    # -- devices and credentials -------------------------------------------------------------
    async def create_device(self, device: Device, credentials: DeviceCredentials) -> None:
        """Insert a device and its credentials in one transaction. A duplicate name in the tenant
        or a duplicate credentials id raises Conflict and stores nothing."""
        if credentials.device_id != device.id:
            raise ValueError("credentials.device_id must be the device's id")
        device_params = _device_params(device)
        credentials_params = _credentials_params(credentials)

        def op(tx: _Tx) -> None:
            tx.conn.execute(
                f"INSERT INTO device ({_DEVICE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                device_params,
            )
            tx.conn.execute(
                f"INSERT INTO device_credentials ({_CREDENTIALS_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                credentials_params,
            )

        await self._write(op)

    async def update_device(self, device: Device) -> None:
        """Update a device's fields (all but its id, tenant and creation time); a duplicate name
        raises Conflict, an unknown device NotFound."""
        params = _device_params(device)

        def op(tx: _Tx) -> None:
            cur = tx.conn.execute(
                "UPDATE device SET name = ?3, type = ?4, device_profile_id = ?5, "
                "customer_id = ?7, label = ?8, additional_info = ?9, firmware_id = ?10, "
                "software_id = ?11 WHERE id = ?1",
                params,
            )
            if cur.rowcount == 0:
                raise NotFound(f"Device with id [{device.id}] is not found")

        await self._write(op)

    async def get_device(self, device_id: UUID) -> Device | None:
        """The device with this id."""
        return await self._one(
            f"SELECT {_DEVICE_COLS} FROM device WHERE id = ?", (str(device_id),), _device
        )

    async def get_device_by_name(self, tenant_id: UUID, name: str) -> Device | None:
        """The tenant's device with this exact name."""
        return await self._one(
            f"SELECT {_DEVICE_COLS} FROM device WHERE tenant_id = ? AND name = ?",
            (str(tenant_id), name), _device,
        )

    async def find_devices(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_type: str | None = None,
    ) -> Page[Device]:
        """A page of the tenant's devices (or only one customer's), whose name contains the
        search text case-insensitively (as ThingsBoard's repositories do), sorted by name, type,
        label or createdTime."""
        where = ["tenant_id = ?"]
        params: list[Any] = [str(tenant_id)]
        if customer_id is not None:
            where.append("customer_id = ?")
            params.append(str(customer_id))
        if device_type is not None:
            where.append("type = ?")
            params.append(device_type)
        return await self._read(lambda c: _page(c, _DEVICES, where, params, page_link, _device))

    async def delete_device(self, device_id: UUID) -> None:
        """Delete a device with its credentials, time series, attributes, pending
        shared-attribute changes, server- and client-side RPCs and claim window."""

        def op(tx: _Tx) -> None:
            # Forget first: if this savepoint rolls back, a cache miss is harmless.
            tx.forget_device(device_id)
            row = tx.conn.execute(
                "SELECT seq FROM device WHERE id = ?", (str(device_id),)
            ).fetchone()
            if row is None:
                return
            seq = row[0]
            # No foreign keys on the hot tables (see the schema), so delete their rows here.
            for table in ("ts_kv", "ts_kv_log", "ts_kv_latest", "attribute_kv",
                          "attribute_change"):
                tx.conn.execute(f"DELETE FROM {table} WHERE device = ?", (seq,))
            # These have cascading foreign keys too; deleting them here keeps this correct
            # on a connection where foreign keys are off.
            for table in ("rpc", "client_rpc", "claim_window"):
                tx.conn.execute(f"DELETE FROM {table} WHERE device_id = ?", (str(device_id),))
            tx.conn.execute("DELETE FROM device WHERE seq = ?", (seq,))

        await self._write(op)

    async def get_device_credentials(self, device_id: UUID) -> DeviceCredentials | None:
        """The device's credentials."""
        return await self._one(
            f"SELECT {_CREDENTIALS_COLS} FROM device_credentials WHERE device_id = ?",
            (str(device_id),), _credentials,
        )

    async def get_device_by_credentials_id(
        self, credentials_id: str
    ) -> tuple[Device, DeviceCredentials] | None:
        """The device whose credentials id (an access token, for ACCESS_TOKEN) is exactly this."""
        device_cols = ", ".join(f"d.{c.strip()}" for c in _DEVICE_COLS.split(","))
        cred_cols = ", ".join(f"c.{c.strip()}" for c in _CREDENTIALS_COLS.split(","))
        sql = (
            f"SELECT {device_cols}, {cred_cols} FROM device_credentials c "
            "JOIN device d ON d.id = c.device_id WHERE c.credentials_id = ?"
        )

        def read(conn: sqlite3.Connection) -> tuple[Device, DeviceCredentials] | None:
            row = conn.execute(sql, (credentials_id,)).fetchone()
            return None if row is None else (_device(row[:11]), _credentials(row[11:]))

        return await self._read(read)

    async def update_device_credentials(self, credentials: DeviceCredentials) -> None:
        """Replace the device's credentials (every field, keyed by device_id); a credentials id
        used by another device raises Conflict, a device without credentials NotFound."""
        params = _credentials_params(credentials)

        def op(tx: _Tx) -> None:
            cur = tx.conn.execute(
                "UPDATE device_credentials SET id = ?1, created_time = ?3, "
                "credentials_type = ?4, credentials_id = ?5, credentials_value = ?6 "
                "WHERE device_id = ?2",
                params,
            )
            if cur.rowcount == 0:
                raise NotFound(f"Device with id [{credentials.device_id}] is not found")

        await self._write(op)

    # -- time series -------------------------------------------------------------------------
    async def save_telemetry(
        self, device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]]
    ) -> None:
        """Store time-series entries (groups sharing a timestamp) and advance the latest values.
        A later write at an equal (device, key, ts) replaces the earlier; the latest value moves
        only forward in time. An unknown device raises NotFound."""
        if not self._open:
            raise RuntimeError("SQLiteStore is not open")
        codes, double = _TYPE_CODE, DataType.DOUBLE
        # The rows are built here, on the event loop, while the writer thread (the bottleneck)
        # is busy with the previous commit; it then only has to concatenate them.
        seq = self._device_seqs.get(device_id)
        rows: list[Any] | None = None
        newest: list[_Row] | None = None
        if seq is not None:
            key_ids = self._key_ids
            try:
                rows = [
                    (seq, key_ids[e.key], ts, codes[e.type],
                     float(e.value) if e.type is double else e.value)
                    for ts, entries in batch
                    for e in entries
                ]
            except KeyError:  # a key never committed before: the writer will add it
                seq = None
            else:
                newest = _newest(rows)
        if rows is None or seq is None:
            rows = [
                (e.key, ts, codes[e.type], float(e.value) if e.type is double else e.value)
                for ts, entries in batch
                for e in entries
            ]
        if not rows:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._writer.put(_TelemetryOp(device_id, seq, rows, newest, future, loop))
        await future

    async def get_latest_telemetry(
        self, device_id: UUID, keys: Sequence[str] | None = None
    ) -> list[TsKvEntry]:
        """The latest value of each key (all keys when ``keys`` is None), in key order; keys
        without a value are left out."""
        if keys is not None and not keys:
            return []
        sql = (
            "SELECT k.key, l.ts, l.type, l.v FROM ts_kv_latest l "
            f"JOIN key_dictionary k ON k.key_id = l.key WHERE l.device = {_DEVICE_SEQ}"
        )
        params: list[Any] = [str(device_id)]
        if keys is not None:
            wanted = list(dict.fromkeys(keys))
            sql += f" AND k.key IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY k.key"

        def read(conn: sqlite3.Connection) -> list[TsKvEntry]:
            return [
                TsKvEntry(ts, key, _CODE_TYPE[code], _decode(code, v))
                for key, ts, code, v in conn.execute(sql, params)
            ]

        return await self._read(read)

    async def get_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, limit: int,
        descending: bool = True,
    ) -> list[TsKvEntry]:
        """Up to ``limit`` raw values of one key with ``start_ts <= ts < end_ts`` (ThingsBoard's
        bounds), newest first unless ``descending`` is False. A limit below 1 gives nothing."""
        if limit < 1 or end_ts <= start_ts:
            return []
        sql = (
            f"SELECT ts, type, v FROM ts_kv WHERE device = {_DEVICE_SEQ} AND key = {_KEY_ID} "
            f"AND ts >= ? AND ts < ? ORDER BY ts {'DESC' if descending else 'ASC'} LIMIT ?"
        )
        params = (str(device_id), key, start_ts, end_ts, limit)

        def read(conn: sqlite3.Connection) -> list[TsKvEntry]:
            return [
                TsKvEntry(ts, key, _CODE_TYPE[code], _decode(code, v))
                for ts, code, v in conn.execute(sql, params)
            ]

        await self._merge_log()
        return await self._read(read)

    async def aggregate_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, interval: int,
        aggregation: Aggregation,
    ) -> list[TsKvEntry]:
        """One entry per non-empty bucket ``[start_ts + i*interval, +interval)`` within
        ``[start_ts, end_ts)``, stamped with the bucket's midpoint (clamped to end_ts).
        MIN/MAX/AVG/SUM over numeric values (LONG stays LONG for MIN/MAX/SUM, AVG is DOUBLE;
        a bucket with any DOUBLE gives DOUBLE); COUNT counts values of every type (LONG).

        A bucket without LONG or DOUBLE values is left out of MIN/MAX/AVG/SUM. The midpoint is
        that of the bucket clamped to ``end_ts``, as ThingsBoard computes it. Aggregation.NONE
        or an interval below 1 raise ValueError.
        """
        if aggregation is Aggregation.NONE:
            raise ValueError("aggregate_telemetry needs an aggregation; use get_telemetry")
        if interval < 1:
            raise ValueError("interval must be at least 1 ms")
        if end_ts <= start_ts:
            return []
        function = {
            Aggregation.MIN: "min(v)", Aggregation.MAX: "max(v)", Aggregation.AVG: "avg(v)",
            Aggregation.SUM: "sum(v)", Aggregation.COUNT: "count(*)",
        }[aggregation]
        numeric = "" if aggregation is Aggregation.COUNT else f" AND type IN ({_LONG}, {_DOUBLE})"
        sql = (
            f"SELECT (ts - ?1) / ?2 AS bucket, {function}, sum(type = {_DOUBLE}) FROM ts_kv "
            f"WHERE device = {_DEVICE_SEQ.replace('?', '?3')} "
            f"AND key = {_KEY_ID.replace('?', '?4')} "
            f"AND ts >= ?1 AND ts < ?5{numeric} GROUP BY bucket ORDER BY bucket"
        )
        params = (start_ts, interval, str(device_id), key, end_ts)

        def read(conn: sqlite3.Connection) -> list[TsKvEntry]:
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "integer overflow" not in str(exc):
                    raise
                # A LONG sum beyond 64 bits: total() sums in floating point instead.
                rows = conn.execute(sql.replace("sum(v)", "total(v)"), params).fetchall()
            out = []
            for bucket, value, doubles in rows:
                lo = start_ts + bucket * interval
                hi = min(lo + interval, end_ts)
                ts = lo + (hi - lo) // 2
                if aggregation is Aggregation.COUNT:
                    out.append(TsKvEntry(ts, key, DataType.LONG, int(value)))
                elif aggregation is Aggregation.AVG or doubles or isinstance(value, float):
                    out.append(TsKvEntry(ts, key, DataType.DOUBLE, float(value)))
                else:
                    out.append(TsKvEntry(ts, key, DataType.LONG, int(value)))
            return out

        await self._merge_log()
        return await self._read(read)

    async def get_telemetry_keys(self, device_id: UUID) -> list[str]:
        """Every time-series key the device has a latest value for, sorted."""
        sql = (
            "SELECT k.key FROM ts_kv_latest l JOIN key_dictionary k ON k.key_id = l.key "
            f"WHERE l.device = {_DEVICE_SEQ} ORDER BY k.key"
        )
        return await self._read(
            lambda c: [r[0] for r in c.execute(sql, (str(device_id),))]
        )

    async def delete_telemetry(
        self, device_id: UUID, keys: Sequence[str], start_ts: int | None, end_ts: int | None,
        rewrite_latest: bool = True,
    ) -> None:
        """Delete values of these keys in ``[start_ts, end_ts)`` (everything when both are
        None; one None leaves that side open). The latest value of each key, when it was
        deleted, becomes the newest value left (or goes) with ``rewrite_latest``, and simply
        goes without it, as ThingsBoard's ``rewriteLatestIfDeleted`` does."""
        bounds, bound_params = "", []
        if start_ts is not None:
            bounds += " AND ts >= ?"
            bound_params.append(start_ts)
        if end_ts is not None:
            bounds += " AND ts < ?"
            bound_params.append(end_ts)

        def op(tx: _Tx) -> None:
            try:
                seq = tx.device_seq(device_id)
            except NotFound:
                return
            tx.merge_log()
            conn = tx.conn
            for key in dict.fromkeys(keys):
                kid = tx.find_key_id(key)
                if kid is None:
                    continue
                conn.execute(
                    f"DELETE FROM ts_kv WHERE device = ? AND key = ?{bounds}",
                    (seq, kid, *bound_params),
                )
                latest_deleted = conn.execute(
                    f"SELECT 1 FROM ts_kv_latest WHERE device = ? AND key = ?{bounds}",
                    (seq, kid, *bound_params),
                ).fetchone()
                if latest_deleted is None:
                    continue
                newest = None
                if rewrite_latest:
                    newest = conn.execute(
                        "SELECT ts, type, v FROM ts_kv WHERE device = ? AND key = ? "
                        "ORDER BY ts DESC LIMIT 1",
                        (seq, kid),
                    ).fetchone()
                if newest is None:
                    conn.execute(
                        "DELETE FROM ts_kv_latest WHERE device = ? AND key = ?", (seq, kid)
                    )
                else:
                    conn.execute(
                        "UPDATE ts_kv_latest SET ts = ?, type = ?, v = ? "
                        "WHERE device = ? AND key = ?",
                        (*newest, seq, kid),
                    )

        await self._write(op)

    # -- attributes --------------------------------------------------------------------------
    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """Insert or replace attributes in one scope, all stamped ``ts``. An unknown device
        raises NotFound."""
        if entries:
            await self._write(_save_attributes_op(device_id, scope, entries, ts, track=False))

    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> list[AttributeKvEntry]:
        """The scope's attributes (only ``keys`` when given, in that order), else sorted by key."""
        if keys is not None and not keys:
            return []
        sql = (
            "SELECT k.key, a.type, a.v, a.last_update_ts FROM attribute_kv a "
            "JOIN key_dictionary k ON k.key_id = a.key "
            f"WHERE a.device = {_DEVICE_SEQ} AND a.scope = ?"
        )
        params: list[Any] = [str(device_id), _SCOPE_CODE[scope]]
        wanted: list[str] = []
        if keys is not None:
            wanted = list(dict.fromkeys(keys))
            sql += f" AND k.key IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY k.key"

        def read(conn: sqlite3.Connection) -> list[AttributeKvEntry]:
            found = [
                AttributeKvEntry(key, _CODE_TYPE[code], _decode(code, v), last_update_ts)
                for key, code, v, last_update_ts in conn.execute(sql, params)
            ]
            if keys is None:
                return found
            by_key = {a.key: a for a in found}
            return [by_key[k] for k in wanted if k in by_key]

        return await self._read(read)

    async def delete_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """Delete attributes; returns the keys that existed, in the order given."""
        return await self._write(_delete_attributes_op(device_id, scope, keys, track=False))

    # -- shared-attribute changes waiting for the device --------------------------------------
    async def save_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """``save_attributes``, and in the same transaction record each key as changed for the
        device's next attribute-update poll (replacing an earlier pending change of the key).

        Only SHARED_SCOPE keys are recorded: the device is never told about the other scopes,
        so for them this is ``save_attributes``. An unknown device raises NotFound.
        """
        if entries:
            await self._write(_save_attributes_op(device_id, scope, entries, ts, track=True))

    async def delete_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """``delete_attributes``, and in the same transaction record the keys that existed as
        deleted for the next poll (replacing an earlier pending change of the key). Only
        SHARED_SCOPE keys are recorded, as in ``save_attributes_tracked``."""
        return await self._write(_delete_attributes_op(device_id, scope, keys, track=True))

    async def take_attribute_changes(self, device_id: UUID) -> AttributeChanges:
        """Atomically remove and return the device's pending changes: each key either updated
        (with its current value) or deleted, whichever happened last. Empty when none; two
        concurrent callers never both get the same change.

        Both lists are in key order. A key recorded as updated whose shared attribute is gone
        (deleted without tracking since) is reported as deleted: that is what the device must
        learn. An unknown device has no changes.
        """
        def take(tx: _Tx) -> AttributeChanges:
            try:
                seq = tx.device_seq(device_id)
            except NotFound:
                return AttributeChanges([], [])
            # A select then a delete is as atomic as DELETE ... RETURNING here: nothing but
            # this writer thread writes, and the values need a join RETURNING cannot make.
            rows = tx.conn.execute(
                "SELECT k.key, c.deleted, a.type, a.v, a.last_update_ts FROM attribute_change c "
                "JOIN key_dictionary k ON k.key_id = c.key "
                "LEFT JOIN attribute_kv a ON a.device = c.device AND a.scope = ? "
                "AND a.key = c.key WHERE c.device = ? ORDER BY k.key",
                (_SHARED, seq),
            ).fetchall()
            if not rows:
                return AttributeChanges([], [])
            tx.conn.execute("DELETE FROM attribute_change WHERE device = ?", (seq,))
            updated: list[AttributeKvEntry] = []
            deleted: list[str] = []
            for key, was_deleted, code, v, last_update_ts in rows:
                if was_deleted or code is None:
                    deleted.append(key)
                else:
                    updated.append(
                        AttributeKvEntry(key, _CODE_TYPE[code], _decode(code, v), last_update_ts)
                    )
            return AttributeChanges(updated, deleted)

        return await self._take(
            f"SELECT 1 FROM attribute_change WHERE device = {_DEVICE_SEQ} LIMIT 1",
            (str(device_id),), take, AttributeChanges([], []),
        )

    # -- server-side RPC ---------------------------------------------------------------------
    async def create_rpc(self, rpc: Rpc) -> Rpc:
        """Store a new RPC, giving it the device's next request id (1, 2, ...: per device,
        never reused, surviving restarts and RPC deletion). Returns it with ``request_id`` set.
        An unknown device raises NotFound, a duplicate RPC id Conflict (and uses up no id)."""
        def op(tx: _Tx) -> Rpc:
            # The counter is bumped in the same savepoint as the insert, so a failed insert
            # gives its id back; a committed one never does.
            bumped = tx.conn.execute(
                "UPDATE device SET rpc_seq = rpc_seq + 1 WHERE id = ? RETURNING rpc_seq",
                (str(rpc.device_id),),
            ).fetchall()
            if not bumped:
                raise NotFound(f"Device with id [{rpc.device_id}] is not found")
            created = dataclasses.replace(rpc, request_id=bumped[0][0])
            tx.conn.execute(
                f"INSERT INTO rpc ({_RPC_COLS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    str(created.id), str(created.tenant_id), str(created.device_id),
                    created.created_time, created.expiration_time, created.method,
                    created.params, int(created.oneway), int(created.persistent),
                    RpcStatus(created.status).value, created.request_id, created.response,
                    _dumps(created.additional_info), created.retries,
                ),
            )
            return created

        return await self._write(op)

    async def get_rpc(self, rpc_id: UUID) -> Rpc | None:
        """The RPC with this id."""
        return await self._one(
            f"SELECT {_RPC_COLS} FROM rpc WHERE id = ?", (str(rpc_id),), _rpc
        )

    async def take_next_rpc(self, device_id: UUID, now: int) -> Rpc | None:
        """Atomically move the device's oldest QUEUED, unexpired RPC (lowest request id) to
        DELIVERED and return it; None when there is none. Two concurrent callers never get the
        same RPC. An RPC is unexpired while ``expiration_time >= now``."""
        queued = (
            "FROM rpc WHERE device_id = ? AND status = 'QUEUED' AND expiration_time >= ? "
            "ORDER BY request_id LIMIT 1"
        )
        params = (str(device_id), now)

        def take(tx: _Tx) -> Rpc | None:
            rows = tx.conn.execute(
                f"UPDATE rpc SET status = 'DELIVERED' WHERE id = (SELECT id {queued}) "
                f"RETURNING {_RPC_COLS}",
                params,
            ).fetchall()
            return _rpc(rows[0]) if rows else None

        return await self._take(f"SELECT 1 {queued}", params, take, None)

    async def complete_rpc(
        self, device_id: UUID, request_id: int, response: str, now: int
    ) -> Rpc | None:
        """Record the device's reply: an RPC that is DELIVERED or SENT (or still QUEUED) and
        not expired (``expiration_time >= now``) becomes SUCCESSFUL with ``response``. Returns
        the updated RPC, or None when there is no such RPC or it is already final or expired
        (a stale reply)."""
        params = (response, str(device_id), request_id, now)

        def op(tx: _Tx) -> Rpc | None:
            rows = tx.conn.execute(
                "UPDATE rpc SET status = 'SUCCESSFUL', response = ? "
                "WHERE device_id = ? AND request_id = ? "
                "AND status IN ('QUEUED', 'SENT', 'DELIVERED') AND expiration_time >= ? "
                f"RETURNING {_RPC_COLS}",
                params,
            ).fetchall()
            return _rpc(rows[0]) if rows else None

        return await self._write(op)

    async def set_rpc_status(
        self, rpc_id: UUID, status: RpcStatus, expected: frozenset[RpcStatus],
    ) -> Rpc | None:
        """Compare-and-set: move the RPC to ``status`` only if its status is in ``expected``.
        Returns the updated RPC, or None when it was not in an expected state or does not
        exist."""
        if not expected:
            return None
        sql = (
            "UPDATE rpc SET status = ? "
            f"WHERE id = ? AND status IN ({_status_list(expected)}) RETURNING {_RPC_COLS}"
        )
        params = (RpcStatus(status).value, str(rpc_id))

        def op(tx: _Tx) -> Rpc | None:
            rows = tx.conn.execute(sql, params).fetchall()
            return _rpc(rows[0]) if rows else None

        return await self._write(op)

    async def expire_rpcs(self, now: int) -> list[Rpc]:
        """Finish every RPC whose expiration time has passed (``expiration_time < now``):
        QUEUED becomes EXPIRED, SENT/DELIVERED become TIMEOUT (a one-way DELIVERED RPC is
        already done and stays). Returns the RPCs changed, as they are now."""
        def op(tx: _Tx) -> list[Rpc]:
            changed: list[Rpc] = []
            for sql in _EXPIRE_RPCS:
                changed.extend(_rpc(r) for r in tx.conn.execute(sql, (now,)).fetchall())
            return changed

        return await self._write(op)

    async def find_rpcs(
        self, device_id: UUID, page_link: PageLink, status: RpcStatus | None = None
    ) -> Page[Rpc]:
        """A page of the device's RPCs, newest first by default (sortProperty createdTime),
        optionally of one status; ``text_search`` matches the method (case-insensitive
        "contains"). Also sortable by expirationTime, requestId, status and method; ties are
        broken by the request id."""
        if page_link.sort_property is None:
            page_link = dataclasses.replace(
                page_link, sort_property="createdTime", sort_order="DESC"
            )
        where = ["device_id = ?"]
        params: list[Any] = [str(device_id)]
        if status is not None:
            where.append("status = ?")
            params.append(RpcStatus(status).value)
        return await self._read(lambda c: _page(c, _RPCS, where, params, page_link, _rpc))

    async def delete_rpc(self, rpc_id: UUID) -> None:
        """Delete an RPC (its request id is still never reused: the counter is the device's)."""
        def op(tx: _Tx) -> None:
            tx.conn.execute("DELETE FROM rpc WHERE id = ?", (str(rpc_id),))

        await self._write(op)

    # -- client-side RPC ---------------------------------------------------------------------
    async def create_client_rpc(self, request: ClientRpc) -> None:
        """Store a device's request to the server. An unknown device raises NotFound, a
        duplicate id Conflict."""
        params = (
            str(request.id), str(request.tenant_id), str(request.device_id),
            request.created_time, request.expiration_time, request.method, request.params,
            int(request.claimed), request.response,
        )

        def op(tx: _Tx) -> None:
            tx.device_seq(request.device_id)  # NotFound, with the device's id in the message
            tx.conn.execute(
                f"INSERT INTO client_rpc ({_CLIENT_RPC_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )

        await self._write(op)

    async def take_client_rpc(self, device_id: UUID, now: int) -> ClientRpc | None:
        """Atomically mark the device's oldest unclaimed, unexpired (``expiration_time >=
        now``) request claimed and return it; None when there is none. Requests created in the
        same ms are taken in the order they were stored."""
        unclaimed = (
            "FROM client_rpc WHERE device_id = ? AND claimed = 0 AND expiration_time >= ? "
            "ORDER BY created_time, rowid LIMIT 1"
        )
        params = (str(device_id), now)

        def take(tx: _Tx) -> ClientRpc | None:
            rows = tx.conn.execute(
                f"UPDATE client_rpc SET claimed = 1 WHERE rowid = (SELECT rowid {unclaimed}) "
                f"RETURNING {_CLIENT_RPC_COLS}",
                params,
            ).fetchall()
            return _client_rpc(rows[0]) if rows else None

        return await self._take(f"SELECT 1 {unclaimed}", params, take, None)

    async def answer_client_rpc(self, request_id: UUID, response: str, now: int) -> bool:
        """Record the answer of an unexpired (``expiration_time >= now``) request without one;
        False otherwise (unknown, answered already, or expired)."""
        params = (response, str(request_id), now)

        def op(tx: _Tx) -> bool:
            cur = tx.conn.execute(
                "UPDATE client_rpc SET response = ? "
                "WHERE id = ? AND response IS NULL AND expiration_time >= ?",
                params,
            )
            return cur.rowcount > 0

        return await self._write(op)

    async def get_client_rpc(self, request_id: UUID) -> ClientRpc | None:
        """The request with this id."""
        return await self._one(
            f"SELECT {_CLIENT_RPC_COLS} FROM client_rpc WHERE id = ?", (str(request_id),),
            _client_rpc,
        )

    async def delete_client_rpcs_before(self, now: int) -> int:
        """Forget requests that expired before ``now`` (``expiration_time < now``); returns
        how many."""
        def op(tx: _Tx) -> int:
            cur = tx.conn.execute("DELETE FROM client_rpc WHERE expiration_time < ?", (now,))
            return cur.rowcount

        return await self._write(op)

    # -- claiming ----------------------------------------------------------------------------
    async def open_claim_window(self, window: ClaimWindow, now: int) -> bool:
        """Record the device's claim window unless one is open (unexpired at ``now``:
        ``expiration_time >= now``) already: a second offer within the window does not replace
        the first. True if recorded. An unknown device raises NotFound."""
        params = (str(window.device_id), window.secret_key, window.expiration_time, now)

        def op(tx: _Tx) -> bool:
            tx.device_seq(window.device_id)
            cur = tx.conn.execute(
                "INSERT INTO claim_window (device_id, secret_key, expiration_time) "
                "VALUES (?1, ?2, ?3) ON CONFLICT (device_id) DO UPDATE SET "
                "secret_key = excluded.secret_key, expiration_time = excluded.expiration_time "
                "WHERE claim_window.expiration_time < ?4",
                params,
            )
            return cur.rowcount > 0

        return await self._write(op)

    async def get_claim_window(self, device_id: UUID) -> ClaimWindow | None:
        """The device's claim window, expired or not."""
        return await self._one(
            "SELECT secret_key, expiration_time FROM claim_window WHERE device_id = ?",
            (str(device_id),), lambda r: ClaimWindow(device_id, r[0], r[1]),
        )

    async def close_claim_window(self, device_id: UUID) -> None:
        """Forget the device's claim window."""
        def op(tx: _Tx) -> None:
            tx.conn.execute("DELETE FROM claim_window WHERE device_id = ?", (str(device_id),))

        await self._write(op)

    async def claim_device(
        self, device_id: UUID, customer_id: UUID, secret_key: str, now: int
    ) -> str:
        """Atomically assign the device to the customer if it has no customer and its claim
        window is open at ``now`` with ``secret_key``; the window is then closed. Returns
        "SUCCESS", "CLAIMED" (it has a customer already, whatever the key) or "FAILURE" (no
        open window, a wrong key, or no such device). A failure leaves the window as it is.
        An unknown customer raises NotFound and changes nothing."""
        def op(tx: _Tx) -> str:
            conn = tx.conn
            row = conn.execute(
                "SELECT customer_id FROM device WHERE id = ?", (str(device_id),)
            ).fetchone()
            if row is None:
                return "FAILURE"
            if row[0] is not None:
                return "CLAIMED"
            opened = conn.execute(
                "DELETE FROM claim_window WHERE device_id = ? AND secret_key = ? "
                "AND expiration_time >= ? RETURNING device_id",
                (str(device_id), secret_key, now),
            ).fetchall()
            if not opened:
                return "FAILURE"
            conn.execute(
                "UPDATE device SET customer_id = ? WHERE id = ?", (str(customer_id), str(device_id))
            )
            return "SUCCESS"

        return await self._write(op)

    # -- helpers -----------------------------------------------------------------------------
    async def _take(
        self, probe: str, params: Sequence[Any], take: Callable[[_Tx], _R], nothing: _R
    ) -> _R:
        """Run ``take`` on the writer only when ``probe`` (a read) finds something to take.

        Every long poll checks for work when it starts and after every wake-up, and mostly finds
        none; answering those from a reader keeps them out of the writer's queue. Skipping the
        write is safe: whatever a caller was told about is committed, so a reader sees it. The
        write itself checks again, so concurrent takers still never get the same item.
        """
        found = await self._read(lambda c: c.execute(probe, params).fetchone() is not None)
        return await self._write(take) if found else nothing

    async def _one(
        self, sql: str, params: Sequence[Any], make: Callable[[tuple[Any, ...]], _T]
    ) -> _T | None:
        def read(conn: sqlite3.Connection) -> _T | None:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else make(row)

        return await self._read(read)


# expire_rpcs, one statement per index range of rpc_expiry (status, oneway, expiration_time):
# `oneway IN (0, 1)` lets the first use the whole index, and the second never visits the
# one-way DELIVERED RPCs, which stay so for good.
_EXPIRE_RPCS: Final = (
    "UPDATE rpc SET status = CASE status WHEN 'QUEUED' THEN 'EXPIRED' ELSE 'TIMEOUT' END "
    "WHERE status IN ('QUEUED', 'SENT') AND oneway IN (0, 1) AND expiration_time < ?1 "
    f"RETURNING {_RPC_COLS}",
    "UPDATE rpc SET status = 'TIMEOUT' "
    "WHERE status = 'DELIVERED' AND oneway = 0 AND expiration_time < ?1 "
    f"RETURNING {_RPC_COLS}",
)
_UPSERT_ATTRIBUTE: Final = (
    "INSERT OR REPLACE INTO attribute_kv (device, scope, key, last_update_ts, type, v) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_RECORD_CHANGE: Final = (
    "INSERT OR REPLACE INTO attribute_change (device, key, deleted, ts) VALUES (?, ?, ?, ?)"
)


def _save_attributes_op(
    device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int, *, track: bool
) -> Callable[[_Tx], None]:
    """The write of save_attributes; with ``track``, a shared key is also recorded as updated
    for the device's next attribute-update poll."""
    scope_code = _SCOPE_CODE[scope]
    prepared = [(e.key, _TYPE_CODE[e.type], _encode(e.type, e.value)) for e in entries]
    # A device is told about shared attributes only (ThingsBoard's rule): a change in another
    # scope would be a pending change with no value the device may see.
    track = track and scope_code == _SHARED

    def op(tx: _Tx) -> None:
        seq = tx.device_seq(device_id)
        rows = [(seq, scope_code, tx.key_id(k), ts, code, v) for k, code, v in prepared]
        tx.conn.executemany(_UPSERT_ATTRIBUTE, rows)
        if track:
            tx.conn.executemany(_RECORD_CHANGE, [(seq, row[2], 0, ts) for row in rows])

    return op


def _delete_attributes_op(
    device_id: UUID, scope: AttributeScope, keys: Sequence[str], *, track: bool
) -> Callable[[_Tx], list[str]]:
    """The write of delete_attributes; with ``track``, each shared key that existed is also
    recorded as deleted for the device's next attribute-update poll."""
    scope_code = _SCOPE_CODE[scope]
    track = track and scope_code == _SHARED
    # A delete has no timestamp of its own; the row's ts only says when the change was made.
    ts = now_ms()

    def op(tx: _Tx) -> list[str]:
        try:
            seq = tx.device_seq(device_id)
        except NotFound:
            return []
        deleted: list[str] = []
        changes: list[tuple[int, int, int, int]] = []
        for key in dict.fromkeys(keys):
            kid = tx.find_key_id(key)
            if kid is None:
                continue
            cur = tx.conn.execute(
                "DELETE FROM attribute_kv WHERE device = ? AND scope = ? AND key = ?",
                (seq, scope_code, kid),
            )
            if cur.rowcount:
                deleted.append(key)
                changes.append((seq, kid, 1, ts))
        if track and changes:
            tx.conn.executemany(_RECORD_CHANGE, changes)
        return deleted

    return op


def _device_params(d: Device) -> tuple[Any, ...]:
    return (
        str(d.id), str(d.tenant_id), d.name, d.type, str(d.device_profile_id), d.created_time,
        _s(d.customer_id), d.label, _dumps(d.additional_info), _s(d.firmware_id),
        _s(d.software_id),
    )


def _credentials_params(c: DeviceCredentials) -> tuple[Any, ...]:
    return (
        str(c.id), str(c.device_id), c.created_time, c.credentials_type.value, c.credentials_id,
        c.credentials_value,
    )


def _upsert_user_credentials(conn: sqlite3.Connection, c: UserCredentials) -> None:
    conn.execute(
        f"INSERT INTO user_credentials ({_USER_CREDENTIALS_COLS}) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, "
        "activate_token = excluded.activate_token, enabled = excluded.enabled",
        (str(c.user_id), c.password_hash, c.activate_token, int(c.enabled)),
    )
