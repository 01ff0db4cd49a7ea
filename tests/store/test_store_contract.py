"""The contract of ``thingport.store.base.Store``, run against every backend.

What only the SQLite backend promises (its writer thread) is in test_sqlite_writer.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from tests.store.conftest import MakeDevice, StoreFactory, now_ms
from thingport.domain.model import (
    Aggregation,
    AttributeKvEntry,
    AttributeScope,
    Authority,
    Customer,
    DataType,
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceProfile,
    KvEntry,
    PageLink,
    Tenant,
    TsKvEntry,
    User,
    UserCredentials,
)
from thingport.errors import BadRequest, Conflict, NotFound
from thingport.store.base import Store

CLIENT = AttributeScope.CLIENT_SCOPE
SERVER = AttributeScope.SERVER_SCOPE
SHARED = AttributeScope.SHARED_SCOPE
FAR_FUTURE = 2**62


def kv(key: str, value: bool | int | float | str, type: DataType | None = None) -> KvEntry:
    """An entry typed from its Python value unless ``type`` says otherwise."""
    if type is None:
        if isinstance(value, bool):
            type = DataType.BOOLEAN
        elif isinstance(value, int):
            type = DataType.LONG
        elif isinstance(value, float):
            type = DataType.DOUBLE
        else:
            type = DataType.STRING
    return KvEntry(key, type, value)


def values(entries: Sequence[TsKvEntry]) -> list[tuple[int, Any]]:
    return [(e.ts, e.value) for e in entries]


async def history(store: Store, device: Device, key: str, **kw: Any) -> list[TsKvEntry]:
    return await store.get_telemetry(
        device.id, key, kw.pop("start", 0), kw.pop("end", FAR_FUTURE), kw.pop("limit", 10_000),
        **kw,
    )


def assert_exact(actual: object, expected: object) -> None:
    """Equal and of the same type: True is not 1, and 42.0 is not 42."""
    assert actual == expected
    assert type(actual) is type(expected), f"{actual!r} is {type(actual)}, not {type(expected)}"


# -- lifecycle ---------------------------------------------------------------------------------


async def test_data_survives_close_and_reopen(
    store_factory: StoreFactory, tenant: Tenant, device: Device, store: Store
) -> None:
    await store.save_telemetry(device.id, [(1000, [kv("t", 21.5), kv("on", True)])])
    await store.save_attributes(device.id, SHARED, [kv("target", 22)], 1234)
    await store.close()

    reopened = store_factory()
    await reopened.open()
    try:
        assert await reopened.get_tenant(tenant.id) == tenant
        assert await reopened.get_device(device.id) == device
        latest = await reopened.get_latest_telemetry(device.id)
        assert [(e.key, e.value) for e in latest] == [("on", True), ("t", 21.5)]
        assert await reopened.get_attributes(device.id, SHARED) == [
            AttributeKvEntry("target", DataType.LONG, 22, 1234)
        ]
        # The reopened store writes on top of what is there, key ids included.
        await reopened.save_telemetry(device.id, [(2000, [kv("t", 22.5), kv("new", "x")])])
        assert values(await history(reopened, device, "t")) == [(2000, 22.5), (1000, 21.5)]
        assert await reopened.get_telemetry_keys(device.id) == ["new", "on", "t"]
    finally:
        await reopened.close()


async def test_close_commits_writes_still_queued(
    store_factory: StoreFactory, device: Device, store: Store
) -> None:
    tasks = [
        asyncio.create_task(store.save_telemetry(device.id, [(ts, [kv("n", ts)])]))
        for ts in range(1, 101)
    ]
    await asyncio.sleep(0)  # every task has queued its write
    await store.close()
    await asyncio.gather(*tasks)

    reopened = store_factory()
    await reopened.open()
    try:
        assert len(await history(reopened, device, "n")) == 100
    finally:
        await reopened.close()


async def test_close_twice_is_harmless(store: Store) -> None:
    await store.close()
    await store.close()


# -- tenants -----------------------------------------------------------------------------------


async def test_tenant_insert_update_get(store: Store) -> None:
    tenant = Tenant(uuid.uuid4(), "Acme", 1000, "a@acme.io", {"description": "x", "n": [1, 2]})
    await store.save_tenant(tenant)
    assert await store.get_tenant(tenant.id) == tenant

    changed = dataclasses.replace(tenant, title="Acme 2", email=None, additional_info=None)
    await store.save_tenant(changed)
    assert await store.get_tenant(tenant.id) == changed
    assert await store.get_tenant(uuid.uuid4()) is None


async def test_find_tenants_searches_and_sorts_by_title(store: Store) -> None:
    for i, title in enumerate(["beta", "Alpha", "gamma", "alphabet"]):
        await store.save_tenant(Tenant(uuid.uuid4(), title, 1000 + i))
    page = await store.find_tenants(PageLink(10))
    assert [t.title for t in page.data] == ["Alpha", "alphabet", "beta", "gamma"]
    page = await store.find_tenants(PageLink(10, text_search="ALPH"))
    assert [t.title for t in page.data] == ["Alpha", "alphabet"]
    page = await store.find_tenants(PageLink(1, 1, sort_property="createdTime", sort_order="DESC"))
    assert [t.title for t in page.data] == ["gamma"]
    assert (page.total_elements, page.total_pages, page.has_next) == (4, 4, True)


# -- customers ---------------------------------------------------------------------------------


async def test_customer_insert_update_get(store: Store, tenant: Tenant) -> None:
    customer = Customer(uuid.uuid4(), tenant.id, "Customer A", 1000, "c@x.io", {"k": "v"})
    await store.save_customer(customer)
    assert await store.get_customer(customer.id) == customer
    changed = dataclasses.replace(customer, title="Customer B")
    await store.save_customer(changed)
    assert await store.get_customer(customer.id) == changed
    assert await store.get_customer(uuid.uuid4()) is None


async def test_duplicate_customer_title_conflicts_in_the_same_tenant_only(
    store: Store, tenant: Tenant
) -> None:
    await store.save_customer(Customer(uuid.uuid4(), tenant.id, "Same", 1))
    duplicate = Customer(uuid.uuid4(), tenant.id, "Same", 2)
    with pytest.raises(Conflict):
        await store.save_customer(duplicate)
    assert await store.get_customer(duplicate.id) is None

    other_tenant = Tenant(uuid.uuid4(), "Other", 1)
    await store.save_tenant(other_tenant)
    await store.save_customer(Customer(uuid.uuid4(), other_tenant.id, "Same", 3))


async def test_find_customers_is_scoped_to_the_tenant(store: Store, tenant: Tenant) -> None:
    other = Tenant(uuid.uuid4(), "Other", 1)
    await store.save_tenant(other)
    for title in ["b", "a", "c"]:
        await store.save_customer(Customer(uuid.uuid4(), tenant.id, title, 1))
    await store.save_customer(Customer(uuid.uuid4(), other.id, "a", 1))
    page = await store.find_customers(tenant.id, PageLink(2, sort_order="DESC"))
    assert [c.title for c in page.data] == ["c", "b"]
    assert (page.total_elements, page.total_pages, page.has_next) == (3, 2, True)


async def test_delete_customer_deletes_its_users_and_unassigns_its_devices(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    customer = Customer(uuid.uuid4(), tenant.id, "C", 1)
    await store.save_customer(customer)
    user = User(uuid.uuid4(), tenant.id, customer.id, "cu@x.io", Authority.CUSTOMER_USER, 1)
    await store.save_user(user, UserCredentials(user.id, "hash"))
    tenant_admin = User(uuid.uuid4(), tenant.id, None, "ta@x.io", Authority.TENANT_ADMIN, 1)
    await store.save_user(tenant_admin)
    device, _ = await make_device("assigned", customer_id=customer.id)

    await store.delete_customer(customer.id)
    assert await store.get_customer(customer.id) is None
    assert await store.get_user(user.id) is None
    assert await store.get_user_credentials(user.id) is None
    assert await store.get_user(tenant_admin.id) == tenant_admin
    assert await store.get_device(device.id) == dataclasses.replace(device, customer_id=None)


# -- users -------------------------------------------------------------------------------------


def make_user(tenant: Tenant | None, email: str, **fields: Any) -> User:
    return User(
        id=uuid.uuid4(), tenant_id=tenant.id if tenant else None,
        customer_id=fields.pop("customer_id", None), email=email,
        authority=fields.pop("authority", Authority.TENANT_ADMIN),
        created_time=fields.pop("created_time", now_ms()), **fields,
    )


async def test_user_and_credentials_round_trip(store: Store, tenant: Tenant) -> None:
    user = make_user(tenant, "Admin@Example.com", first_name="Ada", last_name="L",
                     additional_info={"lang": "en"})
    waiting = UserCredentials(user.id, None, activate_token="act-123", enabled=False)
    await store.save_user(user, waiting)
    assert await store.get_user(user.id) == user
    assert await store.get_user_by_email("admin@EXAMPLE.com") == user
    assert await store.get_user_by_email("nobody@example.com") is None
    assert await store.get_user_credentials(user.id) == waiting
    assert await store.get_user_credentials_by_activate_token("act-123") == waiting
    assert await store.get_user_credentials_by_activate_token("act-999") is None

    # Activation: the same user saved again with a password and no token.
    renamed = dataclasses.replace(user, first_name="Grace")
    active = UserCredentials(user.id, "argon2-hash", None, True)
    await store.save_user(renamed, active)
    assert await store.get_user(user.id) == renamed
    assert await store.get_user_credentials(user.id) == active
    assert await store.get_user_credentials_by_activate_token("act-123") is None

    # Saving the user alone leaves its credentials as they are.
    await store.save_user(dataclasses.replace(renamed, last_name="Hopper"))
    assert await store.get_user_credentials(user.id) == active


async def test_duplicate_email_conflicts_whatever_its_case_and_stores_nothing(
    store: Store, tenant: Tenant
) -> None:
    await store.save_user(make_user(tenant, "same@example.com"))
    duplicate = make_user(tenant, "SAME@example.com")
    with pytest.raises(Conflict):
        await store.save_user(duplicate, UserCredentials(duplicate.id, "hash"))
    assert await store.get_user(duplicate.id) is None
    assert await store.get_user_credentials(duplicate.id) is None
    assert await store.count_users() == 1


async def test_find_users_by_tenant_customer_and_system(store: Store, tenant: Tenant) -> None:
    customer = Customer(uuid.uuid4(), tenant.id, "C", 1)
    await store.save_customer(customer)
    admin = make_user(None, "sys@x.io", authority=Authority.SYS_ADMIN)
    ta = make_user(tenant, "b-tenant@x.io")
    cu = make_user(tenant, "a-customer@x.io", customer_id=customer.id,
                   authority=Authority.CUSTOMER_USER, last_name="Zed")
    for user in (admin, ta, cu):
        await store.save_user(user)

    page = await store.find_users(tenant.id, None, PageLink(10))
    assert [u.email for u in page.data] == ["a-customer@x.io", "b-tenant@x.io"]
    page = await store.find_users(tenant.id, customer.id, PageLink(10))
    assert page.data == [cu]
    page = await store.find_users(None, None, PageLink(10))
    assert page.data == [admin]
    page = await store.find_users(tenant.id, None, PageLink(10, text_search="zed"))
    assert page.data == [cu]
    page = await store.find_users(tenant.id, None, PageLink(10, sort_property="email",
                                                            sort_order="DESC"))
    assert [u.email for u in page.data] == ["b-tenant@x.io", "a-customer@x.io"]
    # Filtered in the query, so the page counts are those of the filtered set.
    page = await store.find_users(tenant.id, None, PageLink(1), Authority.TENANT_ADMIN)
    assert page.data == [ta] and page.total_elements == 1 and not page.has_next


async def test_delete_user_deletes_credentials_and_count_users(
    store: Store, tenant: Tenant
) -> None:
    assert await store.count_users() == 0
    user = make_user(tenant, "u@x.io")
    await store.save_user(user, UserCredentials(user.id, "hash"))
    assert await store.count_users() == 1
    await store.delete_user(user.id)
    assert await store.get_user(user.id) is None
    assert await store.get_user_credentials(user.id) is None
    assert await store.count_users() == 0
    await store.delete_user(user.id)  # deleting what is gone is not an error


# -- device profiles ---------------------------------------------------------------------------


async def test_device_profile_round_trip_and_lookups(store: Store, tenant: Tenant) -> None:
    profile = DeviceProfile(
        uuid.uuid4(), tenant.id, "thermostats", 1000, default=False, description="d",
        provision_type="ALLOW_CREATE_NEW_DEVICES", provision_device_key="pkey",
        profile_data={"configuration": {"type": "DEFAULT"}, "alarms": [1, 2.5, None]},
    )
    await store.save_device_profile(profile)
    assert await store.get_device_profile(profile.id) == profile
    assert await store.get_device_profile_by_name(tenant.id, "thermostats") == profile
    assert await store.get_device_profile_by_name(tenant.id, "Thermostats") is None
    assert await store.get_device_profile_by_provision_key("pkey") == profile
    assert await store.get_device_profile_by_provision_key("nope") is None
    assert await store.get_default_device_profile(tenant.id) is None


async def test_marking_a_profile_default_unmarks_the_previous_one(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    assert await store.get_default_device_profile(tenant.id) == profile
    second = DeviceProfile(uuid.uuid4(), tenant.id, "second", 1, default=True)
    await store.save_device_profile(second)
    assert await store.get_default_device_profile(tenant.id) == second
    first = await store.get_device_profile(profile.id)
    assert first is not None and first.default is False


async def test_duplicate_profile_name_or_provision_key_conflicts_and_changes_nothing(
    store: Store, tenant: Tenant, profile: DeviceProfile
) -> None:
    keyed = DeviceProfile(uuid.uuid4(), tenant.id, "keyed", 1, provision_device_key="k1")
    await store.save_device_profile(keyed)
    # A duplicate name that also asks to become the default: the old default must stay.
    same_name = DeviceProfile(uuid.uuid4(), tenant.id, "keyed", 1, default=True)
    with pytest.raises(Conflict):
        await store.save_device_profile(same_name)
    same_key = DeviceProfile(uuid.uuid4(), tenant.id, "other", 1, provision_device_key="k1")
    with pytest.raises(Conflict):
        await store.save_device_profile(same_key)
    assert await store.get_device_profile(same_name.id) is None
    assert await store.get_device_profile(same_key.id) is None
    assert await store.get_default_device_profile(tenant.id) == profile


async def test_find_delete_and_count_device_profiles(
    store: Store, tenant: Tenant, profile: DeviceProfile, make_device: MakeDevice
) -> None:
    spare = DeviceProfile(uuid.uuid4(), tenant.id, "Spare", 1)
    await store.save_device_profile(spare)
    await make_device("d1")
    await make_device("d2")
    page = await store.find_device_profiles(tenant.id, PageLink(10))
    assert [p.name for p in page.data] == ["default", "Spare"]
    page = await store.find_device_profiles(tenant.id, PageLink(10, text_search="PAR"))
    assert page.data == [spare]
    assert await store.count_devices_with_profile(profile.id) == 2
    assert await store.count_devices_with_profile(spare.id) == 0
    await store.delete_device_profile(spare.id)
    assert await store.get_device_profile(spare.id) is None


# -- devices and credentials -------------------------------------------------------------------


async def test_device_and_credentials_round_trip(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    customer = Customer(uuid.uuid4(), tenant.id, "C", 1)
    await store.save_customer(customer)
    device, credentials = await make_device(
        "Thermo 1", token="A1b2C3", type="thermo", label="hall", customer_id=customer.id,
        additional_info={"gateway": False, "description": "ü", "nested": {"a": [1, 2.5]}},
    )
    assert await store.get_device(device.id) == device
    assert await store.get_device_by_name(tenant.id, "Thermo 1") == device
    assert await store.get_device_by_name(tenant.id, "thermo 1") is None
    assert await store.get_device_credentials(device.id) == credentials
    assert await store.get_device_by_credentials_id("A1b2C3") == (device, credentials)
    assert await store.get_device_by_credentials_id("a1b2c3") is None
    assert await store.get_device(uuid.uuid4()) is None


async def test_duplicate_device_name_conflicts_and_stores_nothing(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    await make_device("same", token="t1")
    with pytest.raises(Conflict):
        await make_device("same", token="t2")
    assert await store.get_device_by_credentials_id("t2") is None
    page = await store.find_devices(tenant.id, PageLink(10))
    assert page.total_elements == 1


async def test_duplicate_token_conflicts_and_stores_nothing(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    first, _ = await make_device("first", token="shared")
    with pytest.raises(Conflict):
        await make_device("second", token="shared")
    assert await store.get_device_by_name(tenant.id, "second") is None
    found = await store.get_device_by_credentials_id("shared")
    assert found is not None and found[0] == first


async def test_update_device(store: Store, tenant: Tenant, make_device: MakeDevice) -> None:
    device, _ = await make_device("before")
    other, _ = await make_device("other")
    changed = dataclasses.replace(device, name="after", label="L", type="t2",
                                  additional_info={"x": 1})
    await store.update_device(changed)
    assert await store.get_device(device.id) == changed
    assert await store.get_device_by_name(tenant.id, "before") is None

    with pytest.raises(Conflict):
        await store.update_device(dataclasses.replace(changed, name="other"))
    assert await store.get_device(device.id) == changed
    assert await store.get_device(other.id) == other


async def test_update_device_credentials(store: Store, make_device: MakeDevice) -> None:
    device, credentials = await make_device("d", token="old")
    _, other_credentials = await make_device("e", token="taken")
    new = dataclasses.replace(credentials, credentials_id="new")
    await store.update_device_credentials(new)
    assert await store.get_device_credentials(device.id) == new
    assert await store.get_device_by_credentials_id("old") is None
    assert await store.get_device_by_credentials_id("new") == (device, new)

    with pytest.raises(Conflict):
        await store.update_device_credentials(dataclasses.replace(new, credentials_id="taken"))
    assert await store.get_device_credentials(device.id) == new
    found = await store.get_device_by_credentials_id("taken")
    assert found is not None and found[1] == other_credentials


async def test_find_devices_pages_searches_sorts_and_filters(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    customer = Customer(uuid.uuid4(), tenant.id, "C", 1)
    await store.save_customer(customer)
    specs = [  # name, type, label, created_time
        ("Sensor-B", "thermo", "b", 3), ("sensor-a", "thermo", None, 1),
        ("Gateway", "gw", "a", 2), ("Other sensor", "gw", "c", 4), ("Ünïcode Sensör", "x", None, 5),
    ]
    made = {}
    for name, type_, label, created in specs:
        made[name], _ = await make_device(
            name, type=type_, label=label, created_time=created,
            customer_id=customer.id if type_ == "gw" else None,
        )

    def names(page: Any) -> list[str]:
        return [d.name for d in page.data]

    page = await store.find_devices(tenant.id, PageLink(2))
    assert names(page) == ["Gateway", "Other sensor"]
    assert (page.total_elements, page.total_pages, page.has_next) == (5, 3, True)
    last = await store.find_devices(tenant.id, PageLink(2, 2))
    assert names(last) == ["Ünïcode Sensör"] and last.has_next is False
    beyond = await store.find_devices(tenant.id, PageLink(2, 7))
    assert beyond.data == [] and beyond.total_elements == 5

    # Case-insensitive "contains", Unicode included.
    page = await store.find_devices(tenant.id, PageLink(10, text_search="SENS"))
    assert names(page) == ["Other sensor", "sensor-a", "Sensor-B", "Ünïcode Sensör"]
    page = await store.find_devices(tenant.id, PageLink(10, text_search="ünï"))
    assert names(page) == ["Ünïcode Sensör"]
    page = await store.find_devices(tenant.id, PageLink(10, text_search="%"))
    assert page.data == []

    page = await store.find_devices(tenant.id, PageLink(10, sort_property="createdTime",
                                                        sort_order="DESC"))
    assert names(page) == ["Ünïcode Sensör", "Other sensor", "Sensor-B", "Gateway", "sensor-a"]
    page = await store.find_devices(tenant.id, PageLink(10, sort_property="type"))
    assert [d.type for d in page.data] == ["gw", "gw", "thermo", "thermo", "x"]
    page = await store.find_devices(tenant.id, PageLink(10, sort_property="label"))
    assert [d.label for d in page.data] == ["a", "b", "c", None, None]  # missing labels last
    page = await store.find_devices(tenant.id, PageLink(10, sort_property="label",
                                                        sort_order="DESC"))
    assert [d.label for d in page.data] == [None, None, "c", "b", "a"]

    page = await store.find_devices(tenant.id, PageLink(10), customer_id=customer.id)
    assert names(page) == ["Gateway", "Other sensor"]
    page = await store.find_devices(tenant.id, PageLink(10), device_type="thermo")
    assert names(page) == ["sensor-a", "Sensor-B"]
    page = await store.find_devices(uuid.uuid4(), PageLink(10))
    assert page.data == [] and page.total_pages == 0

    with pytest.raises(BadRequest):
        await store.find_devices(tenant.id, PageLink(10, sort_property="name; DROP TABLE x"))


async def test_delete_device_deletes_everything_it_owns(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    doomed, _ = await make_device("doomed", token="doomed-token")
    kept, kept_credentials = await make_device("kept", token="kept-token")
    for d in (doomed, kept):
        await store.save_telemetry(d.id, [(1, [kv("t", 1)]), (2, [kv("t", 2), kv("s", "x")])])
        await store.save_attributes(d.id, CLIENT, [kv("fw", "1.0")], 5)
        await store.save_attributes(d.id, SHARED, [kv("target", 20)], 5)

    await store.delete_device(doomed.id)
    assert await store.get_device(doomed.id) is None
    assert await store.get_device_by_name(tenant.id, "doomed") is None
    assert await store.get_device_credentials(doomed.id) is None
    assert await store.get_device_by_credentials_id("doomed-token") is None
    assert await store.get_latest_telemetry(doomed.id) == []
    assert await store.get_telemetry_keys(doomed.id) == []
    assert await history(store, doomed, "t") == []
    assert await store.get_attributes(doomed.id, CLIENT) == []
    assert await store.get_attributes(doomed.id, SHARED) == []
    await store.delete_device(doomed.id)  # already gone: no error

    assert len(await history(store, kept, "t")) == 2
    assert await store.get_device_by_credentials_id("kept-token") == (kept, kept_credentials)
    assert len(await store.get_attributes(kept.id, SHARED)) == 1

    # The name and token are free again, and the new device starts empty.
    again, _ = await make_device("doomed", token="doomed-token")
    assert await store.get_latest_telemetry(again.id) == []
    with pytest.raises(NotFound):
        await store.save_telemetry(doomed.id, [(3, [kv("t", 3)])])


# -- time series -------------------------------------------------------------------------------


async def test_latest_values_in_key_order(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [
        (1000, [kv("zeta", 1), kv("alpha", 2)]),
        (2000, [kv("alpha", 3), kv("mid", "m")]),
    ])
    latest = await store.get_latest_telemetry(device.id)
    assert [(e.key, e.ts, e.value) for e in latest] == [
        ("alpha", 2000, 3), ("mid", 2000, "m"), ("zeta", 1000, 1)
    ]
    picked = await store.get_latest_telemetry(device.id, ["zeta", "missing", "alpha"])
    assert [(e.key, e.value) for e in picked] == [("alpha", 3), ("zeta", 1)]
    assert await store.get_latest_telemetry(device.id, []) == []
    assert await store.get_latest_telemetry(uuid.uuid4()) == []
    assert await store.get_telemetry_keys(device.id) == ["alpha", "mid", "zeta"]


async def test_latest_moves_only_forward(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [(2000, [kv("t", 2)])])
    await store.save_telemetry(device.id, [(1000, [kv("t", 1)])])  # late arrival
    assert values(await store.get_latest_telemetry(device.id)) == [(2000, 2)]
    assert values(await history(store, device, "t")) == [(2000, 2), (1000, 1)]
    # Within one call too: the newest timestamp wins, not the last group.
    await store.save_telemetry(device.id, [(5000, [kv("t", 5)]), (3000, [kv("t", 3)])])
    assert values(await store.get_latest_telemetry(device.id)) == [(5000, 5)]


async def test_equal_timestamp_replaces_value_and_type(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [(1000, [kv("t", 1)])])
    await store.save_telemetry(device.id, [(1000, [kv("t", "one")])])
    assert await history(store, device, "t") == [TsKvEntry(1000, "t", DataType.STRING, "one")]
    assert await store.get_latest_telemetry(device.id) == [
        TsKvEntry(1000, "t", DataType.STRING, "one")
    ]
    await store.save_telemetry(device.id, [(1000, [kv("t", 1.5)]), (1000, [kv("t", 2.5)])])
    assert values(await history(store, device, "t")) == [(1000, 2.5)]
    assert values(await store.get_latest_telemetry(device.id)) == [(1000, 2.5)]


async def test_history_bounds_limit_and_order(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [(ts, [kv("t", ts // 10)]) for ts in range(10, 110, 10)])
    await store.save_telemetry(device.id, [(50, [kv("other", 0)])])
    got = await store.get_telemetry(device.id, "t", 30, 70, 100)
    assert [e.ts for e in got] == [60, 50, 40, 30]  # start included, end excluded, newest first
    got = await store.get_telemetry(device.id, "t", 30, 70, 100, descending=False)
    assert [e.ts for e in got] == [30, 40, 50, 60]
    got = await store.get_telemetry(device.id, "t", 0, 1000, 3)
    assert [e.ts for e in got] == [100, 90, 80]
    got = await store.get_telemetry(device.id, "t", 0, 1000, 3, descending=False)
    assert [e.ts for e in got] == [10, 20, 30]
    assert all(e.key == "t" and e.type is DataType.LONG for e in got)
    assert await store.get_telemetry(device.id, "t", 70, 70, 100) == []
    assert await store.get_telemetry(device.id, "missing", 0, 1000, 100) == []
    assert await store.get_telemetry(uuid.uuid4(), "t", 0, 1000, 100) == []


async def test_negative_and_extreme_timestamps(store: Store, device: Device) -> None:
    stamps = [-(2**62), -1, 0, 2**62]
    await store.save_telemetry(device.id, [(ts, [kv("t", i)]) for i, ts in enumerate(stamps)])
    got = await store.get_telemetry(device.id, "t", -(2**63), 2**63 - 1, 10, descending=False)
    assert [e.ts for e in got] == stamps


@pytest.mark.parametrize(
    "entry",
    [
        KvEntry("b", DataType.BOOLEAN, True),
        KvEntry("b", DataType.BOOLEAN, False),
        KvEntry("l", DataType.LONG, 42),
        KvEntry("l", DataType.LONG, 0),
        KvEntry("l", DataType.LONG, -(2**63)),
        KvEntry("l", DataType.LONG, 2**63 - 1),
        KvEntry("d", DataType.DOUBLE, 42.0),
        KvEntry("d", DataType.DOUBLE, -0.5),
        KvEntry("d", DataType.DOUBLE, 1e300),
        KvEntry("d", DataType.DOUBLE, math.inf),
        KvEntry("s", DataType.STRING, "42"),
        KvEntry("s", DataType.STRING, "1.5"),
        KvEntry("s", DataType.STRING, "true"),
        KvEntry("s", DataType.STRING, ""),
        KvEntry("s", DataType.STRING, "ünïcode ✓ \x00 nul"),
        KvEntry("j", DataType.JSON, '{"a":[1,2.0,true,null]}'),
        KvEntry("j", DataType.JSON, "[]"),
        KvEntry("j", DataType.JSON, "12"),
    ],
    ids=repr,
)
async def test_value_types_round_trip_exactly(
    store: Store, device: Device, entry: KvEntry
) -> None:
    await store.save_telemetry(device.id, [(1000, [entry])])
    await store.save_attributes(device.id, SERVER, [entry], 1000)
    latest = await store.get_latest_telemetry(device.id)
    raw = await history(store, device, entry.key)
    attributes = await store.get_attributes(device.id, SERVER)
    for got in (latest[0], raw[0], attributes[0]):
        assert got.type is entry.type
        assert_exact(got.value, entry.value)


async def test_a_double_given_as_int_comes_back_as_float(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [(1, [KvEntry("d", DataType.DOUBLE, 42)])])
    (latest,) = await store.get_latest_telemetry(device.id)
    assert_exact(latest.value, 42.0)


async def test_empty_batch_is_a_no_op(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [])
    await store.save_telemetry(device.id, [(1, [])])
    assert await store.get_latest_telemetry(device.id) == []


async def test_telemetry_of_an_unknown_device_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.save_telemetry(uuid.uuid4(), [(1, [kv("t", 1)])])


async def test_delete_telemetry_in_a_range_rewrites_latest(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [(ts, [kv("t", ts), kv("u", ts)]) for ts in (1, 2, 3, 4)])
    await store.delete_telemetry(device.id, ["t"], 3, 10)
    assert values(await history(store, device, "t")) == [(2, 2), (1, 1)]
    assert values(await store.get_latest_telemetry(device.id, ["t"])) == [(2, 2)]
    assert len(await history(store, device, "u")) == 4  # other keys untouched

    # A range that does not hold the latest value leaves it alone.
    await store.delete_telemetry(device.id, ["u"], 1, 2)
    assert values(await history(store, device, "u")) == [(4, 4), (3, 3), (2, 2)]
    assert values(await store.get_latest_telemetry(device.id, ["u"])) == [(4, 4)]


async def test_delete_all_telemetry_of_a_key_removes_its_latest(
    store: Store, device: Device
) -> None:
    await store.save_telemetry(device.id, [(1, [kv("t", 1), kv("u", 1)]), (2, [kv("t", 2)])])
    await store.delete_telemetry(device.id, ["t", "never-written"], None, None)
    assert await history(store, device, "t") == []
    assert await store.get_telemetry_keys(device.id) == ["u"]
    await store.delete_telemetry(uuid.uuid4(), ["t"], None, None)  # unknown device: no error


async def test_delete_telemetry_without_rewrite_drops_latest(store: Store, device: Device) -> None:
    await store.save_telemetry(device.id, [(1, [kv("t", 1)]), (2, [kv("t", 2)])])
    await store.delete_telemetry(device.id, ["t"], 2, None, rewrite_latest=False)
    assert values(await history(store, device, "t")) == [(1, 1)]
    assert await store.get_latest_telemetry(device.id) == []


# -- aggregation -------------------------------------------------------------------------------


async def _aggregation_data(store: Store, device: Device) -> None:
    """Buckets of 100 ms from 1000: [1000,1100) LONG only, [1100,1200) LONG and DOUBLE,
    [1200,1300) empty, [1300,1400) strings and booleans only, [1400,1450) the last, clamped."""
    await store.save_telemetry(device.id, [
        (1000, [kv("v", 4)]), (1010, [kv("v", 10)]), (1099, [kv("v", -2)]),
        (1100, [kv("v", 1)]), (1150, [kv("v", 2.5)]), (1160, [kv("v", "text")]),
        (1310, [kv("v", "a")]), (1320, [kv("v", True)]),
        (1400, [kv("v", 7)]), (1449, [kv("v", 8)]),
        (1450, [kv("v", 1000)]),  # at end_ts: outside
        (999, [kv("v", 1000)]),  # before start_ts: outside
    ])


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        (Aggregation.MIN, [(1050, DataType.LONG, -2), (1150, DataType.DOUBLE, 1.0),
                           (1425, DataType.LONG, 7)]),
        (Aggregation.MAX, [(1050, DataType.LONG, 10), (1150, DataType.DOUBLE, 2.5),
                           (1425, DataType.LONG, 8)]),
        (Aggregation.SUM, [(1050, DataType.LONG, 12), (1150, DataType.DOUBLE, 3.5),
                           (1425, DataType.LONG, 15)]),
        (Aggregation.AVG, [(1050, DataType.DOUBLE, 4.0), (1150, DataType.DOUBLE, 1.75),
                           (1425, DataType.DOUBLE, 7.5)]),
        (Aggregation.COUNT, [(1050, DataType.LONG, 3), (1150, DataType.LONG, 3),
                             (1350, DataType.LONG, 2), (1425, DataType.LONG, 2)]),
    ],
)
async def test_aggregation(
    store: Store, device: Device, aggregation: Aggregation,
    expected: list[tuple[int, DataType, int | float]],
) -> None:
    await _aggregation_data(store, device)
    got = await store.aggregate_telemetry(device.id, "v", 1000, 1450, 100, aggregation)
    assert [(e.ts, e.type, e.value) for e in got] == expected
    for entry, (_, _, value) in zip(got, expected, strict=True):
        assert entry.key == "v"
        assert_exact(entry.value, value)


async def test_aggregation_of_nothing(store: Store, device: Device) -> None:
    await _aggregation_data(store, device)
    assert await store.aggregate_telemetry(device.id, "v", 0, 900, 100, Aggregation.AVG) == []
    assert await store.aggregate_telemetry(device.id, "x", 0, 9000, 100, Aggregation.COUNT) == []


async def test_aggregation_interval_wider_than_the_range(store: Store, device: Device) -> None:
    await _aggregation_data(store, device)
    (only,) = await store.aggregate_telemetry(device.id, "v", 1000, 1100, 10_000, Aggregation.MAX)
    assert (only.ts, only.value) == (1050, 10)  # midpoint of [1000, 1100), not of the interval


# -- attributes --------------------------------------------------------------------------------


async def test_attributes_per_scope(store: Store, device: Device) -> None:
    await store.save_attributes(device.id, CLIENT, [kv("fw", "1.0"), kv("battery", 97)], 100)
    await store.save_attributes(device.id, SHARED, [kv("fw", "2.0")], 200)
    assert await store.get_attributes(device.id, CLIENT) == [
        AttributeKvEntry("battery", DataType.LONG, 97, 100),
        AttributeKvEntry("fw", DataType.STRING, "1.0", 100),
    ]
    assert await store.get_attributes(device.id, SHARED) == [
        AttributeKvEntry("fw", DataType.STRING, "2.0", 200)
    ]
    assert await store.get_attributes(device.id, SERVER) == []
    picked = await store.get_attributes(device.id, CLIENT, ["fw", "missing", "battery"])
    assert [a.key for a in picked] == ["fw", "battery"]  # in the order asked
    assert await store.get_attributes(device.id, CLIENT, []) == []
    assert await store.get_attributes(uuid.uuid4(), CLIENT) == []

    await store.save_attributes(device.id, CLIENT, [kv("battery", True)], 300)
    assert await store.get_attributes(device.id, CLIENT, ["battery"]) == [
        AttributeKvEntry("battery", DataType.BOOLEAN, True, 300)
    ]


async def test_delete_attributes_returns_the_keys_that_existed(
    store: Store, device: Device
) -> None:
    await store.save_attributes(device.id, SHARED, [kv("a", 1), kv("b", 2), kv("c", 3)], 1)
    await store.save_attributes(device.id, CLIENT, [kv("a", 1)], 1)
    deleted = await store.delete_attributes(device.id, SHARED, ["c", "missing", "a"])
    assert deleted == ["c", "a"]
    assert [a.key for a in await store.get_attributes(device.id, SHARED)] == ["b"]
    assert [a.key for a in await store.get_attributes(device.id, CLIENT)] == ["a"]
    assert await store.delete_attributes(uuid.uuid4(), SHARED, ["b"]) == []


async def test_attributes_of_an_unknown_device_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.save_attributes(uuid.uuid4(), SHARED, [kv("a", 1)], 1)


async def test_add_attribute_inserts_only_when_the_key_is_absent(
    store: Store, device: Device
) -> None:
    assert await store.add_attribute(device.id, SERVER, kv("provisionState", "a"), 10) is True
    assert await store.add_attribute(device.id, SERVER, kv("provisionState", "b"), 20) is False
    assert await store.add_attribute(device.id, CLIENT, kv("provisionState", "c"), 30) is True
    assert await store.get_attributes(device.id, SERVER) == [
        AttributeKvEntry("provisionState", DataType.STRING, "a", 10)]
    with pytest.raises(NotFound):
        await store.add_attribute(uuid.uuid4(), SERVER, kv("x", 1), 1)


async def test_of_concurrent_adds_exactly_one_wins(store: Store, device: Device) -> None:
    won = await asyncio.gather(*(
        store.add_attribute(device.id, SERVER, kv("claimed", i), i) for i in range(20)))
    assert won.count(True) == 1
    (stored,) = await store.get_attributes(device.id, SERVER, ["claimed"])
    assert stored.value == won.index(True)


# -- concurrency and group commit --------------------------------------------------------------


async def test_200_concurrent_telemetry_writes_all_land(
    store: Store, make_device: MakeDevice
) -> None:
    devices = [(await make_device(f"d{i}"))[0] for i in range(4)]
    await asyncio.gather(*(
        store.save_telemetry(devices[i % 4].id, [(i, [kv("n", i), kv(f"k{i % 7}", float(i))])])
        for i in range(200)
    ))
    for index, d in enumerate(devices):
        got = await store.get_telemetry(d.id, "n", 0, 1000, 1000, descending=False)
        assert [e.value for e in got] == list(range(index, 200, 4))
        (latest,) = await store.get_latest_telemetry(d.id, ["n"])
        assert latest.value == 196 + index


async def test_failing_writes_do_not_fail_or_lose_their_neighbours(
    store: Store, tenant: Tenant, profile: DeviceProfile, make_device: MakeDevice
) -> None:
    existing, _ = await make_device("existing", token="existing-token")
    good: list[Any] = []
    bad: list[Any] = []
    for i in range(100):
        good.append(store.save_telemetry(existing.id, [(i, [kv("n", i)])]))
        if i % 25 == 0:
            bad.append(make_device("existing", token=f"fresh-{i}"))  # name taken
            bad.append(make_device(f"new-{i}", token="existing-token"))  # token taken
            bad.append(store.save_telemetry(uuid.uuid4(), [(i, [kv("n", i)])]))  # no device
            good.append(store.save_attributes(existing.id, SHARED, [kv(f"a{i}", i)], i))
    results = await asyncio.gather(*good, *bad, return_exceptions=True)
    assert results[: len(good)] == [None] * len(good)
    assert [type(r) for r in results[len(good):]] == [Conflict, Conflict, NotFound] * 4
    assert len(await history(store, existing, "n")) == 100
    assert len(await store.get_attributes(existing.id, SHARED)) == 4
    page = await store.find_devices(tenant.id, PageLink(100))
    assert [d.name for d in page.data] == ["existing"]


async def test_reads_see_every_acknowledged_write(store: Store, device: Device) -> None:
    async def write_then_read(i: int) -> None:
        await store.save_telemetry(device.id, [(i, [kv(f"k{i}", i)])])
        assert values(await store.get_latest_telemetry(device.id, [f"k{i}"])) == [(i, i)]

    await asyncio.gather(*(write_then_read(i) for i in range(50)))


async def test_a_device_created_again_with_the_same_id_starts_empty(
    store: Store, tenant: Tenant, profile: DeviceProfile, make_device: MakeDevice
) -> None:
    device, credentials = await make_device("phoenix")
    await store.save_telemetry(device.id, [(1, [kv("t", 1)])])
    await store.save_telemetry(device.id, [(2, [kv("t", 2)])])
    await store.delete_device(device.id)
    await store.create_device(device, credentials)
    assert await store.get_latest_telemetry(device.id) == []
    await store.save_telemetry(device.id, [(3, [kv("t", 3)])])
    assert values(await history(store, device, "t")) == [(3, 3)]
    assert values(await store.get_latest_telemetry(device.id)) == [(3, 3)]


async def test_unused_credentials_type_round_trips(store: Store, device: Device) -> None:
    basic = DeviceCredentials(
        uuid.uuid4(), device.id, 5, DeviceCredentialsType.MQTT_BASIC, "client-id",
        '{"clientId":"c","userName":"u","password":"p"}',
    )
    await store.update_device_credentials(basic)
    assert await store.get_device_credentials(device.id) == basic
