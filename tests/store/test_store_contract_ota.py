"""The "OTA packages" section of the store contract, run against every backend."""

from __future__ import annotations

import dataclasses
import os
import uuid

import pytest

from tests.store.conftest import MakeDevice, StoreFactory, now_ms
from thingport.domain.model import (
    ChecksumAlgorithm,
    Device,
    DeviceProfile,
    OtaPackage,
    OtaPackageType,
    PageLink,
    Tenant,
)
from thingport.errors import Conflict, NotFound
from thingport.store.base import OTA_CHUNK_SIZE, Store

C = OTA_CHUNK_SIZE
FIRMWARE = OtaPackageType.FIRMWARE
SOFTWARE = OtaPackageType.SOFTWARE


def package(
    tenant: Tenant, profile: DeviceProfile, title: str = "fw", version: str = "1.0",
    type: OtaPackageType = FIRMWARE, **fields: object,
) -> OtaPackage:
    return OtaPackage(
        id=uuid.uuid4(), tenant_id=tenant.id, device_profile_id=profile.id, type=type,
        title=title, version=version, created_time=now_ms(), **fields,  # type: ignore[arg-type]
    )


def split(data: bytes) -> list[bytes]:
    return [data[i:i + C] for i in range(0, len(data), C)]


async def upload(store: Store, pkg: OtaPackage, data: bytes, per_call: int = 2) -> OtaPackage:
    """Stage ``data`` over several calls and commit it, as the service does."""
    upload_id = uuid.uuid4()
    chunks = split(data)
    for first in range(0, len(chunks), per_call):
        await store.write_ota_chunks(upload_id, pkg.id, first, chunks[first:first + per_call],
                                     now_ms())
    done = dataclasses.replace(
        pkg, has_data=True, file_name="fw.bin", content_type="application/octet-stream",
        checksum_algorithm=ChecksumAlgorithm.SHA256, checksum="abc", data_size=len(data),
    )
    await store.commit_ota_upload(done, upload_id)
    return done


@pytest.fixture(scope="module")
def image() -> bytes:
    """Two full chunks and a partial third."""
    return os.urandom(2 * C + 12345)


async def test_save_get_and_update_only_additional_info(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    saved = package(tenant, profile, tag="stable", additional_info={"a": 1})
    await store.save_ota_package(saved)
    assert await store.get_ota_package(saved.id) == saved
    assert await store.get_ota_package(uuid.uuid4()) is None

    changed = dataclasses.replace(saved, title="other", tag="x", additional_info={"b": 2})
    await store.save_ota_package(changed)
    assert await store.get_ota_package(saved.id) == dataclasses.replace(
        saved, additional_info={"b": 2})


async def test_url_package_keeps_its_checksum(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    saved = package(tenant, profile, url="https://example.com/fw.bin",
                    checksum_algorithm=ChecksumAlgorithm.MD5, checksum="00ff")
    await store.save_ota_package(saved)
    got = await store.get_ota_package(saved.id)
    assert got is not None and not got.has_data
    assert (got.url, got.checksum_algorithm, got.checksum) == (
        "https://example.com/fw.bin", ChecksumAlgorithm.MD5, "00ff")


async def test_title_and_version_are_unique_per_profile_and_type(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    await store.save_ota_package(package(tenant, profile))
    with pytest.raises(Conflict):
        await store.save_ota_package(package(tenant, profile))
    # Another type, or another version, is another package.
    await store.save_ota_package(package(tenant, profile, type=SOFTWARE))
    await store.save_ota_package(package(tenant, profile, version="1.1"))
    other = DeviceProfile(id=uuid.uuid4(), tenant_id=tenant.id, name="other",
                          created_time=now_ms())
    await store.save_device_profile(other)
    await store.save_ota_package(package(tenant, other))


async def test_unknown_profile_is_not_found(store: Store, tenant: Tenant) -> None:
    ghost = DeviceProfile(id=uuid.uuid4(), tenant_id=tenant.id, name="ghost",
                          created_time=now_ms())
    with pytest.raises(NotFound):
        await store.save_ota_package(package(tenant, ghost))


async def test_chunked_upload_is_invisible_until_committed(
    store: Store, tenant: Tenant, profile: DeviceProfile, image: bytes
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    upload_id = uuid.uuid4()
    await store.write_ota_chunks(upload_id, pkg.id, 0, split(image)[:2], now_ms())
    assert await store.read_ota_data(pkg.id, 0, 10) == b""
    got = await store.get_ota_package(pkg.id)
    assert got is not None and not got.has_data

    await store.write_ota_chunks(upload_id, pkg.id, 2, split(image)[2:], now_ms())
    done = dataclasses.replace(pkg, has_data=True, file_name="a.bin", content_type="x/y",
                               checksum_algorithm=ChecksumAlgorithm.CRC32, checksum="01020304",
                               data_size=len(image))
    await store.commit_ota_upload(done, upload_id)
    assert await store.get_ota_package(pkg.id) == done
    assert await store.read_ota_data(pkg.id, 0, len(image)) == image


@pytest.mark.parametrize(("offset", "length"), [
    (0, 1), (0, C), (C - 1, 1), (C - 1, 2), (C, 1), (C, C), (C - 5, C + 10),
    (2 * C, 12345), (2 * C + 12344, 1), (0, 2 * C + 12345),
    # Cut short at the end, or entirely past it.
    (2 * C + 12000, 1000), (2 * C + 12345, 10), (10 * C, 5), (5, 0),
])
async def test_range_reads_across_chunk_boundaries(
    store: Store, tenant: Tenant, profile: DeviceProfile, image: bytes, offset: int, length: int
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    await upload(store, pkg, image)
    assert await store.read_ota_data(pkg.id, offset, length) == image[offset:offset + length]


async def test_a_small_package_is_one_short_chunk(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    await upload(store, pkg, b"hello firmware")
    assert await store.read_ota_data(pkg.id, 6, 100) == b"firmware"
    assert await store.read_ota_data(uuid.uuid4(), 0, 10) == b""


async def test_chunks_must_be_full_but_the_last(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    with pytest.raises(ValueError):
        await store.write_ota_chunks(uuid.uuid4(), pkg.id, 0, [b"short", b"x"], now_ms())
    with pytest.raises(ValueError):
        await store.write_ota_chunks(uuid.uuid4(), pkg.id, 0, [b""], now_ms())
    with pytest.raises(NotFound):
        await store.write_ota_chunks(uuid.uuid4(), uuid.uuid4(), 0, [b"x"], now_ms())


async def test_commit_checks_the_package_and_the_staged_size(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    upload_id = uuid.uuid4()
    await store.write_ota_chunks(upload_id, pkg.id, 0, [b"abc"], now_ms())
    with pytest.raises(ValueError):
        await store.commit_ota_upload(dataclasses.replace(pkg, data_size=4), upload_id)
    got = await store.get_ota_package(pkg.id)
    assert got is not None and not got.has_data

    await store.commit_ota_upload(dataclasses.replace(pkg, data_size=3), upload_id)
    # Bytes are uploaded once, and never to a URL package.
    again = uuid.uuid4()
    await store.write_ota_chunks(again, pkg.id, 0, [b"xyz"], now_ms())
    with pytest.raises(Conflict):
        await store.commit_ota_upload(dataclasses.replace(pkg, data_size=3), again)
    await store.discard_ota_upload(again)
    assert await store.read_ota_data(pkg.id, 0, 3) == b"abc"

    url = package(tenant, profile, title="u", url="https://example.com/u.bin")
    await store.save_ota_package(url)
    staged = uuid.uuid4()
    await store.write_ota_chunks(staged, url.id, 0, [b"xyz"], now_ms())
    with pytest.raises(Conflict):
        await store.commit_ota_upload(dataclasses.replace(url, data_size=3), staged)
    with pytest.raises(NotFound):
        await store.commit_ota_upload(package(tenant, profile, title="gone"), staged)


async def test_discarding_keeps_committed_data(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    upload_id = uuid.uuid4()
    await store.write_ota_chunks(upload_id, pkg.id, 0, [b"data"], now_ms())
    await store.commit_ota_upload(dataclasses.replace(pkg, data_size=4), upload_id)
    await store.discard_ota_upload(upload_id)
    assert await store.discard_ota_uploads_before(now_ms() + 1000) == 0
    assert await store.read_ota_data(pkg.id, 0, 4) == b"data"


async def test_stale_uploads_are_discarded_by_age(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    old, recent = uuid.uuid4(), uuid.uuid4()
    await store.write_ota_chunks(old, pkg.id, 0, [b"old"], 1000)
    await store.write_ota_chunks(recent, pkg.id, 0, [b"new"], now_ms())
    assert await store.discard_ota_uploads_before(2000) == 1
    # The old one is gone: it can no longer be committed; the recent one still can.
    with pytest.raises(ValueError):
        await store.commit_ota_upload(dataclasses.replace(pkg, data_size=3), old)
    await store.commit_ota_upload(dataclasses.replace(pkg, data_size=3), recent)
    assert await store.read_ota_data(pkg.id, 0, 3) == b"new"


async def test_delete_removes_the_bytes_and_refuses_while_assigned(
    store: Store, tenant: Tenant, profile: DeviceProfile, make_device: MakeDevice
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    await upload(store, pkg, b"x" * (C + 1))
    device, _ = await make_device("d1", firmware_id=pkg.id)
    with pytest.raises(Conflict, match="devices"):
        await store.delete_ota_package(pkg.id)
    await store.update_device(dataclasses.replace(device, firmware_id=None))

    await store.save_device_profile(dataclasses.replace(profile, software_id=pkg.id))
    with pytest.raises(Conflict, match="profile"):
        await store.delete_ota_package(pkg.id)
    await store.save_device_profile(dataclasses.replace(profile, software_id=None))

    await store.delete_ota_package(pkg.id)
    assert await store.get_ota_package(pkg.id) is None
    assert await store.read_ota_data(pkg.id, 0, 10) == b""
    await store.delete_ota_package(pkg.id)  # deleting nothing is fine


async def test_deleting_a_package_survives_a_reopen(
    store_factory: StoreFactory, tenant: Tenant, profile: DeviceProfile, store: Store
) -> None:
    kept, gone = package(tenant, profile, title="kept"), package(tenant, profile, title="gone")
    for pkg in (kept, gone):
        await store.save_ota_package(pkg)
        await upload(store, pkg, pkg.title.encode() * 1000)
    await store.delete_ota_package(gone.id)
    await store.close()
    reopened = store_factory()
    await reopened.open()
    try:
        assert await reopened.get_ota_package(gone.id) is None
        assert await reopened.read_ota_data(kept.id, 0, 8) == b"keptkept"
    finally:
        await reopened.close()


async def test_find_pages_searches_and_filters(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    other_tenant = Tenant(id=uuid.uuid4(), title="Other", created_time=now_ms())
    await store.save_tenant(other_tenant)
    other_profile = DeviceProfile(id=uuid.uuid4(), tenant_id=other_tenant.id, name="default",
                                  created_time=now_ms(), default=True)
    await store.save_device_profile(other_profile)
    await store.save_ota_package(package(other_tenant, other_profile, title="Alpha"))

    made = []
    for i, title in enumerate(["Alpha", "beta", "Gamma", "alphabet"]):
        pkg = package(tenant, profile, title=title, type=SOFTWARE if i == 3 else FIRMWARE)
        pkg.created_time = 1000 + i
        await store.save_ota_package(pkg)
        made.append(pkg)
    await upload(store, made[0], b"bytes")
    url = package(tenant, profile, title="Url", url="https://example.com/x")
    await store.save_ota_package(url)

    page = await store.find_ota_packages(tenant.id, PageLink(2, 0))
    assert page.total_elements == 5 and page.total_pages == 3 and page.has_next
    assert [p.title for p in page.data] == ["Alpha", "beta"]  # createdTime ascending
    found = await store.find_ota_packages(tenant.id, PageLink(10, 0, text_search="ALPHA",
                                                              sort_property="title",
                                                              sort_order="DESC"))
    assert [p.title for p in found.data] == ["alphabet", "Alpha"]
    firmware = await store.find_ota_packages(tenant.id, PageLink(10), profile.id, FIRMWARE)
    assert {p.title for p in firmware.data} == {"Alpha", "beta", "Gamma", "Url"}
    assignable = await store.find_ota_packages(tenant.id, PageLink(10), profile.id, FIRMWARE,
                                               assignable_only=True)
    assert {p.title for p in assignable.data} == {"Alpha", "Url"}


async def test_devices_following_the_profile_are_paged_by_id(
    store: Store, tenant: Tenant, profile: DeviceProfile, make_device: MakeDevice
) -> None:
    pkg = package(tenant, profile)
    await store.save_ota_package(pkg)
    plain = [(await make_device(f"plain-{i}"))[0] for i in range(5)]
    await make_device("own-firmware", firmware_id=pkg.id)
    with_software = (await make_device("own-software", software_id=pkg.id))[0]

    following: list[Device] = []
    after = None
    while batch := await store.find_devices_following_profile_ota(profile.id, FIRMWARE,
                                                                   after, 2):
        assert len(batch) <= 2
        following.extend(batch)
        after = batch[-1].id
    expected = sorted([*plain, with_software], key=lambda d: str(d.id))
    assert [d.id for d in following] == [d.id for d in expected]
    software = await store.find_devices_following_profile_ota(profile.id, SOFTWARE, None, 100)
    assert len(software) == 6 and with_software.id not in {d.id for d in software}
