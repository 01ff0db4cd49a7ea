"""Firmware and software packages (OTA): their info, their bytes, and what devices are told.

A package belongs to a device profile and a type (FIRMWARE or SOFTWARE) and is either uploaded
bytes or an external URL. Bytes go to the store in fixed chunks as they are read and are served
by range, so an image is never whole in memory, on the way in or out.

A device's package of a type is its own assignment, else its profile's. Whenever that changes,
the device is told as ThingsBoard tells it (``DefaultOtaPackageStateService``): telemetry
``target_fw_title``, ``target_fw_version``, ``target_fw_tag``, ``target_fw_ts`` and
``fw_state=QUEUED``; then the shared attributes ``fw_title``, ``fw_version``, ``fw_tag``,
``fw_size``, ``fw_checksum``, ``fw_checksum_algorithm`` (or ``fw_url``), which reach its
attribute-update poll; then ``fw_state=INITIATED``. Software uses ``sw_``. Losing the package
deletes those attributes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.checksum import new_hasher
from thingport.domain.model import (
    AttributeScope,
    ChecksumAlgorithm,
    DataType,
    Device,
    DeviceProfile,
    KvEntry,
    OtaPackage,
    OtaPackageType,
    Page,
    PageLink,
)
from thingport.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from thingport.store.base import OTA_CHUNK_SIZE, Store

if TYPE_CHECKING:
    from thingport.services.attributes import AttributeService
    from thingport.services.telemetry import TelemetryService

log = logging.getLogger(__name__)

#: Chunks handed to the store per write: a few MiB in memory, a few MiB per transaction.
UPLOAD_BATCH_CHUNKS = 4
#: An upload not finished after this long was abandoned (a crash); its chunks are deleted.
STALE_UPLOAD_MS = 6 * 3600 * 1000
#: How often the service looks for abandoned uploads.
STALE_SWEEP_INTERVAL_MS = 3600 * 1000
#: Devices told at once when a profile's package changes.
PROFILE_DEVICE_BATCH = 100
MAX_TEXT = 255

_PREFIX = {OtaPackageType.FIRMWARE: "fw", OtaPackageType.SOFTWARE: "sw"}
_ATTRIBUTE_SUFFIXES = ("title", "version", "tag", "size", "checksum", "checksum_algorithm", "url")

#: Reads up to n bytes of an upload; an empty result is its end.
ReadBytes = Callable[[int], Awaitable[bytes]]


def attribute_keys(package_type: OtaPackageType) -> list[str]:
    """Every shared attribute a package of this type may set: ``fw_title``, ..."""
    prefix = _PREFIX[package_type]
    return [f"{prefix}_{suffix}" for suffix in _ATTRIBUTE_SUFFIXES]


def assigned_id(owner: Device | DeviceProfile, package_type: OtaPackageType) -> UUID | None:
    """The id of the package of this type a device or profile is assigned itself."""
    return owner.firmware_id if package_type is OtaPackageType.FIRMWARE else owner.software_id


def parse_type(text: str) -> OtaPackageType:
    """``FIRMWARE`` or ``SOFTWARE``, else BadRequest."""
    try:
        return OtaPackageType(text)
    except ValueError:
        raise BadRequest(f"Invalid OTA package type: {text}") from None


def parse_algorithm(text: str) -> ChecksumAlgorithm:
    """A checksum algorithm's name, in any case, else BadRequest."""
    try:
        return ChecksumAlgorithm(text.upper())
    except ValueError:
        choices = ", ".join(a.value for a in ChecksumAlgorithm)
        raise BadRequest(f"Invalid checksum algorithm: {text} (one of {choices})") from None


def chunk_range(length: int, size: int, chunk: int) -> tuple[int, int]:
    """Bytes ``[start, end)`` of a ``length``-byte package that a device asking for chunk
    ``chunk`` of ``size`` bytes gets, as ThingsBoard cuts them: everything when ``size`` is 0
    or less, nothing (not an error) past the end."""
    if chunk < 0:
        raise BadRequest(f"chunk must not be negative, got {chunk}")
    if size <= 0:
        return 0, length
    start = chunk * size
    if start >= length:
        return length, length
    return start, min(length, start + size)


async def check_assignment(
    store: Store, tenant_id: UUID, profile_id: UUID, package_type: OtaPackageType,
    package_id: UUID | None,
) -> None:
    """Refuse (BadRequest, ThingsBoard's words) assigning a package that is missing, of the
    other type, without bytes or URL, or of another profile, to a device or profile."""
    if package_id is None:
        return
    what = package_type.value.lower()
    package = await store.get_ota_package(package_id)
    if package is None or package.tenant_id != tenant_id:
        raise BadRequest(f"Can't assign non-existent {what}!")
    if package.type is not package_type:
        raise BadRequest(f"Can't assign {what} with type: {package.type.value}")
    if not package.has_data and not package.url:
        raise BadRequest(f"Can't assign {what} with empty data!")
    if package.device_profile_id != profile_id:
        raise BadRequest(f"Can't assign {what} with different deviceProfile!")


class OtaService:
    """Packages of a tenant, their bytes, and keeping devices told of their assignment."""

    def __init__(
        self, store: Store, attributes: AttributeService, telemetry: TelemetryService
    ) -> None:
        self._store = store
        self._attributes = attributes
        self._telemetry = telemetry
        self._last_sweep = 0

    # -- packages ------------------------------------------------------------------------------
    async def save(
        self,
        tenant_id: UUID,
        *,
        package_id: UUID | None,
        package_type: OtaPackageType | None,
        device_profile_id: UUID | None,
        title: str | None,
        version: str | None,
        tag: str | None = None,
        url: str | None = None,
        checksum_algorithm: ChecksumAlgorithm | None = None,
        checksum: str | None = None,
        additional_info: dict[str, Any] | None = None,
    ) -> OtaPackage:
        """Create a package (bytes are uploaded next; or it points at ``url``), or change an
        existing one's additional info: ThingsBoard prohibits changing anything else."""
        if package_type is None:
            raise BadRequest("Type should be specified!")
        if device_profile_id is None:
            raise BadRequest("OtaPackage should be assigned to device profile!")
        if not title or not title.strip():
            raise BadRequest("OtaPackage title should be specified!")
        if not version or not version.strip():
            raise BadRequest("OtaPackage version should be specified!")
        for name, value in (("title", title), ("version", version), ("tag", tag)):
            if value is not None and len(value) > MAX_TEXT:
                raise BadRequest(f"OtaPackage {name} should be {MAX_TEXT} characters or fewer")
        url = url.strip() if url and url.strip() else None
        if url is None:
            # The bytes' checksum is computed on upload; only a URL package is given one.
            checksum_algorithm = checksum = None
        elif checksum and checksum_algorithm is None:
            raise BadRequest("OtaPackage checksum algorithm should be specified!")
        profile = await self._store.get_device_profile(device_profile_id)
        if profile is None or profile.tenant_id != tenant_id:
            raise BadRequest("OtaPackage is referencing to non-existent device profile!")

        if package_id is not None:
            current = await self.get(tenant_id, package_id)
            _check_unchanged(current, package_type, device_profile_id, title, version, tag, url)
            updated = dataclasses.replace(current, additional_info=additional_info)
            await self._store.save_ota_package(updated)
            return updated
        package = OtaPackage(
            id=uuid.uuid4(), tenant_id=tenant_id, device_profile_id=device_profile_id,
            type=package_type, title=title, version=version, created_time=now_ms(), tag=tag,
            url=url, checksum_algorithm=checksum_algorithm,
            checksum=checksum.lower() if checksum else None, additional_info=additional_info,
        )
        await self._store.save_ota_package(package)
        return package

    async def get(self, tenant_id: UUID, package_id: UUID) -> OtaPackage:
        """The tenant's package, or NotFound."""
        package = await self._store.get_ota_package(package_id)
        if package is None or package.tenant_id != tenant_id:
            raise NotFound(f"OtaPackage with id [{package_id}] is not found")
        return package

    async def find(
        self, tenant_id: UUID, page_link: PageLink, *, device_profile_id: UUID | None = None,
        package_type: OtaPackageType | None = None,
    ) -> Page[OtaPackage]:
        """A page of the tenant's packages; with a profile and type, only the ones that can be
        assigned (with bytes or a URL), as ThingsBoard lists them for a profile."""
        return await self._store.find_ota_packages(
            tenant_id, page_link, device_profile_id, package_type,
            assignable_only=device_profile_id is not None,
        )

    async def delete(self, tenant_id: UUID, package_id: UUID) -> None:
        """Delete a package and its bytes; refused (Conflict) while anything is assigned it."""
        await self.get(tenant_id, package_id)
        await self._store.delete_ota_package(package_id)

    # -- bytes ---------------------------------------------------------------------------------
    async def check_uploadable(self, tenant_id: UUID, package_id: UUID) -> OtaPackage:
        """The package, if bytes may be uploaded to it (none yet, and no URL)."""
        package = await self.get(tenant_id, package_id)
        if package.url:
            raise BadRequest("Updating otaPackage with URL is prohibited!")
        if package.has_data:
            raise BadRequest("Updating otaPackage data is prohibited!")
        return package

    async def upload(
        self,
        tenant_id: UUID,
        package_id: UUID,
        read: ReadBytes,
        *,
        algorithm: ChecksumAlgorithm,
        checksum: str | None,
        file_name: str,
        content_type: str | None,
        max_size: int,
    ) -> OtaPackage:
        """Store a package's bytes, read with ``read`` in chunks, hashed on the way.

        Returns only once they are committed. A ``checksum`` that differs from the computed one
        (hex, compared in any case), an empty file, or more than ``max_size`` bytes store
        nothing.
        """
        package = await self.check_uploadable(tenant_id, package_id)
        upload_id = uuid.uuid4()
        hasher = new_hasher(algorithm)
        size = first = 0
        batch: list[bytes] = []
        try:
            while True:
                chunk = await _read_full(read, OTA_CHUNK_SIZE)
                last = len(chunk) < OTA_CHUNK_SIZE
                if chunk:
                    size += len(chunk)
                    if size > max_size:
                        raise PayloadTooLarge(
                            f"OTA package is larger than the limit of {max_size} bytes")
                    # hashlib and mmh3 release the GIL on large buffers: hash off the loop.
                    await asyncio.to_thread(hasher.update, chunk)
                    batch.append(chunk)
                if batch and (last or len(batch) == UPLOAD_BATCH_CHUNKS):
                    await self._store.write_ota_chunks(upload_id, package_id, first, batch,
                                                       now_ms())
                    first += len(batch)
                    batch = []
                if last:
                    break
            if size == 0:
                raise BadRequest("OtaPackage data should be specified!")
            computed = hasher.hexdigest()
            if checksum and checksum.strip().lower() != computed:
                raise BadRequest("Wrong otaPackage file!")
            stored = dataclasses.replace(
                package, has_data=True, file_name=file_name,
                content_type=content_type or "application/octet-stream",
                checksum_algorithm=algorithm, checksum=computed, data_size=size,
            )
            try:
                await self._store.commit_ota_upload(stored, upload_id)
            except Conflict:
                # Another upload of the same package committed first.
                raise BadRequest("Updating otaPackage data is prohibited!") from None
        except BaseException:
            # Shielded: a cancelled upload (the server stopping) still cleans up after itself.
            await asyncio.shield(self._discard(upload_id))
            raise
        return stored

    async def _discard(self, upload_id: UUID) -> None:
        try:
            await self._store.discard_ota_upload(upload_id)
        except Exception:  # the sweep will find it
            log.exception("could not discard OTA upload %s", upload_id)

    async def stream(self, package: OtaPackage, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of the package, one store chunk (at most 1 MiB) at a time."""
        position = start
        while position < end:
            stop = min(end, (position // OTA_CHUNK_SIZE + 1) * OTA_CHUNK_SIZE)
            piece = await self._store.read_ota_data(package.id, position, stop - position)
            if len(piece) != stop - position:
                raise NotFound(f"OtaPackage with id [{package.id}] has no data")
            yield piece
            position = stop

    async def sweep(self) -> int:
        """Delete abandoned uploads (at most once an hour; cheap to call often). Returns how
        many were deleted."""
        now = now_ms()
        if now - self._last_sweep < STALE_SWEEP_INTERVAL_MS:
            return 0
        self._last_sweep = now
        return await self._store.discard_ota_uploads_before(now - STALE_UPLOAD_MS)

    # -- what a device gets --------------------------------------------------------------------
    async def assigned(self, device: Device, package_type: OtaPackageType) -> OtaPackage | None:
        """The device's package of this type: its own, else its profile's; None if neither."""
        package_id = assigned_id(device, package_type)
        if package_id is None:
            profile = await self._store.get_device_profile(device.device_profile_id)
            package_id = assigned_id(profile, package_type) if profile is not None else None
        if package_id is None:
            return None
        return await self._store.get_ota_package(package_id)

    # -- assignments ---------------------------------------------------------------------------
    async def check_profile_assignment(self, profile: DeviceProfile) -> None:
        """Refuse (BadRequest) a profile whose firmware or software cannot be assigned to it;
        call before saving the profile."""
        for package_type in OtaPackageType:
            await check_assignment(self._store, profile.tenant_id, profile.id, package_type,
                                   assigned_id(profile, package_type))

    async def device_saved(self, device: Device, previous: Device | None) -> None:
        """Tell a created (``previous`` None) or changed device about every package of it that
        changed: its own assignment, or its profile's when it has none (a change of profile
        counts)."""
        if previous is not None and (
            previous.device_profile_id, previous.firmware_id, previous.software_id
        ) == (device.device_profile_id, device.firmware_id, device.software_id):
            return  # a rename, a new label...: nothing to read, nothing to tell
        profiles: dict[UUID, DeviceProfile | None] = {}

        async def effective(owner: Device, package_type: OtaPackageType) -> UUID | None:
            own = assigned_id(owner, package_type)
            if own is not None:
                return own
            if owner.device_profile_id not in profiles:
                profiles[owner.device_profile_id] = await self._store.get_device_profile(
                    owner.device_profile_id)
            profile = profiles[owner.device_profile_id]
            return assigned_id(profile, package_type) if profile is not None else None

        for package_type in OtaPackageType:
            new = await effective(device, package_type)
            old = await effective(previous, package_type) if previous is not None else None
            if new == old:
                continue
            package = await self._store.get_ota_package(new) if new is not None else None
            if package is not None:
                await self._announce(device.id, package)
            elif previous is not None:
                await self._withdraw(device.id, package_type)

    async def profile_assignment_changed(
        self, profile: DeviceProfile, previous: DeviceProfile | None = None
    ) -> None:
        """Tell the profile's devices that have no package of their own about its new firmware
        or software (or that it has none any more). Call after saving the profile; with
        ``previous`` (the profile as it was), only the types that changed are announced."""
        for package_type in OtaPackageType:
            package_id = assigned_id(profile, package_type)
            if previous is not None and assigned_id(previous, package_type) == package_id:
                continue
            package = (
                await self._store.get_ota_package(package_id) if package_id is not None
                else None
            )
            after: UUID | None = None
            while True:
                devices = await self._store.find_devices_following_profile_ota(
                    profile.id, package_type, after, PROFILE_DEVICE_BATCH)
                if not devices:
                    break
                # Concurrent, so that the store commits a batch of devices together.
                await asyncio.gather(*(
                    self._announce(d.id, package) if package is not None
                    else self._withdraw(d.id, package_type)
                    for d in devices
                ))
                if len(devices) < PROFILE_DEVICE_BATCH:
                    break
                after = devices[-1].id

    async def _announce(self, device_id: UUID, package: OtaPackage) -> None:
        prefix = _PREFIX[package.type]
        ts = now_ms()
        target = [
            KvEntry(f"target_{prefix}_title", DataType.STRING, package.title),
            KvEntry(f"target_{prefix}_version", DataType.STRING, package.version),
        ]
        if package.tag:
            target.append(KvEntry(f"target_{prefix}_tag", DataType.STRING, package.tag))
        target.append(KvEntry(f"target_{prefix}_ts", DataType.LONG, ts))
        # QUEUED then INITIATED, both stored before the device can learn of the package from
        # its attributes: a device answering at once (DOWNLOADING) comes after them, never
        # between them or on the same millisecond.
        queued = KvEntry(f"{prefix}_state", DataType.STRING, "QUEUED")
        initiated = KvEntry(f"{prefix}_state", DataType.STRING, "INITIATED")
        await self._telemetry.save(device_id, [(ts - 1, [*target, queued]), (ts, [initiated])])

        values: dict[str, str | int | None] = {
            "title": package.title, "version": package.version, "tag": package.tag or None,
            "url": package.url, "size": package.data_size,
            "checksum": package.checksum or None,
            "checksum_algorithm": (
                package.checksum_algorithm.value if package.checksum_algorithm else None
            ),
        }
        entries = [
            KvEntry(f"{prefix}_{suffix}",
                    DataType.LONG if isinstance(value, int) else DataType.STRING, value)
            for suffix, value in values.items() if value is not None
        ]
        await self._attributes.save(device_id, AttributeScope.SHARED_SCOPE, entries)
        stale = [f"{prefix}_{suffix}" for suffix, value in values.items() if value is None]
        if stale:
            await self._attributes.delete(device_id, AttributeScope.SHARED_SCOPE, stale)

    async def _withdraw(self, device_id: UUID, package_type: OtaPackageType) -> None:
        await self._attributes.delete(device_id, AttributeScope.SHARED_SCOPE,
                                      attribute_keys(package_type))


async def _read_full(read: ReadBytes, size: int) -> bytes:
    """``size`` bytes unless the source ends first: a source may return less per read."""
    data = await read(size)
    if len(data) in (0, size):
        return data
    parts = [data]
    missing = size - len(data)
    while missing:
        more = await read(missing)
        if not more:
            break
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)


def _check_unchanged(
    current: OtaPackage, package_type: OtaPackageType, profile_id: UUID, title: str,
    version: str, tag: str | None, url: str | None,
) -> None:
    """ThingsBoard's rule: once saved, only a package's additional info may change."""
    for name, old, new in (
        ("type", current.type, package_type),
        ("deviceProfile", current.device_profile_id, profile_id),
        ("title", current.title, title),
        ("version", current.version, version),
        ("tag", current.tag or None, tag or None),
        ("URL", current.url, url),
    ):
        if old != new:
            raise BadRequest(f"Updating otaPackage {name} is prohibited!")
