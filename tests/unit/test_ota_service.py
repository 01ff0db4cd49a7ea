"""The OTA service over a real (temporary) SQLite store: profile assignments, which the REST
API does not reach yet, uploads that must store nothing when they fail, and chunk arithmetic."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import uuid
from typing import Any

import pytest

from thingport.domain.model import (
    AttributeScope,
    ChecksumAlgorithm,
    Device,
    DeviceProfile,
    OtaPackage,
    OtaPackageType,
    Tenant,
)
from thingport.errors import BadRequest, PayloadTooLarge
from thingport.services import Services, ota
from thingport.services.ota import ReadBytes, chunk_range
from thingport.store.base import OTA_CHUNK_SIZE

FIRMWARE = OtaPackageType.FIRMWARE
SOFTWARE = OtaPackageType.SOFTWARE


@pytest.fixture
async def tenant(svc: Services) -> Tenant:
    tenant = Tenant(id=uuid.uuid4(), title="T", created_time=1)
    await svc.store.save_tenant(tenant)
    return tenant


@pytest.fixture
async def profile(svc: Services, tenant: Tenant) -> DeviceProfile:
    return await svc.devices.profile_named(tenant.id, "thermostats")


def reader(data: bytes) -> ReadBytes:
    """An async source of ``data``, as an uploaded file is read."""
    source = io.BytesIO(data)

    async def read(size: int) -> bytes:
        return source.read(size)

    return read


async def package(svc: Services, tenant: Tenant, profile: DeviceProfile, title: str,
                  data: bytes = b"image", kind: OtaPackageType = FIRMWARE) -> OtaPackage:
    saved = await svc.ota.save(tenant.id, package_id=None, package_type=kind,
                               device_profile_id=profile.id, title=title, version="1")
    return await svc.ota.upload(tenant.id, saved.id, reader(data),
                                algorithm=ChecksumAlgorithm.SHA256, checksum=None,
                                file_name=f"{title}.bin", content_type=None, max_size=1 << 30)


async def shared(svc: Services, device: Device) -> dict[str, Any]:
    entries = await svc.attributes.get(device.id, AttributeScope.SHARED_SCOPE)
    return {e.key: e.value for e in entries}


async def pending(svc: Services, device: Device) -> dict[str, Any]:
    """What the device's next attribute-update poll gets (taken)."""
    changes = await svc.attributes.poll_changes(device.id, 0.01)
    if changes is None:
        return {}
    found: dict[str, Any] = {e.key: e.value for e in changes.updated}
    if changes.deleted:
        found["deleted"] = sorted(changes.deleted)
    return found


async def set_profile_package(svc: Services, profile: DeviceProfile,
                              **ids: uuid.UUID | None) -> DeviceProfile:
    """What the profile API does: check, save, then tell the devices."""
    changed = dataclasses.replace(profile, **ids)
    await svc.ota.check_profile_assignment(changed)
    await svc.store.save_device_profile(changed)
    await svc.ota.profile_assignment_changed(changed, profile)
    return changed


async def test_a_profiles_package_reaches_devices_without_their_own(
    svc: Services, tenant: Tenant, profile: DeviceProfile
) -> None:
    fleet = await package(svc, tenant, profile, "fleet", b"fleet image")
    own = await package(svc, tenant, profile, "own", b"own image")
    follower, _ = await svc.devices.create(tenant.id, "follower", profile_id=profile.id)
    loner, _ = await svc.devices.create(tenant.id, "loner", profile_id=profile.id,
                                        firmware_id=own.id)
    assert (await pending(svc, loner))["fw_title"] == "own"

    profile = await set_profile_package(svc, profile, firmware_id=fleet.id)
    assert await pending(svc, follower) == {
        "fw_title": "fleet", "fw_version": "1", "fw_size": 11, "fw_checksum_algorithm": "SHA256",
        "fw_checksum": hashlib.sha256(b"fleet image").hexdigest(),
    }
    assert await pending(svc, loner) == {}
    assert (await svc.ota.assigned(follower, FIRMWARE)).id == fleet.id  # type: ignore[union-attr]
    assert (await svc.ota.assigned(loner, FIRMWARE)).id == own.id  # type: ignore[union-attr]
    assert await svc.ota.assigned(follower, SOFTWARE) is None
    latest = {e.key: e.value for e in await svc.telemetry.latest(follower.id)}
    assert latest["target_fw_title"] == "fleet" and latest["fw_state"] == "INITIATED"

    # Saving the profile with the same package again announces nothing.
    await svc.ota.profile_assignment_changed(profile, profile)
    assert await pending(svc, follower) == {}

    # The device drops its own package: the profile's applies to it.
    loner = await svc.devices.update(tenant.id, loner.id, name="loner", firmware_id=None)
    assert (await pending(svc, loner))["fw_title"] == "fleet"

    # The profile drops its package: every device following it loses the attributes.
    await set_profile_package(svc, profile, firmware_id=None)
    follower_changes = await pending(svc, follower)
    assert follower_changes == {"deleted": sorted(
        ["fw_title", "fw_version", "fw_size", "fw_checksum", "fw_checksum_algorithm"])}
    assert await shared(svc, follower) == {} and await shared(svc, loner) == {}


async def test_a_device_created_in_a_profile_with_a_package_is_told_at_once(
    svc: Services, tenant: Tenant, profile: DeviceProfile
) -> None:
    software = await package(svc, tenant, profile, "sw", kind=SOFTWARE)
    await set_profile_package(svc, profile, software_id=software.id)
    device, _ = await svc.devices.create(tenant.id, "newcomer", profile_id=profile.id)
    assert (await shared(svc, device))["sw_title"] == "sw"
    # Moving to a profile without one takes it away.
    other = await svc.devices.profile_named(tenant.id, "plain")
    await svc.devices.update(tenant.id, device.id, name="newcomer", profile_id=other.id)
    assert await shared(svc, device) == {}


async def test_profile_changes_visit_every_following_device(
    svc: Services, tenant: Tenant, profile: DeviceProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ota, "PROFILE_DEVICE_BATCH", 2)
    devices = [(await svc.devices.create(tenant.id, f"d{i}", profile_id=profile.id))[0]
               for i in range(5)]
    fleet = await package(svc, tenant, profile, "fleet")
    await set_profile_package(svc, profile, firmware_id=fleet.id)
    for device in devices:
        assert (await shared(svc, device))["fw_title"] == "fleet"


async def test_profile_assignment_is_checked(
    svc: Services, tenant: Tenant, profile: DeviceProfile
) -> None:
    other = await svc.devices.profile_named(tenant.id, "other")
    foreign = await package(svc, tenant, other, "foreign")
    software = await package(svc, tenant, profile, "sw", kind=SOFTWARE)
    empty = await svc.ota.save(tenant.id, package_id=None, package_type=FIRMWARE,
                               device_profile_id=profile.id, title="empty", version="1")
    for ids, message in [
        ({"firmware_id": foreign.id}, "different deviceProfile"),
        ({"firmware_id": software.id}, "with type: SOFTWARE"),
        ({"firmware_id": empty.id}, "empty data"),
        ({"software_id": uuid.uuid4()}, "non-existent software"),
    ]:
        with pytest.raises(BadRequest, match=message):
            await svc.ota.check_profile_assignment(dataclasses.replace(profile, **ids))


async def test_a_failed_upload_stores_nothing(
    svc: Services, tenant: Tenant, profile: DeviceProfile
) -> None:
    saved = await svc.ota.save(tenant.id, package_id=None, package_type=FIRMWARE,
                               device_profile_id=profile.id, title="big", version="1")
    data = b"x" * (3 * OTA_CHUNK_SIZE)

    async def upload(max_size: int, checksum: str | None = None) -> OtaPackage:
        return await svc.ota.upload(
            tenant.id, saved.id, reader(data), algorithm=ChecksumAlgorithm.MD5,
            checksum=checksum, file_name="big.bin", content_type=None, max_size=max_size)

    with pytest.raises(PayloadTooLarge):
        await upload(2 * OTA_CHUNK_SIZE + 1)
    with pytest.raises(BadRequest, match="Wrong otaPackage file"):
        await upload(len(data), checksum="0" * 32)
    # The chunks already written were deleted with the failed uploads.
    assert await svc.store.discard_ota_uploads_before(2**62) == 0
    assert not (await svc.ota.get(tenant.id, saved.id)).has_data

    done = await upload(len(data), checksum=hashlib.md5(data).hexdigest().upper())
    assert done.data_size == len(data) and done.checksum == hashlib.md5(data).hexdigest()
    streamed = b"".join([piece async for piece in svc.ota.stream(done, 5, len(data) - 5)])
    assert streamed == data[5:-5]


async def test_stale_uploads_are_swept_at_most_hourly(
    svc: Services, tenant: Tenant, profile: DeviceProfile
) -> None:
    saved = await svc.ota.save(tenant.id, package_id=None, package_type=FIRMWARE,
                               device_profile_id=profile.id, title="t", version="1")
    await svc.store.write_ota_chunks(uuid.uuid4(), saved.id, 0, [b"left by a crash"], 1)
    assert await svc.ota.sweep() == 1
    await svc.store.write_ota_chunks(uuid.uuid4(), saved.id, 0, [b"again"], 1)
    assert await svc.ota.sweep() == 0  # within the hour


@pytest.mark.parametrize(("length", "size", "chunk", "expected"), [
    (10, 0, 0, (0, 10)), (10, 0, 7, (0, 10)), (10, -1, 0, (0, 10)),
    (10, 4, 0, (0, 4)), (10, 4, 1, (4, 8)), (10, 4, 2, (8, 10)), (10, 4, 3, (10, 10)),
    (10, 5, 2, (10, 10)), (10, 100, 0, (0, 10)), (0, 4, 0, (0, 0)),
])
def test_chunk_range(length: int, size: int, chunk: int, expected: tuple[int, int]) -> None:
    assert chunk_range(length, size, chunk) == expected


def test_a_negative_chunk_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        chunk_range(10, 4, -1)
