"""The storage contract every backend (SQLite, PostgreSQL) fulfils.

Every write method returns only after its data is committed durably (even when its caller is
cancelled meanwhile, the write is committed); a backend may share one
transaction between many concurrent callers (group commit), but never answers before the commit.
Methods raise ``thingport.errors.Conflict`` for a duplicate name or token and return ``None`` (or
an empty result) for what does not exist; they never know about HTTP. Writes that name a device
that does not exist raise ``NotFound``. A time ``t`` is expired at ``now`` when ``t < now``
(still valid at ``t == now``), as in ThingsBoard.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from uuid import UUID

from thingport.domain.model import (
    Aggregation,
    AttributeChanges,
    AttributeKvEntry,
    AttributeScope,
    Authority,
    ClaimWindow,
    ClientRpc,
    Customer,
    Device,
    DeviceCredentials,
    DeviceInfo,
    DeviceProfile,
    KvEntry,
    OtaPackage,
    OtaPackageType,
    Page,
    PageLink,
    Rpc,
    RpcStatus,
    Tenant,
    TsKvEntry,
    User,
    UserCredentials,
)

#: OTA package bytes are stored in chunks of this many bytes (only an upload's last chunk is
#: shorter), so that chunk n holds bytes [n * OTA_CHUNK_SIZE, (n + 1) * OTA_CHUNK_SIZE).
OTA_CHUNK_SIZE = 1 << 20


class Store(abc.ABC):
    """Durable storage of entities, time series and attributes."""

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create or migrate the schema to the current version."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release every connection and thread."""

    # -- tenants, customers, users -------------------------------------------------------------
    @abc.abstractmethod
    async def save_tenant(self, tenant: Tenant) -> None:
        """Insert or update a tenant."""

    @abc.abstractmethod
    async def get_tenant(self, tenant_id: UUID) -> Tenant | None:
        """The tenant with this id."""

    @abc.abstractmethod
    async def find_tenants(self, page_link: PageLink) -> Page[Tenant]:
        """A page of tenants, searched and sorted by title."""

    @abc.abstractmethod
    async def save_customer(self, customer: Customer) -> None:
        """Insert or update a customer; a duplicate title in the tenant raises Conflict."""

    @abc.abstractmethod
    async def get_customer(self, customer_id: UUID) -> Customer | None:
        """The customer with this id."""

    @abc.abstractmethod
    async def find_customers(self, tenant_id: UUID, page_link: PageLink) -> Page[Customer]:
        """A page of the tenant's customers, searched and sorted by title."""

    @abc.abstractmethod
    async def delete_customer(self, customer_id: UUID) -> None:
        """Delete a customer, its users, and unassign its devices."""

    @abc.abstractmethod
    async def save_user(self, user: User, credentials: UserCredentials | None = None) -> None:
        """Insert or update a user (and its credentials when given); a duplicate email raises
        Conflict."""

    @abc.abstractmethod
    async def get_user(self, user_id: UUID) -> User | None:
        """The user with this id."""

    @abc.abstractmethod
    async def get_user_by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively."""

    @abc.abstractmethod
    async def get_user_credentials(self, user_id: UUID) -> UserCredentials | None:
        """The user's password hash and activation state."""

    @abc.abstractmethod
    async def get_user_credentials_by_activate_token(self, token: str) -> UserCredentials | None:
        """The credentials waiting for activation with this token."""

    @abc.abstractmethod
    async def find_users(
        self, tenant_id: UUID | None, customer_id: UUID | None, page_link: PageLink,
        authority: Authority | None = None,
    ) -> Page[User]:
        """A page of users of a tenant (customer_id None: all of them) or of one customer,
        optionally only those of one authority."""

    @abc.abstractmethod
    async def delete_user(self, user_id: UUID) -> None:
        """Delete a user and its credentials."""

    @abc.abstractmethod
    async def count_users(self) -> int:
        """How many users exist; zero means a fresh store that needs its first administrators."""

    # -- device profiles -----------------------------------------------------------------------
    @abc.abstractmethod
    async def save_device_profile(self, profile: DeviceProfile) -> None:
        """Insert or update a profile. Marking it default unmarks the tenant's previous default.
        A duplicate name, or a provision key used by another profile, raises Conflict."""

    @abc.abstractmethod
    async def get_device_profile(self, profile_id: UUID) -> DeviceProfile | None:
        """The profile with this id."""

    @abc.abstractmethod
    async def get_device_profile_by_name(self, tenant_id: UUID, name: str) -> DeviceProfile | None:
        """The tenant's profile with this name."""

    @abc.abstractmethod
    async def get_default_device_profile(self, tenant_id: UUID) -> DeviceProfile | None:
        """The tenant's default profile."""

    @abc.abstractmethod
    async def get_device_profile_by_provision_key(self, key: str) -> DeviceProfile | None:
        """The profile (of any tenant) whose provision device key is this."""

    @abc.abstractmethod
    async def find_device_profiles(
        self, tenant_id: UUID, page_link: PageLink
    ) -> Page[DeviceProfile]:
        """A page of the tenant's profiles, searched and sorted by name."""

    @abc.abstractmethod
    async def delete_device_profile(self, profile_id: UUID) -> None:
        """Delete a profile; the caller has checked that no device uses it."""

    @abc.abstractmethod
    async def count_devices_with_profile(self, profile_id: UUID) -> int:
        """How many devices use this profile."""

    # -- devices and credentials ---------------------------------------------------------------
    @abc.abstractmethod
    async def create_device(self, device: Device, credentials: DeviceCredentials) -> None:
        """Insert a device and its credentials in one transaction. A duplicate name in the tenant
        or a duplicate credentials id raises Conflict and stores nothing."""

    @abc.abstractmethod
    async def update_device(self, device: Device) -> None:
        """Update a device's fields; a duplicate name raises Conflict."""

    @abc.abstractmethod
    async def get_device(self, device_id: UUID) -> Device | None:
        """The device with this id."""

    @abc.abstractmethod
    async def get_device_by_name(self, tenant_id: UUID, name: str) -> Device | None:
        """The tenant's device with this exact name."""

    @abc.abstractmethod
    async def find_devices(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_type: str | None = None,
    ) -> Page[Device]:
        """A page of the tenant's devices (or only one customer's), searched by a
        case-insensitive "contains" on the name, sorted by name, type, label or createdTime."""

    @abc.abstractmethod
    async def find_device_infos(
        self, tenant_id: UUID, page_link: PageLink, customer_id: UUID | None = None,
        device_profile_id: UUID | None = None, active: bool | None = None,
    ) -> Page[DeviceInfo]:
        """A page of the tenant's devices (or only one customer's, or one profile's) with their
        profile's name, customer's title and state: ``active`` is the SERVER_SCOPE attribute
        ``active`` when it is the boolean true (else False), ``last_activity_time`` the LONG
        attribute ``lastActivityTime`` (else None). ``active`` True or False keeps only
        devices in that state. ``text_search`` is a case-insensitive "contains" on the name,
        label, profile name or customer title; sorted by createdTime (default), name, label,
        type, deviceProfileName or customerTitle."""

    @abc.abstractmethod
    async def find_stale_active_devices(
        self, before_ts: int, after: UUID | None, limit: int
    ) -> list[tuple[UUID, int | None]]:
        """Up to ``limit`` devices (of every tenant), in id order after the device ``after``,
        whose SERVER_SCOPE attribute ``active`` is the boolean true and whose LONG attribute
        ``lastActivityTime`` is older than ``before_ts`` or missing; each with that time."""

    @abc.abstractmethod
    async def delete_device(self, device_id: UUID) -> None:
        """Delete a device with its credentials, time series and attributes."""

    @abc.abstractmethod
    async def get_device_credentials(self, device_id: UUID) -> DeviceCredentials | None:
        """The device's credentials."""

    @abc.abstractmethod
    async def get_device_by_credentials_id(
        self, credentials_id: str
    ) -> tuple[Device, DeviceCredentials] | None:
        """The device whose credentials id (an access token, for ACCESS_TOKEN) is exactly this."""

    @abc.abstractmethod
    async def update_device_credentials(self, credentials: DeviceCredentials) -> None:
        """Replace the device's credentials; a credentials id used by another device raises
        Conflict."""

    # -- time series -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def save_telemetry(
        self, device_id: UUID, batch: Sequence[tuple[int, Sequence[KvEntry]]]
    ) -> None:
        """Store time-series entries (groups sharing a timestamp) and advance the latest values.
        A later write at an equal (device, key, ts) replaces the earlier; the latest value moves
        only forward in time."""

    @abc.abstractmethod
    async def get_latest_telemetry(
        self, device_id: UUID, keys: Sequence[str] | None = None
    ) -> list[TsKvEntry]:
        """The latest value of each key (all keys when ``keys`` is None), in key order."""

    @abc.abstractmethod
    async def get_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, limit: int,
        descending: bool = True,
    ) -> list[TsKvEntry]:
        """Up to ``limit`` raw values of one key with ``start_ts <= ts < end_ts`` (ThingsBoard's
        bounds), newest first unless ``descending`` is False."""

    @abc.abstractmethod
    async def aggregate_telemetry(
        self, device_id: UUID, key: str, start_ts: int, end_ts: int, interval: int,
        aggregation: Aggregation,
    ) -> list[TsKvEntry]:
        """One entry per non-empty bucket ``[start_ts + i*interval, +interval)`` within
        ``[start_ts, end_ts)``, stamped with the bucket's midpoint (clamped to end_ts).
        MIN/MAX/AVG/SUM over numeric values (LONG stays LONG for MIN/MAX/SUM, AVG is DOUBLE;
        a bucket with any DOUBLE gives DOUBLE); COUNT counts values of every type (LONG)."""

    @abc.abstractmethod
    async def get_telemetry_keys(self, device_id: UUID) -> list[str]:
        """Every time-series key the device has a latest value for, sorted."""

    @abc.abstractmethod
    async def delete_telemetry(
        self, device_id: UUID, keys: Sequence[str], start_ts: int | None, end_ts: int | None,
        rewrite_latest: bool = True,
    ) -> None:
        """Delete values of these keys in ``[start_ts, end_ts)`` (everything when both are
        None). The latest value of each key becomes the newest value left, or goes."""

    # -- attributes ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def save_attributes(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """Insert or replace attributes in one scope, all stamped ``ts``."""

    @abc.abstractmethod
    async def get_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str] | None = None
    ) -> list[AttributeKvEntry]:
        """The scope's attributes (only ``keys`` when given, in that order), else sorted by key."""

    @abc.abstractmethod
    async def delete_attributes(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """Delete attributes; returns the keys that existed."""

    # -- shared-attribute changes waiting for the device ----------------------------------------
    @abc.abstractmethod
    async def save_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, entries: Sequence[KvEntry], ts: int
    ) -> None:
        """``save_attributes``, and in the same transaction, for SHARED_SCOPE (the only scope
        devices are told about), record each key as changed for the device's next
        attribute-update poll (replacing an earlier pending change of the key)."""

    @abc.abstractmethod
    async def delete_attributes_tracked(
        self, device_id: UUID, scope: AttributeScope, keys: Sequence[str]
    ) -> list[str]:
        """``delete_attributes``, and in the same transaction, for SHARED_SCOPE, record the keys
        that existed as deleted for the next poll (replacing an earlier pending change)."""

    @abc.abstractmethod
    async def take_attribute_changes(self, device_id: UUID) -> AttributeChanges:
        """Atomically remove and return the device's pending changes: each key either updated
        (with its current value) or deleted, whichever happened last. Empty when none; two
        concurrent callers never both get the same change."""

    # -- server-side RPC -------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_rpc(self, rpc: Rpc) -> Rpc:
        """Store a new RPC, giving it the device's next request id (1, 2, ...: per device,
        never reused, surviving restarts and RPC deletion). Returns it with ``request_id`` set."""

    @abc.abstractmethod
    async def get_rpc(self, rpc_id: UUID) -> Rpc | None:
        """The RPC with this id."""

    @abc.abstractmethod
    async def take_next_rpc(self, device_id: UUID, now: int) -> Rpc | None:
        """Atomically move the device's oldest QUEUED, unexpired RPC (lowest request id) to
        DELIVERED and return it; None when there is none. Two concurrent callers never get the
        same RPC."""

    @abc.abstractmethod
    async def complete_rpc(
        self, device_id: UUID, request_id: int, response: str, now: int
    ) -> Rpc | None:
        """Record the device's reply: an RPC that is DELIVERED or SENT (or still QUEUED) and
        not expired becomes SUCCESSFUL with ``response``. Returns the updated RPC, or None when
        there is no such RPC or it is already final or expired (a stale reply)."""

    @abc.abstractmethod
    async def set_rpc_status(
        self, rpc_id: UUID, status: RpcStatus, expected: frozenset[RpcStatus],
    ) -> Rpc | None:
        """Compare-and-set: move the RPC to ``status`` only if its status is in ``expected``.
        Returns the updated RPC, or None when it was not in an expected state."""

    @abc.abstractmethod
    async def expire_rpcs(self, now: int) -> list[Rpc]:
        """Finish every RPC whose expiration time has passed: QUEUED becomes EXPIRED,
        SENT/DELIVERED become TIMEOUT (a one-way DELIVERED RPC is already done and stays).
        Returns the RPCs changed."""

    @abc.abstractmethod
    async def find_rpcs(
        self, device_id: UUID, page_link: PageLink, status: RpcStatus | None = None
    ) -> Page[Rpc]:
        """A page of the device's RPCs, newest first by default (sortProperty createdTime),
        optionally of one status; ``text_search`` matches the method."""

    @abc.abstractmethod
    async def delete_rpc(self, rpc_id: UUID) -> None:
        """Delete an RPC (its request id is still never reused)."""

    # -- client-side RPC -------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_client_rpc(self, request: ClientRpc) -> None:
        """Store a device's request to the server."""

    @abc.abstractmethod
    async def take_client_rpc(self, device_id: UUID, now: int) -> ClientRpc | None:
        """Atomically mark the device's oldest unclaimed, unexpired request claimed and return
        it; None when there is none."""

    @abc.abstractmethod
    async def answer_client_rpc(self, request_id: UUID, response: str, now: int) -> bool:
        """Record the answer of an unexpired request without one; False otherwise."""

    @abc.abstractmethod
    async def get_client_rpc(self, request_id: UUID) -> ClientRpc | None:
        """The request with this id."""

    @abc.abstractmethod
    async def delete_client_rpcs_before(self, now: int) -> int:
        """Forget requests that expired before ``now``; returns how many."""

    # -- claiming --------------------------------------------------------------------------------
    @abc.abstractmethod
    async def open_claim_window(self, window: ClaimWindow, now: int) -> bool:
        """Record the device's claim window unless one is open (unexpired at ``now``) already:
        a second offer within the window does not replace the first. True if recorded."""

    @abc.abstractmethod
    async def get_claim_window(self, device_id: UUID) -> ClaimWindow | None:
        """The device's claim window, expired or not."""

    @abc.abstractmethod
    async def close_claim_window(self, device_id: UUID) -> None:
        """Forget the device's claim window."""

    @abc.abstractmethod
    async def claim_device(
        self, device_id: UUID, customer_id: UUID, secret_key: str, now: int
    ) -> str:
        """Atomically assign the device to the customer if it has no customer and its claim
        window is open at ``now`` with ``secret_key``; the window is then closed. Returns
        "SUCCESS", "CLAIMED" (it has a customer already) or "FAILURE" (no open window or a
        wrong key)."""

    # -- OTA packages ----------------------------------------------------------------------------
    # A package's bytes are written as an upload: chunks staged over as many calls (and
    # transactions) as needed, invisible until commit_ota_upload attaches them to the package
    # in one transaction. An upload that fails is discarded; one abandoned by a crash is found
    # by its age.

    @abc.abstractmethod
    async def save_ota_package(self, package: OtaPackage) -> None:
        """Insert a package (its data fields as given: a URL package may carry a checksum), or
        update an existing one's additional info (nothing else of a package changes once saved;
        its bytes come with commit_ota_upload). A second package with the same title and version
        for the same profile and type raises Conflict; an unknown profile raises NotFound."""

    @abc.abstractmethod
    async def get_ota_package(self, package_id: UUID) -> OtaPackage | None:
        """The package with this id."""

    @abc.abstractmethod
    async def find_ota_packages(
        self, tenant_id: UUID, page_link: PageLink, device_profile_id: UUID | None = None,
        package_type: OtaPackageType | None = None, assignable_only: bool = False,
    ) -> Page[OtaPackage]:
        """A page of the tenant's packages (only one profile's and type's when given; with
        ``assignable_only``, only those with bytes or a URL), searched by a case-insensitive
        "contains" on the title, sorted by createdTime (default), title, version, type, tag,
        url, fileName, contentType, dataSize, checksum or checksumAlgorithm."""

    @abc.abstractmethod
    async def delete_ota_package(self, package_id: UUID) -> None:
        """Delete a package with its bytes and any upload of it in progress. Raises Conflict,
        deleting nothing, while a device or a profile is assigned it (checked in the same
        transaction as the deletion)."""

    @abc.abstractmethod
    async def write_ota_chunks(
        self, upload_id: UUID, package_id: UUID, first: int, chunks: Sequence[bytes], now: int
    ) -> None:
        """Stage chunks ``first``, ``first + 1``, ... of an upload of the package's bytes
        (the first call starts the upload, at ``now``). Every chunk is OTA_CHUNK_SIZE bytes but
        the upload's last, which may be shorter (ValueError otherwise). An unknown package
        raises NotFound."""

    @abc.abstractmethod
    async def commit_ota_upload(self, package: OtaPackage, upload_id: UUID) -> None:
        """Attach the upload's chunks to the package and save its data fields (file name,
        content type, checksum algorithm, checksum, data size) in one transaction; from then on
        the package has data. Raises NotFound when the package is gone, Conflict when it has
        bytes or a URL already, and ValueError when the staged chunks do not add up to
        ``package.data_size``; nothing changes then (discard the upload)."""

    @abc.abstractmethod
    async def discard_ota_upload(self, upload_id: UUID) -> None:
        """Delete an upload's staged chunks, unless it was committed."""

    @abc.abstractmethod
    async def discard_ota_uploads_before(self, ts: int) -> int:
        """Delete every uncommitted upload started before ``ts`` (left by a crash or a lost
        client); returns how many."""

    @abc.abstractmethod
    async def read_ota_data(self, package_id: UUID, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the package's data, cut short at its end;
        reads only the chunks that cover the range. Empty when the package has no data."""

    @abc.abstractmethod
    async def find_devices_following_profile_ota(
        self, profile_id: UUID, package_type: OtaPackageType, after: UUID | None, limit: int
    ) -> list[Device]:
        """Up to ``limit`` devices of the profile without a package of this type of their own
        (so the profile's applies to them), in id order, starting after the device ``after``."""
