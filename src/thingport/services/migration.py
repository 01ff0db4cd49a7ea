"""Copy a whole install from one store to another (``thingport migrate``): SQLite to
PostgreSQL, or any two backends, through the Store contract only.

The order follows the references: tenant profiles, tenants, customers, users (with their
password hashes and activation state), device profiles (first without their OTA packages, which
point back at them), OTA packages with their bytes, the profiles' packages, then device by
device: the device and its credentials, its attributes (every scope, with their last update
times), its time series (every key, every point, in bounded batches), its RPC history, its
claim window.

Safe to rerun, and a rerun resumes: entities are upserted, a device the target has is updated
(not an error), a time-series key whose point count already matches is skipped, an RPC or an
OTA package's bytes the target has are not copied again. Stop the server writing to the source
first: what changes during the copy may or may not be in it (``verify`` would tell).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import (
    AttributeScope,
    Device,
    DeviceProfile,
    KvEntry,
    OtaPackage,
    Rpc,
    RpcStatus,
    Tenant,
    User,
)
from thingport.errors import Conflict, NotFound, ThingportError
from thingport.services import store_counts
from thingport.services.store_counts import TS_MAX, TS_MIN, Verification, count_points, pages
from thingport.store.base import OTA_CHUNK_SIZE, Store

#: Time-series points read and written per call.
BATCH_SIZE = 5000
#: Devices copied at once (each one's own writes stay in order); a store with group commit
#: shares its transactions between them.
CONCURRENCY = 4
#: OTA chunks (of OTA_CHUNK_SIZE) written per call.
OTA_CHUNKS_PER_WRITE = 8
#: Deleted RPCs leave gaps in a device's request ids. Up to this many per gap are reproduced
#: (see _copy_rpcs); a wider gap is closed up instead, and counted as renumbered.
MAX_RPC_GAP = 10_000

_T = TypeVar("_T")


class MigrationError(ThingportError):
    """The copy cannot go on: the target holds something that contradicts the source."""


class Progress(Protocol):
    """Where the copy reports how far it is (the CLI draws progress bars)."""

    def begin(self, label: str, total: int) -> None:
        """A stage of ``total`` steps starts."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more of the current stage are done."""

    def end(self) -> None:
        """The current stage is done."""


class _Silent:
    def begin(self, label: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass
class MigrationReport:
    """What the copy did besides copying."""

    #: Time-series keys whose points were all in the target already (a rerun).
    keys_already_complete: int = 0
    #: RPCs that got another request id in the target than in the source (see MAX_RPC_GAP).
    renumbered_rpcs: int = 0


class Migration:
    """Copies ``source`` into ``target``; both opened by the caller."""

    def __init__(
        self, source: Store, target: Store, *, batch_size: int = BATCH_SIZE,
        concurrency: int = CONCURRENCY, progress: Progress | None = None,
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be positive")
        self.source = source
        self.target = target
        self._batch = batch_size
        self._concurrency = concurrency
        self._progress: Progress = progress or _Silent()
        self.report = MigrationReport()

    async def run(self) -> MigrationReport:
        """Copy everything; raises MigrationError when the target contradicts the source."""
        tenant_list = await store_counts.tenants(self.source)
        await self._check_target(tenant_list)
        tenant_profiles = [p async for p in pages(self.source.find_tenant_profiles)]
        await self._stage("tenant profiles", "tenant profile", tenant_profiles,
                          self.target.save_tenant_profile)
        await self._stage("tenants", "tenant", tenant_list, self.target.save_tenant)
        await self._copy_customers(tenant_list)
        await self._copy_users(tenant_list)
        profiles = [p for t in tenant_list
                    async for p in pages(partial(self.source.find_device_profiles, t.id))]
        await self._stage("device profiles", "device profile", profiles,
                          self._save_profile_without_packages)
        packages = [p for t in tenant_list
                    async for p in pages(partial(self.source.find_ota_packages, t.id))]
        await self._stage("OTA packages", "OTA package", packages, self._copy_package)
        # Now that the packages exist, the profiles may point at them.
        await self._stage("profiles' packages", "device profile",
                          [p for p in profiles if p.firmware_id or p.software_id],
                          self.target.save_device_profile)
        await self._copy_devices(tenant_list)
        return self.report

    async def verify(self) -> Verification:
        """Count every kind in both stores."""
        verification = []
        for label, store in (("counting the source", self.source),
                             ("counting the target", self.target)):
            tenant_list = await store_counts.tenants(store)
            self._progress.begin(label, await store_counts.count_devices(store, tenant_list))
            try:
                verification.append(await store_counts.count(store, self._progress.advance))
            finally:
                self._progress.end()
        return Verification(verification[0], verification[1])

    # -- entities ----------------------------------------------------------------------------
    async def _check_target(self, tenant_list: list[Tenant]) -> None:
        known = {t.id for t in tenant_list}
        strangers = [t for t in await store_counts.tenants(self.target) if t.id not in known]
        if strangers:
            names = ", ".join(repr(t.title) for t in strangers[:3])
            raise MigrationError(
                f"the target holds tenants the source does not ({names}): migrate into an "
                "empty database (one no thingport server has started on), or rerun into the "
                "one a previous migrate filled"
            )

    async def _stage(
        self, label: str, what: str, items: Sequence[_T],
        copy: Callable[[_T], Awaitable[object]],
    ) -> None:
        self._progress.begin(label, len(items))
        try:
            for item in items:
                await _explained(copy(item), f"{what} {_name(item)}")
                self._progress.advance()
        finally:
            self._progress.end()

    async def _copy_customers(self, tenant_list: list[Tenant]) -> None:
        customers = [c for t in tenant_list
                     async for c in pages(partial(self.source.find_customers, t.id))]
        await self._stage("customers", "customer", customers, self.target.save_customer)

    async def _copy_users(self, tenant_list: list[Tenant]) -> None:
        found = [u async for u in store_counts.users(self.source, [t.id for t in tenant_list])]

        async def copy(user: User) -> None:
            credentials = await self.source.get_user_credentials(user.id)
            await self.target.save_user(user, credentials)

        await self._stage("users", "user", found, copy)

    async def _save_profile_without_packages(self, profile: DeviceProfile) -> None:
        # A package of the profile cannot exist before the profile does: point at it later,
        # unless a previous run copied it already.
        firmware, software = profile.firmware_id, profile.software_id
        if firmware and await self.target.get_ota_package(firmware) is None:
            firmware = None
        if software and await self.target.get_ota_package(software) is None:
            software = None
        await self.target.save_device_profile(
            dataclasses.replace(profile, firmware_id=firmware, software_id=software))

    async def _copy_package(self, package: OtaPackage) -> None:
        existing = await self.target.get_ota_package(package.id)
        if existing is None:
            # Saved without its data fields: commit_ota_upload sets them with the bytes.
            bare = package if not package.has_data else dataclasses.replace(
                package, has_data=False, file_name=None, content_type=None,
                checksum_algorithm=None, checksum=None, data_size=None)
            await self.target.save_ota_package(bare)
        else:
            await self.target.save_ota_package(package)  # its additional info
        if package.has_data and not (existing and existing.has_data):
            await self._copy_package_bytes(package)

    async def _copy_package_bytes(self, package: OtaPackage) -> None:
        upload_id = uuid.uuid4()
        try:
            offset, first, batch = 0, 0, []
            while True:
                chunk = await self.source.read_ota_data(package.id, offset, OTA_CHUNK_SIZE)
                if chunk:
                    batch.append(chunk)
                    offset += len(chunk)
                last = len(chunk) < OTA_CHUNK_SIZE
                if batch and (last or len(batch) == OTA_CHUNKS_PER_WRITE):
                    await self.target.write_ota_chunks(upload_id, package.id, first, batch,
                                                       now_ms())
                    first += len(batch)
                    batch = []
                if last:
                    break
            await self.target.commit_ota_upload(package, upload_id)
        except BaseException:
            await asyncio.shield(self.target.discard_ota_upload(upload_id))
            raise

    # -- devices -----------------------------------------------------------------------------
    async def _copy_devices(self, tenant_list: list[Tenant]) -> None:
        total = await store_counts.count_devices(self.source, tenant_list)
        self._progress.begin("devices", total)
        queue: asyncio.Queue[Device | None] = asyncio.Queue(self._concurrency * 2)

        async def worker() -> None:
            while (device := await queue.get()) is not None:
                await _explained(self._copy_device(device),
                                 f"device {device.name!r} ({device.id})")
                self._progress.advance()

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self._concurrency):
                    group.create_task(worker())
                for tenant in tenant_list:
                    async for device in store_counts.devices(self.source, tenant):
                        await queue.put(device)
                for _ in range(self._concurrency):
                    await queue.put(None)
        except ExceptionGroup as group_error:
            raise group_error.exceptions[0] from None
        finally:
            self._progress.end()

    async def _copy_device(self, device: Device) -> None:
        credentials = await self.source.get_device_credentials(device.id)
        existed = await self.target.get_device(device.id) is not None
        if not existed:
            if credentials is None:
                raise MigrationError("it has no credentials")
            await self.target.create_device(device, credentials)
        else:
            await self.target.update_device(device)
            if credentials is not None and \
                    await self.target.get_device_credentials(device.id) != credentials:
                await self.target.update_device_credentials(credentials)
        await self._copy_attributes(device.id)
        await self._copy_telemetry(device.id, existed)
        await self._copy_rpcs(device, existed)
        window = await self.source.get_claim_window(device.id)
        if window is not None:
            await self.target.open_claim_window(window, now_ms())

    async def _copy_attributes(self, device_id: UUID) -> None:
        for scope in AttributeScope:
            # save_attributes stamps one time on all it saves: one call per last update time.
            by_time: dict[int, list[KvEntry]] = {}
            for entry in await self.source.get_attributes(device_id, scope):
                by_time.setdefault(entry.last_update_ts, []).append(
                    KvEntry(entry.key, entry.type, entry.value))
            for ts, entries in by_time.items():
                await self.target.save_attributes(device_id, scope, entries, ts)

    async def _copy_telemetry(self, device_id: UUID, existed: bool) -> None:
        for key in await self.source.get_telemetry_keys(device_id):
            if existed and await count_points(self.target, device_id, key) == \
                    await count_points(self.source, device_id, key):
                self.report.keys_already_complete += 1
                continue
            start = TS_MIN
            while True:
                points = await self.source.get_telemetry(device_id, key, start, TS_MAX,
                                                         self._batch, descending=False)
                if points:
                    await self.target.save_telemetry(
                        device_id, [(p.ts, [KvEntry(p.key, p.type, p.value)]) for p in points])
                    start = points[-1].ts + 1
                if len(points) < self._batch:
                    break

    async def _copy_rpcs(self, device: Device, existed: bool) -> None:
        """Copy the device's RPCs in request-id order, keeping their request ids.

        ``create_rpc`` gives each new RPC the device's next id, and deleted RPCs leave gaps in
        the source's ids; a gap is reproduced by creating placeholder RPCs (already final and
        expired, so that no poll can take one) and deleting them, which uses their ids up.
        """
        copied: dict[UUID, int] = {}
        if existed:
            copied = {r.id: r.request_id async for r in self._rpcs(self.target, device.id)}
        last_id = max(copied.values(), default=0)
        async for rpc in self._rpcs(self.source, device.id):
            if rpc.id in copied:
                continue
            gap = rpc.request_id - last_id - 1
            if 0 < gap <= MAX_RPC_GAP:
                for _ in range(gap):
                    placeholder = await self.target.create_rpc(_placeholder(rpc))
                    await self.target.delete_rpc(placeholder.id)
            created = await self.target.create_rpc(rpc)
            last_id = created.request_id
            if created.request_id != rpc.request_id:
                self.report.renumbered_rpcs += 1

    @staticmethod
    def _rpcs(store: Store, device_id: UUID) -> AsyncIterator[Rpc]:
        return pages(partial(store.find_rpcs, device_id), sort_property="requestId")


def _placeholder(rpc: Rpc) -> Rpc:
    return Rpc(
        id=uuid.uuid4(), tenant_id=rpc.tenant_id, device_id=rpc.device_id,
        created_time=rpc.created_time, expiration_time=0, method="thingport-migrate-gap",
        params="null", oneway=True, persistent=False, status=RpcStatus.DELETED,
    )


def _name(item: object) -> str:
    for attribute in ("title", "name", "email"):
        value = getattr(item, attribute, None)
        if isinstance(value, str):
            return f"{value!r} ({getattr(item, 'id', '?')})"
    return str(getattr(item, "id", item))


async def _explained(work: Awaitable[object], what: str) -> None:
    """Run ``work``; a store refusing it (a duplicate in the target) names what was copied."""
    try:
        await work
    except (Conflict, NotFound) as exc:
        raise MigrationError(f"{what}: {exc.message}") from None
    except MigrationError as exc:
        raise MigrationError(f"{what}: {exc.message}") from None
