"""The store contract's device infos (a device table's rows) and the inactivity check's query,
run against every backend."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.store.conftest import MakeDevice
from thingport.domain.model import (
    AttributeScope,
    Customer,
    DataType,
    Device,
    DeviceCredentials,
    DeviceCredentialsType,
    DeviceInfo,
    DeviceProfile,
    KvEntry,
    Page,
    PageLink,
    Tenant,
)
from thingport.errors import BadRequest
from thingport.store.base import Store

SERVER = AttributeScope.SERVER_SCOPE


def active(value: bool) -> KvEntry:
    return KvEntry("active", DataType.BOOLEAN, value)


def last_activity(ts: int) -> KvEntry:
    return KvEntry("lastActivityTime", DataType.LONG, ts)


def names(page: Page[DeviceInfo]) -> list[str]:
    return [info.device.name for info in page.data]


async def make_in_profile(store: Store, tenant: Tenant, profile: DeviceProfile, name: str,
                          **fields: Any) -> Device:
    device = Device(uuid.uuid4(), tenant.id, name, profile.name, profile.id,
                    fields.pop("created_time", 1), **fields)
    await store.create_device(device, DeviceCredentials(
        uuid.uuid4(), device.id, 1, DeviceCredentialsType.ACCESS_TOKEN, f"token-{name}"))
    return device


@pytest.fixture
async def table(store: Store, tenant: Tenant, profile: DeviceProfile,
                make_device: MakeDevice) -> dict[str, Device]:
    """Five devices: two of a customer, one of another profile, three in some state."""
    customer = Customer(uuid.uuid4(), tenant.id, "Ärzte GmbH", 1)
    await store.save_customer(customer)
    other_profile = DeviceProfile(uuid.uuid4(), tenant.id, "Thermostats", 1)
    await store.save_device_profile(other_profile)
    made = {
        "alpha": (await make_device("alpha", label="roof", created_time=30))[0],
        "beta": (await make_device("beta", created_time=10, customer_id=customer.id))[0],
        "gamma": (await make_device("gamma", label="Cellar", created_time=20,
                                    customer_id=customer.id))[0],
        "delta": await make_in_profile(store, tenant, other_profile, "delta", created_time=40),
        "epsilon": (await make_device("epsilon", created_time=50))[0],
    }
    await store.save_attributes(made["alpha"].id, SERVER, [active(True), last_activity(1000)], 5)
    await store.save_attributes(made["beta"].id, SERVER, [active(False), last_activity(900)], 5)
    await store.save_attributes(made["delta"].id, SERVER, [active(True)], 5)
    # Not the boolean true: not a state (written by hand, say).
    await store.save_attributes(made["epsilon"].id, SERVER,
                                [KvEntry("active", DataType.LONG, 1)], 5)
    # Same keys in another scope mean nothing.
    await store.save_attributes(made["gamma"].id, AttributeScope.CLIENT_SCOPE,
                                [active(True), last_activity(7)], 5)
    return made


async def test_device_infos_carry_profile_customer_and_state(
    store: Store, tenant: Tenant, table: dict[str, Device]
) -> None:
    page = await store.find_device_infos(tenant.id, PageLink(10))
    # createdTime ascending by default.
    assert names(page) == ["beta", "gamma", "alpha", "delta", "epsilon"]
    assert (page.total_elements, page.total_pages, page.has_next) == (5, 1, False)
    infos = {info.device.name: info for info in page.data}
    assert infos["alpha"] == DeviceInfo(table["alpha"], "default", None, True, 1000)
    assert infos["beta"] == DeviceInfo(table["beta"], "default", "Ärzte GmbH", False, 900)
    assert infos["gamma"] == DeviceInfo(table["gamma"], "default", "Ärzte GmbH", False, None)
    assert infos["delta"] == DeviceInfo(table["delta"], "Thermostats", None, True, None)
    assert infos["epsilon"].active is False


async def test_device_infos_filter_by_customer_profile_and_state(
    store: Store, tenant: Tenant, table: dict[str, Device]
) -> None:
    customer_id = table["beta"].customer_id
    page = await store.find_device_infos(tenant.id, PageLink(10), customer_id=customer_id)
    assert names(page) == ["beta", "gamma"]
    page = await store.find_device_infos(tenant.id, PageLink(10),
                                         device_profile_id=table["delta"].device_profile_id)
    assert names(page) == ["delta"]
    page = await store.find_device_infos(tenant.id, PageLink(10), active=True)
    assert names(page) == ["alpha", "delta"]
    # Inactive includes devices that never had a state.
    page = await store.find_device_infos(tenant.id, PageLink(10), active=False)
    assert names(page) == ["beta", "gamma", "epsilon"]
    page = await store.find_device_infos(tenant.id, PageLink(10), customer_id=customer_id,
                                         active=False)
    assert names(page) == ["beta", "gamma"]
    # Counted after filtering, so the pages add up.
    first = await store.find_device_infos(tenant.id, PageLink(2), active=False)
    assert names(first) == ["beta", "gamma"]
    assert (first.total_elements, first.total_pages, first.has_next) == (3, 2, True)
    second = await store.find_device_infos(tenant.id, PageLink(2, 1), active=False)
    assert names(second) == ["epsilon"] and second.has_next is False


async def test_device_infos_search_name_label_profile_and_customer(
    store: Store, tenant: Tenant, table: dict[str, Device]
) -> None:
    async def search(text: str) -> list[str]:
        return names(await store.find_device_infos(tenant.id, PageLink(10, text_search=text)))

    assert await search("ALP") == ["alpha"]  # name
    assert await search("cellar") == ["gamma"]  # label
    assert await search("thermo") == ["delta"]  # profile name
    assert await search("ärzte") == ["beta", "gamma"]  # customer title, non-ASCII folded
    assert await search("%") == []
    page = await store.find_device_infos(tenant.id, PageLink(1, text_search="a"))
    assert page.total_elements == 5 and page.total_pages == 5


async def test_device_infos_sort_by_every_column(
    store: Store, tenant: Tenant, table: dict[str, Device]
) -> None:
    async def order(prop: str, direction: str = "ASC") -> list[str]:
        return names(await store.find_device_infos(
            tenant.id, PageLink(10, sort_property=prop, sort_order=direction)))

    assert await order("createdTime", "DESC") == ["epsilon", "delta", "alpha", "gamma", "beta"]
    assert await order("name") == ["alpha", "beta", "delta", "epsilon", "gamma"]
    # Labels without case, missing ones last; ties by id, which is stable across pages.
    assert (await order("label"))[:2] == ["gamma", "alpha"]
    assert await order("deviceProfileName", "DESC") == ["delta", *sorted(
        ["alpha", "beta", "gamma", "epsilon"],
        key=lambda n: str(table[n].id), reverse=True)]
    assert (await order("customerTitle"))[:2] == sorted(
        ["beta", "gamma"], key=lambda n: str(table[n].id))
    with pytest.raises(BadRequest):
        await store.find_device_infos(tenant.id, PageLink(10, sort_property="active"))


async def test_device_infos_keep_to_the_tenant(
    store: Store, tenant: Tenant, table: dict[str, Device]
) -> None:
    other = Tenant(uuid.uuid4(), "Other", 1)
    await store.save_tenant(other)
    other_profile = DeviceProfile(uuid.uuid4(), other.id, "default", 1, default=True)
    await store.save_device_profile(other_profile)
    await make_in_profile(store, other, other_profile, "foreign")
    page = await store.find_device_infos(tenant.id, PageLink(10, text_search="foreign"))
    assert page.total_elements == 0
    page = await store.find_device_infos(other.id, PageLink(10))
    assert names(page) == ["foreign"]


async def test_stale_active_devices(
    store: Store, tenant: Tenant, table: dict[str, Device], make_device: MakeDevice
) -> None:
    # alpha: active, last activity 1000; delta: active, never recorded; beta: inactive.
    found = await store.find_stale_active_devices(1001, None, 10)
    expected = sorted([(table["alpha"].id, 1000), (table["delta"].id, None)],
                      key=lambda row: str(row[0]))
    assert found == expected
    # Activity at the bound is not older than it.
    assert await store.find_stale_active_devices(1000, None, 10) == [(table["delta"].id, None)]
    # Paged in id order.
    first = await store.find_stale_active_devices(1001, None, 1)
    assert first == expected[:1]
    assert await store.find_stale_active_devices(1001, first[0][0], 1) == expected[1:]
    assert await store.find_stale_active_devices(1001, expected[1][0], 1) == []
    # Deleted devices are gone from it with their attributes.
    await store.delete_device(table["delta"].id)
    assert await store.find_stale_active_devices(1001, None, 10) == [(table["alpha"].id, 1000)]
