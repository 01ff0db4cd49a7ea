"""A small but complete install, written through the Store contract, and a deep comparison of
two stores' contents, for the migration tests."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from uuid import UUID

from thingport.clock import now_ms
from thingport.domain.model import (
    AttributeScope,
    Authority,
    ChecksumAlgorithm,
    ClaimWindow,
    Customer,
    DataType,
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceProfile,
    KvEntry,
    OtaPackage,
    OtaPackageType,
    PageLink,
    Rpc,
    RpcStatus,
    Tenant,
    User,
    UserCredentials,
)
from thingport.services import store_counts
from thingport.services.store_counts import TS_MAX, TS_MIN
from thingport.store.base import OTA_CHUNK_SIZE, Store

#: Points of the busiest key: more than a few batches of the tests' batch size.
POINTS = 2_345


@dataclass
class Install:
    """What ``populate`` wrote, for the tests to look up."""

    tenants: list[Tenant] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    firmware: OtaPackage | None = None
    firmware_bytes: bytes = b""


async def populate(store: Store) -> Install:
    """Two tenants with users (one still to activate), customers, profiles, OTA packages
    (bytes over several chunks, and a URL one), devices of every credentials type with
    attributes in all scopes, time series of every type, RPCs with gaps in their ids (some
    deleted) and in every state, a claim window."""
    install = Install()
    now = now_ms()
    sysadmin = User(uuid.uuid4(), None, None, "sysadmin@example.com", Authority.SYS_ADMIN, 1)
    await store.save_user(sysadmin, UserCredentials(sysadmin.id, "$2b$12$sysadminhash"))
    for n in range(2):
        tenant = Tenant(uuid.uuid4(), f"Tenant {n}", 1000 + n, email=f"t{n}@example.com",
                        additional_info={"n": n})
        await store.save_tenant(tenant)
        install.tenants.append(tenant)
        customer = Customer(uuid.uuid4(), tenant.id, f"Customer {n}", 2000 + n)
        await store.save_customer(customer)
        admin = User(uuid.uuid4(), tenant.id, None, f"admin{n}@example.com",
                     Authority.TENANT_ADMIN, 3000, first_name="Ada")
        await store.save_user(admin, UserCredentials(admin.id, f"$2b$12$hash{n}"))
        pending = User(uuid.uuid4(), tenant.id, customer.id, f"user{n}@example.com",
                       Authority.CUSTOMER_USER, 3001)
        await store.save_user(pending, UserCredentials(pending.id, None, f"activate-{n}",
                                                       enabled=False))
        default = DeviceProfile(uuid.uuid4(), tenant.id, "default", 4000, default=True)
        await store.save_device_profile(default)
        provisioned = DeviceProfile(
            uuid.uuid4(), tenant.id, "thermostats", 4001,
            provision_type="ALLOW_CREATE_NEW_DEVICES", provision_device_key=f"key-{n}",
            profile_data={"provisionConfiguration": {"provisionDeviceSecret": "s"}})
        await store.save_device_profile(provisioned)
        firmware = await _firmware(store, tenant, provisioned, n)
        if n == 0:
            install.firmware = firmware
            install.firmware_bytes = await store.read_ota_data(firmware.id, 0, 1 << 30)
        url_package = OtaPackage(uuid.uuid4(), tenant.id, provisioned.id,
                                 OtaPackageType.SOFTWARE, "sw", "2.0", 5001,
                                 url="https://example.com/sw.bin")
        await store.save_ota_package(url_package)
        provisioned.firmware_id, provisioned.software_id = firmware.id, url_package.id
        await store.save_device_profile(provisioned)
        for d in range(3):
            device = Device(
                uuid.uuid4(), tenant.id, f"device-{n}-{d}", "thermostats", provisioned.id,
                6000 + d, customer_id=customer.id if d == 1 else None, label=f"L{d}",
                additional_info={"gateway": d == 2},
                firmware_id=firmware.id if d == 0 else None,
            )
            kind = [DeviceCredentialsType.ACCESS_TOKEN, DeviceCredentialsType.MQTT_BASIC,
                    DeviceCredentialsType.X509_CERTIFICATE][d]
            await store.create_device(device, DeviceCredentials(
                uuid.uuid4(), device.id, 6000, kind, f"token-{device.id}",
                None if d == 0 else '{"clientId":"c"}'))
            install.devices.append(device)
            await _device_data(store, device, now, busy=(n == 0 and d == 0))
    return install


async def _firmware(store: Store, tenant: Tenant, profile: DeviceProfile, n: int
                    ) -> OtaPackage:
    package = OtaPackage(uuid.uuid4(), tenant.id, profile.id, OtaPackageType.FIRMWARE,
                         "fw", f"1.{n}", 5000, tag="stable", additional_info={"d": "x"})
    await store.save_ota_package(package)
    data = os.urandom(2 * OTA_CHUNK_SIZE + 12345)
    upload = uuid.uuid4()
    chunks = [data[i:i + OTA_CHUNK_SIZE] for i in range(0, len(data), OTA_CHUNK_SIZE)]
    await store.write_ota_chunks(upload, package.id, 0, chunks[:2], now_ms())
    await store.write_ota_chunks(upload, package.id, 2, chunks[2:], now_ms())
    stored = OtaPackage(**{**_fields(package), "has_data": True, "file_name": "fw.bin",
                           "content_type": "application/octet-stream",
                           "checksum_algorithm": ChecksumAlgorithm.SHA256,
                           "checksum": "0" * 64, "data_size": len(data)})
    await store.commit_ota_upload(stored, upload)
    return stored


def _fields(package: OtaPackage) -> dict[str, object]:
    return {name: getattr(package, name) for name in OtaPackage.__dataclass_fields__}


async def _device_data(store: Store, device: Device, now: int, busy: bool) -> None:
    for scope, stamp in ((AttributeScope.CLIENT_SCOPE, 100), (AttributeScope.SERVER_SCOPE, 200),
                         (AttributeScope.SHARED_SCOPE, 300)):
        await store.save_attributes(device.id, scope, [
            KvEntry("b", DataType.BOOLEAN, True), KvEntry("l", DataType.LONG, 7)], stamp)
        await store.save_attributes(device.id, scope, [
            KvEntry("s", DataType.STRING, "x"), KvEntry("j", DataType.JSON, '{"a":1}')],
            stamp + 1)
    points = POINTS if busy else 5
    await store.save_telemetry(device.id, [
        (1_600_000_000_000 + i, [KvEntry("t", DataType.DOUBLE, i / 3)]) for i in range(points)])
    await store.save_telemetry(device.id, [
        (1_600_000_000_000, [KvEntry("on", DataType.BOOLEAN, False),
                             KvEntry("n", DataType.LONG, 2**40),
                             KvEntry("mode", DataType.STRING, "eco"),
                             KvEntry("cfg", DataType.JSON, '{"x":[1,2]}')]),
        (0, [KvEntry("n", DataType.LONG, -1)]),
    ])
    created = []
    for i in range(6):
        created.append(await store.create_rpc(Rpc(
            uuid.uuid4(), device.tenant_id, device.id, now - 1000 + i, now + 600_000,
            f"m{i}", f'{{"i":{i}}}', oneway=i % 2 == 0, persistent=True)))
    # Ids 2 and 3 deleted (a gap); the others in different states.
    await store.delete_rpc(created[1].id)
    await store.delete_rpc(created[2].id)
    await store.set_rpc_status(created[0].id, RpcStatus.DELIVERED,
                               frozenset({RpcStatus.QUEUED}))
    await store.complete_rpc(device.id, created[3].request_id, '{"ok":true}', now)
    await store.open_claim_window(ClaimWindow(device.id, "secret", now + 60_000), now)


async def assert_same(source: Store, target: Store, install: Install) -> None:
    """Everything the install holds reads back the same from the target."""
    assert await store_counts.tenants(target) == await store_counts.tenants(source)
    for tenant in install.tenants:
        for lister in ("find_customers", "find_device_profiles", "find_ota_packages",
                       "find_devices"):
            link = PageLink(100, sort_property="createdTime")
            assert (await getattr(target, lister)(tenant.id, link)).data == \
                (await getattr(source, lister)(tenant.id, link)).data, lister
    ids = [t.id for t in install.tenants]
    source_users = [u async for u in store_counts.users(source, ids)]
    assert [u async for u in store_counts.users(target, ids)] == source_users
    for user in source_users:
        assert await target.get_user_credentials(user.id) == \
            await source.get_user_credentials(user.id)
    assert install.firmware is not None
    assert await target.read_ota_data(install.firmware.id, 0, 1 << 30) == install.firmware_bytes
    for device in install.devices:
        await _assert_same_device(source, target, device.id)


async def _assert_same_device(source: Store, target: Store, device_id: UUID) -> None:
    assert await target.get_device_credentials(device_id) == \
        await source.get_device_credentials(device_id)
    for scope in AttributeScope:
        assert await target.get_attributes(device_id, scope) == \
            await source.get_attributes(device_id, scope)
    assert await target.get_latest_telemetry(device_id) == \
        await source.get_latest_telemetry(device_id)
    for key in await source.get_telemetry_keys(device_id):
        assert await target.get_telemetry(device_id, key, TS_MIN, TS_MAX, 10**6) == \
            await source.get_telemetry(device_id, key, TS_MIN, TS_MAX, 10**6), key
    link = PageLink(100, sort_property="requestId")
    assert (await target.find_rpcs(device_id, link)).data == \
        (await source.find_rpcs(device_id, link)).data
    assert await target.get_claim_window(device_id) == await source.get_claim_window(device_id)
