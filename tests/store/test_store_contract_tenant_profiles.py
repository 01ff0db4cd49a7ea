"""The tenant profiles part of the store contract, on every backend."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from tests.store.conftest import StoreFactory, now_ms
from thingport.domain.model import PageLink, Tenant, TenantProfile
from thingport.errors import Conflict
from thingport.store.base import Store

DATA = {"configuration": {"type": "DEFAULT", "transportDeviceMsgRateLimit": "10:1,300:60",
                          "maxDevices": 5, "somethingNew": {"nested": [1, 2]}},
        "queueConfiguration": None}


def _profile(name: str, *, default: bool = False, **fields: object) -> TenantProfile:
    return TenantProfile(id=uuid.uuid4(), name=name, created_time=now_ms(), default=default,
                         **fields)  # type: ignore[arg-type]


async def test_a_profile_is_stored_as_given(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.open()
    saved = _profile("Gold", description="Many devices", isolated_tb_rule_engine=True,
                     profile_data=DATA)
    try:
        await store.save_tenant_profile(saved)
        assert await store.get_tenant_profile(saved.id) == saved
    finally:
        await store.close()
    again = store_factory()
    await again.open()
    try:
        assert await again.get_tenant_profile(saved.id) == saved
        assert await again.get_tenant_profile(uuid.uuid4()) is None
    finally:
        await again.close()


async def test_an_update_changes_everything_but_the_creation_time(store: Store) -> None:
    saved = _profile("Gold", profile_data=DATA)
    await store.save_tenant_profile(saved)
    changed = dataclasses.replace(saved, name="Platinum", description="d",
                                  profile_data={"configuration": {"type": "DEFAULT"}})
    await store.save_tenant_profile(changed)
    assert await store.get_tenant_profile(saved.id) == changed


async def test_names_are_unique(store: Store) -> None:
    await store.save_tenant_profile(_profile("Gold"))
    with pytest.raises(Conflict, match="Tenant profile with such name already exists!"):
        await store.save_tenant_profile(_profile("Gold"))


async def test_marking_one_default_unmarks_the_previous(store: Store) -> None:
    assert await store.get_default_tenant_profile() is None
    first = _profile("First", default=True)
    second = _profile("Second", default=True)
    await store.save_tenant_profile(first)
    assert await store.get_default_tenant_profile() == first
    await store.save_tenant_profile(second)
    assert await store.get_default_tenant_profile() == second
    previous = await store.get_tenant_profile(first.id)
    assert previous is not None and not previous.default


async def test_pages_are_searched_and_sorted_by_name(store: Store) -> None:
    for name in ("bravo", "Alpha", "charlie", "alphabet"):
        await store.save_tenant_profile(_profile(name))
    page = await store.find_tenant_profiles(PageLink(3, 0))
    assert [p.name for p in page.data] == ["Alpha", "alphabet", "bravo"]
    assert page.total_elements == 4 and page.has_next
    found = await store.find_tenant_profiles(PageLink(10, 0, text_search="ALPHA",
                                                      sort_order="DESC"))
    assert [p.name for p in found.data] == ["alphabet", "Alpha"]


async def test_a_tenant_names_its_profile(store: Store) -> None:
    profile = _profile("Gold")
    await store.save_tenant_profile(profile)
    tenant = Tenant(uuid.uuid4(), "T", 1, tenant_profile_id=profile.id)
    plain = Tenant(uuid.uuid4(), "Plain", 2)
    await store.save_tenant(tenant)
    await store.save_tenant(plain)
    assert await store.get_tenant(tenant.id) == tenant
    assert (await store.get_tenant(plain.id)) == plain  # no default profile yet
    moved = dataclasses.replace(plain, tenant_profile_id=profile.id)
    await store.save_tenant(moved)
    assert await store.get_tenant(plain.id) == moved
    # Once there is a default, a tenant saved without a profile gets it.
    default = _profile("Default", default=True)
    await store.save_tenant_profile(default)
    later = Tenant(uuid.uuid4(), "Later", 3)
    await store.save_tenant(later)
    assert await store.get_tenant(later.id) == dataclasses.replace(
        later, tenant_profile_id=default.id)


async def test_a_profile_a_tenant_has_is_not_deleted(store: Store) -> None:
    used, unused = _profile("Used"), _profile("Unused")
    await store.save_tenant_profile(used)
    await store.save_tenant_profile(unused)
    await store.save_tenant(Tenant(uuid.uuid4(), "T", 1, tenant_profile_id=used.id))
    with pytest.raises(Conflict, match="referenced by the tenants cannot be deleted"):
        await store.delete_tenant_profile(used.id)
    assert await store.get_tenant_profile(used.id) == used
    await store.delete_tenant_profile(unused.id)
    assert await store.get_tenant_profile(unused.id) is None
    await store.delete_tenant_profile(uuid.uuid4())  # nothing there: no error
