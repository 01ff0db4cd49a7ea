"""Everything a store holds, enumerated and counted per kind through the Store contract.

``thingport migrate`` walks a store with these functions to copy it, and counts both stores
with ``count`` afterwards to verify the copy. No SQL: any two ``Store`` implementations can be
compared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar
from uuid import UUID

from thingport.domain.model import (
    Aggregation,
    AttributeScope,
    Device,
    Page,
    PageLink,
    Tenant,
    User,
)
from thingport.store.base import Store

T = TypeVar("T")

#: Rows asked for per page while walking a listing.
PAGE_SIZE = 500
#: Every time series point lies in [TS_MIN, TS_MAX): the widest range whose length (and the
#: midpoint a store computes for one aggregation bucket over it) still fits a signed 64-bit ms.
TS_MIN = -(2**61)
TS_MAX = 2**61

#: The kinds counted, in the order they are reported.
KINDS = (
    "tenants", "customers", "users", "user credentials", "device profiles", "OTA packages",
    "OTA bytes", "devices", "device credentials", "attributes", "latest values",
    "time-series points", "RPCs", "claim windows",
)


async def pages(
    fetch: Callable[[PageLink], Awaitable[Page[T]]], sort_property: str = "createdTime",
) -> AsyncIterator[T]:
    """Every item of a paged listing, ascending by ``sort_property`` (ties broken by the id
    in every store: an order that stays put while nothing writes)."""
    page = 0
    while True:
        found = await fetch(PageLink(PAGE_SIZE, page, sort_property=sort_property,
                                     sort_order="ASC"))
        for item in found.data:
            yield item
        if not found.has_next:
            return
        page += 1


async def tenants(store: Store) -> list[Tenant]:
    """Every tenant (there are few)."""
    return [t async for t in pages(store.find_tenants)]


async def users(store: Store, tenant_ids: Iterable[UUID]) -> AsyncIterator[User]:
    """System administrators, then every user of each tenant (customer users included)."""
    for tenant_id in (None, *tenant_ids):
        async for user in pages(partial(store.find_users, tenant_id, None)):
            yield user


async def devices(store: Store, tenant: Tenant) -> AsyncIterator[Device]:
    """Every device of the tenant."""
    async for device in pages(partial(store.find_devices, tenant.id)):
        yield device


async def count_devices(store: Store, tenant_list: list[Tenant]) -> int:
    """How many devices the tenants have, from the listings' totals."""
    total = 0
    for tenant in tenant_list:
        total += (await store.find_devices(tenant.id, PageLink(1))).total_elements
    return total


async def count_points(store: Store, device_id: UUID, key: str) -> int:
    """How many points of ``key`` the device has: one COUNT bucket over all time."""
    buckets = await store.aggregate_telemetry(
        device_id, key, TS_MIN, TS_MAX, TS_MAX - TS_MIN, Aggregation.COUNT
    )
    return sum(int(b.value) for b in buckets)


@dataclass
class Counts:
    """How many of each kind a store holds."""

    of: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def add(self, kind: str, n: int = 1) -> None:
        """Count ``n`` more of ``kind``."""
        self.of[kind] += n


async def count(store: Store, on_device: Callable[[], None] | None = None) -> Counts:
    """Count everything in ``store``; ``on_device`` is called after each device (progress)."""
    counts = Counts()
    tenant_list = await tenants(store)
    counts.add("tenants", len(tenant_list))
    async for user in users(store, [t.id for t in tenant_list]):
        counts.add("users")
        if await store.get_user_credentials(user.id) is not None:
            counts.add("user credentials")
    for tenant in tenant_list:
        counts.add("customers",
                   (await store.find_customers(tenant.id, PageLink(1))).total_elements)
        counts.add("device profiles",
                   (await store.find_device_profiles(tenant.id, PageLink(1))).total_elements)
        async for package in pages(partial(store.find_ota_packages, tenant.id)):
            counts.add("OTA packages")
            if package.has_data:
                counts.add("OTA bytes", package.data_size or 0)
        async for device in devices(store, tenant):
            await _count_device(store, device, counts)
            if on_device is not None:
                on_device()
    return counts


async def _count_device(store: Store, device: Device, counts: Counts) -> None:
    counts.add("devices")
    if await store.get_device_credentials(device.id) is not None:
        counts.add("device credentials")
    for scope in AttributeScope:
        counts.add("attributes", len(await store.get_attributes(device.id, scope)))
    counts.add("latest values", len(await store.get_latest_telemetry(device.id)))
    for key in await store.get_telemetry_keys(device.id):
        counts.add("time-series points", await count_points(store, device.id, key))
    counts.add("RPCs", (await store.find_rpcs(device.id, PageLink(1))).total_elements)
    if await store.get_claim_window(device.id) is not None:
        counts.add("claim windows")


@dataclass(frozen=True)
class Verification:
    """Both stores' counts, side by side."""

    source: Counts
    target: Counts

    @property
    def mismatches(self) -> list[str]:
        """The kinds whose counts differ."""
        return [k for k in KINDS if self.source.of[k] != self.target.of[k]]

    def rows(self) -> list[tuple[str, int, int]]:
        """``(kind, in the source, in the target)`` for every kind."""
        return [(k, self.source.of[k], self.target.of[k]) for k in KINDS]
