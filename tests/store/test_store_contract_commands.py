"""The contract of ``thingport.store.base.Store`` for what waits for a device or a claimer:
shared-attribute changes, server-side and client-side RPCs, claim windows. Run against every
backend, like ``test_store_contract.py``.

Times are explicit ms values, never the clock. Something with an expiration time is still valid
at exactly that ms and expired from the next one on (ThingsBoard's ``expirationTime < now``).
What only the SQLite backend promises is in test_sqlite_commands.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import pytest

from tests.store.conftest import MakeDevice, StoreFactory
from thingport.domain.model import (
    AttributeChanges,
    AttributeKvEntry,
    AttributeScope,
    ClaimWindow,
    ClientRpc,
    Customer,
    DataType,
    Device,
    KvEntry,
    PageLink,
    Rpc,
    RpcStatus,
    Tenant,
)
from thingport.errors import BadRequest, Conflict, NotFound
from thingport.store.base import Store

CLIENT = AttributeScope.CLIENT_SCOPE
SERVER = AttributeScope.SERVER_SCOPE
SHARED = AttributeScope.SHARED_SCOPE
NOW = 1_700_000_000_000
LATER = NOW + 60_000


def kv(key: str, value: bool | int | float | str) -> KvEntry:
    """An entry typed from its Python value."""
    if isinstance(value, bool):
        return KvEntry(key, DataType.BOOLEAN, value)
    if isinstance(value, int):
        return KvEntry(key, DataType.LONG, value)
    if isinstance(value, float):
        return KvEntry(key, DataType.DOUBLE, value)
    return KvEntry(key, DataType.STRING, value)


def new_rpc(device: Device, method: str = "setGpio", **fields: Any) -> Rpc:
    """An unsaved RPC for the device, QUEUED, two-way, expiring at LATER unless told."""
    return Rpc(
        id=fields.pop("id", uuid.uuid4()), tenant_id=device.tenant_id, device_id=device.id,
        created_time=fields.pop("created_time", NOW),
        expiration_time=fields.pop("expiration_time", LATER), method=method,
        params=fields.pop("params", '{"pin":7}'), oneway=fields.pop("oneway", False),
        persistent=fields.pop("persistent", True), **fields,
    )


def new_client_rpc(device: Device, method: str = "getWeather", **fields: Any) -> ClientRpc:
    """An unsaved client-side request of the device, expiring at LATER unless told."""
    return ClientRpc(
        id=uuid.uuid4(), tenant_id=device.tenant_id, device_id=device.id,
        created_time=fields.pop("created_time", NOW),
        expiration_time=fields.pop("expiration_time", LATER), method=method,
        params=fields.pop("params", "{}"), **fields,
    )


async def new_customer(store: Store, tenant: Tenant, title: str = "Customer") -> Customer:
    customer = Customer(uuid.uuid4(), tenant.id, title, NOW)
    await store.save_customer(customer)
    return customer


def attr(key: str, value: bool | int | float | str, ts: int) -> AttributeKvEntry:
    entry = kv(key, value)
    return AttributeKvEntry(key, entry.type, value, ts)


# -- shared-attribute changes waiting for the device -------------------------------------------


async def test_tracked_changes_are_taken_with_current_values_then_gone(
    store: Store, device: Device
) -> None:
    assert not await store.take_attribute_changes(device.id)
    await store.save_attributes_tracked(
        device.id, SHARED, [kv("mode", "eco"), kv("target", 22), kv("on", True)], 1000
    )
    assert await store.get_attributes(device.id, SHARED, ["target"]) == [attr("target", 22, 1000)]

    changes = await store.take_attribute_changes(device.id)
    assert changes == AttributeChanges(
        [attr("mode", "eco", 1000), attr("on", True, 1000), attr("target", 22, 1000)], []
    )
    assert changes
    empty = await store.take_attribute_changes(device.id)
    assert empty == AttributeChanges([], []) and not empty
    # Taking the changes leaves the attributes themselves alone.
    assert len(await store.get_attributes(device.id, SHARED)) == 3


async def test_tracked_changes_merge_and_the_last_change_of_a_key_wins(
    store: Store, device: Device
) -> None:
    await store.save_attributes(device.id, SHARED, [kv("gone", 1), kv("back", 1)], 500)
    # update then delete -> deleted
    await store.save_attributes_tracked(device.id, SHARED, [kv("gone", 2)], 1000)
    assert await store.delete_attributes_tracked(device.id, SHARED, ["gone"]) == ["gone"]
    # delete then update -> updated, with the new value
    assert await store.delete_attributes_tracked(device.id, SHARED, ["back"]) == ["back"]
    await store.save_attributes_tracked(device.id, SHARED, [kv("back", 3.5)], 2000)
    # two updates -> the latest value (and type)
    await store.save_attributes_tracked(device.id, SHARED, [kv("twice", 1)], 3000)
    await store.save_attributes_tracked(device.id, SHARED, [kv("twice", "two")], 4000)

    changes = await store.take_attribute_changes(device.id)
    assert changes.updated == [attr("back", 3.5, 2000), attr("twice", "two", 4000)]
    assert changes.deleted == ["gone"]


async def test_deleted_keys_are_listed_in_key_order_and_only_if_they_existed(
    store: Store, device: Device
) -> None:
    await store.save_attributes(device.id, SHARED, [kv("z", 1), kv("a", 1), kv("m", 1)], 1)
    deleted = await store.delete_attributes_tracked(device.id, SHARED, ["z", "nope", "a", "m"])
    assert deleted == ["z", "a", "m"]
    assert await store.take_attribute_changes(device.id) == AttributeChanges([], ["a", "m", "z"])
    assert await store.delete_attributes_tracked(device.id, SHARED, ["z", "never-seen"]) == []
    assert not await store.take_attribute_changes(device.id)


async def test_untracked_writes_and_other_scopes_record_no_change(
    store: Store, device: Device
) -> None:
    await store.save_attributes(device.id, SHARED, [kv("quiet", 1)], 1)
    await store.save_attributes_tracked(device.id, CLIENT, [kv("fw", "1.0")], 1)
    await store.save_attributes_tracked(device.id, SERVER, [kv("active", True)], 1)
    assert not await store.take_attribute_changes(device.id)
    assert await store.get_attributes(device.id, CLIENT) == [attr("fw", "1.0", 1)]
    assert await store.get_attributes(device.id, SERVER) == [attr("active", True, 1)]

    await store.delete_attributes(device.id, SHARED, ["quiet"])
    assert await store.delete_attributes_tracked(device.id, CLIENT, ["fw"]) == ["fw"]
    assert not await store.take_attribute_changes(device.id)


async def test_an_update_whose_attribute_went_without_tracking_is_taken_as_deleted(
    store: Store, device: Device
) -> None:
    await store.save_attributes_tracked(device.id, SHARED, [kv("k", 1)], 1)
    await store.delete_attributes(device.id, SHARED, ["k"])
    assert await store.take_attribute_changes(device.id) == AttributeChanges([], ["k"])


async def test_changes_are_per_device(store: Store, make_device: MakeDevice) -> None:
    one, _ = await make_device("one")
    two, _ = await make_device("two")
    await store.save_attributes_tracked(one.id, SHARED, [kv("k", 1)], 1)
    assert not await store.take_attribute_changes(two.id)
    assert (await store.take_attribute_changes(one.id)).updated == [attr("k", 1, 1)]


async def test_concurrent_takers_never_both_get_a_change(store: Store, device: Device) -> None:
    keys = [f"k{i:02}" for i in range(30)]
    for key in keys:
        await store.save_attributes_tracked(device.id, SHARED, [kv(key, 1)], 1)
    taken = await asyncio.gather(*(store.take_attribute_changes(device.id) for _ in range(10)))
    got = [e.key for changes in taken for e in changes.updated]
    assert sorted(got) == keys  # every key once: none lost, none twice
    assert not await store.take_attribute_changes(device.id)


async def test_tracked_changes_of_an_unknown_device(store: Store) -> None:
    ghost = uuid.uuid4()
    with pytest.raises(NotFound):
        await store.save_attributes_tracked(ghost, SHARED, [kv("k", 1)], 1)
    assert await store.delete_attributes_tracked(ghost, SHARED, ["k"]) == []
    assert not await store.take_attribute_changes(ghost)


async def test_pending_changes_survive_a_restart(
    store_factory: StoreFactory, store: Store, device: Device
) -> None:
    await store.save_attributes_tracked(device.id, SHARED, [kv("k", "v")], 7)
    await store.close()
    reopened = store_factory()
    await reopened.open()
    try:
        assert await reopened.take_attribute_changes(device.id) == AttributeChanges(
            [attr("k", "v", 7)], []
        )
    finally:
        await reopened.close()


# -- server-side RPC: ids ------------------------------------------------------------------------


async def test_request_ids_are_1_2_3_per_device(store: Store, make_device: MakeDevice) -> None:
    one, _ = await make_device("one")
    two, _ = await make_device("two")
    ids_one = [(await store.create_rpc(new_rpc(one))).request_id for _ in range(3)]
    ids_two = [(await store.create_rpc(new_rpc(two))).request_id for _ in range(2)]
    assert ids_one == [1, 2, 3]
    assert ids_two == [1, 2]


async def test_create_rpc_returns_what_get_rpc_reads(store: Store, device: Device) -> None:
    rpc = new_rpc(
        device, "reboot", params='[1,"two",{"x":null}]', oneway=True, persistent=False,
        additional_info={"note": "ünïcode", "n": [1, 2]}, retries=3, request_id=99,
    )
    created = await store.create_rpc(rpc)
    assert created == dataclasses.replace(rpc, request_id=1)  # the given request id is ignored
    assert await store.get_rpc(rpc.id) == created
    assert await store.get_rpc(uuid.uuid4()) is None


async def test_create_rpc_of_an_unknown_device_raises_not_found(
    store: Store, tenant: Tenant
) -> None:
    ghost = Device(uuid.uuid4(), tenant.id, "ghost", "default", uuid.uuid4(), NOW)
    with pytest.raises(NotFound):
        await store.create_rpc(new_rpc(ghost))


async def test_duplicate_rpc_id_conflicts_and_uses_up_no_request_id(
    store: Store, device: Device
) -> None:
    first = await store.create_rpc(new_rpc(device))
    with pytest.raises(Conflict):
        await store.create_rpc(new_rpc(device, id=first.id))
    assert (await store.create_rpc(new_rpc(device))).request_id == 2


async def test_request_ids_are_not_reused_after_delete_or_restart(
    store_factory: StoreFactory, store: Store, device: Device
) -> None:
    first = await store.create_rpc(new_rpc(device))
    second = await store.create_rpc(new_rpc(device))
    await store.delete_rpc(second.id)
    assert await store.get_rpc(second.id) is None
    assert (await store.create_rpc(new_rpc(device))).request_id == 3
    await store.delete_rpc(first.id)
    await store.delete_rpc(uuid.uuid4())  # unknown: no error
    await store.close()

    reopened = store_factory()
    await reopened.open()
    try:
        assert (await reopened.create_rpc(new_rpc(device))).request_id == 4
    finally:
        await reopened.close()


# -- server-side RPC: delivery -------------------------------------------------------------------


async def test_take_next_rpc_in_request_id_order_skipping_expired(
    store: Store, make_device: MakeDevice
) -> None:
    device, _ = await make_device("one")
    other, _ = await make_device("other")
    stale = await store.create_rpc(new_rpc(device, "stale", expiration_time=NOW - 1))
    edge = await store.create_rpc(new_rpc(device, "edge", expiration_time=NOW))
    second = await store.create_rpc(new_rpc(device, "second"))
    await store.create_rpc(new_rpc(other, "not-yours"))

    taken = await store.take_next_rpc(device.id, NOW)
    assert taken == dataclasses.replace(edge, status=RpcStatus.DELIVERED)
    assert await store.get_rpc(edge.id) == taken
    taken = await store.take_next_rpc(device.id, NOW)
    assert taken is not None and (taken.id, taken.request_id) == (second.id, 3)
    assert await store.take_next_rpc(device.id, NOW) is None
    # Skipping leaves the expired one to expire_rpcs.
    assert (await store.get_rpc(stale.id)).status is RpcStatus.QUEUED  # type: ignore[union-attr]
    assert await store.take_next_rpc(uuid.uuid4(), NOW) is None


async def test_take_next_rpc_takes_only_queued(store: Store, device: Device) -> None:
    sent = await store.create_rpc(new_rpc(device))
    assert await store.set_rpc_status(sent.id, RpcStatus.SENT, frozenset({RpcStatus.QUEUED}))
    queued = await store.create_rpc(new_rpc(device))
    taken = await store.take_next_rpc(device.id, NOW)
    assert taken is not None and taken.id == queued.id
    assert await store.take_next_rpc(device.id, NOW) is None


async def test_concurrent_takers_get_each_rpc_once(store: Store, device: Device) -> None:
    created = [await store.create_rpc(new_rpc(device)) for _ in range(5)]
    results = await asyncio.gather(*(store.take_next_rpc(device.id, NOW) for _ in range(20)))
    taken = [r for r in results if r is not None]
    assert len(taken) == 5
    assert sorted(r.request_id for r in taken) == [1, 2, 3, 4, 5]
    assert {r.id for r in taken} == {r.id for r in created}
    assert all(r.status is RpcStatus.DELIVERED for r in taken)


async def test_complete_rpc_records_the_reply_once(store: Store, device: Device) -> None:
    rpc = await store.create_rpc(new_rpc(device))
    await store.take_next_rpc(device.id, NOW)
    done = await store.complete_rpc(device.id, rpc.request_id, '{"result":"ok"}', NOW + 1)
    assert done == dataclasses.replace(
        rpc, status=RpcStatus.SUCCESSFUL, response='{"result":"ok"}'
    )
    assert await store.get_rpc(rpc.id) == done
    # Already final: a second reply is stale and changes nothing.
    assert await store.complete_rpc(device.id, rpc.request_id, '"again"', NOW + 2) is None
    assert await store.get_rpc(rpc.id) == done


async def test_complete_rpc_from_sent_or_queued(store: Store, device: Device) -> None:
    sent = await store.create_rpc(new_rpc(device))
    await store.set_rpc_status(sent.id, RpcStatus.SENT, frozenset({RpcStatus.QUEUED}))
    queued = await store.create_rpc(new_rpc(device))
    for rpc in (sent, queued):
        done = await store.complete_rpc(device.id, rpc.request_id, '"ok"', NOW)
        assert done is not None and done.status is RpcStatus.SUCCESSFUL


async def test_stale_replies_get_none(store: Store, make_device: MakeDevice) -> None:
    device, _ = await make_device("one")
    other, _ = await make_device("other")
    expiring = await store.create_rpc(new_rpc(device, expiration_time=NOW))
    await store.take_next_rpc(device.id, NOW)
    assert await store.complete_rpc(device.id, 42, '"ok"', NOW) is None  # unknown id
    assert await store.complete_rpc(other.id, expiring.request_id, '"ok"', NOW) is None
    assert await store.complete_rpc(uuid.uuid4(), 1, '"ok"', NOW) is None
    assert await store.complete_rpc(device.id, expiring.request_id, '"ok"', NOW + 1) is None
    assert (await store.get_rpc(expiring.id)).status is RpcStatus.DELIVERED  # type: ignore[union-attr]
    # Still valid at exactly its expiration time.
    done = await store.complete_rpc(device.id, expiring.request_id, '"ok"', NOW)
    assert done is not None and done.status is RpcStatus.SUCCESSFUL

    failed = await store.create_rpc(new_rpc(device))
    await store.set_rpc_status(failed.id, RpcStatus.FAILED, frozenset({RpcStatus.QUEUED}))
    assert await store.complete_rpc(device.id, failed.request_id, '"ok"', NOW) is None


async def test_set_rpc_status_is_compare_and_set(store: Store, device: Device) -> None:
    rpc = await store.create_rpc(new_rpc(device))
    assert await store.set_rpc_status(
        rpc.id, RpcStatus.DELIVERED, frozenset({RpcStatus.SENT})
    ) is None
    assert await store.get_rpc(rpc.id) == rpc

    sent = await store.set_rpc_status(rpc.id, RpcStatus.SENT, frozenset({RpcStatus.QUEUED}))
    assert sent == dataclasses.replace(rpc, status=RpcStatus.SENT)
    delivered = await store.set_rpc_status(
        rpc.id, RpcStatus.DELIVERED, frozenset({RpcStatus.QUEUED, RpcStatus.SENT})
    )
    assert delivered == dataclasses.replace(sent, status=RpcStatus.DELIVERED)
    assert await store.get_rpc(rpc.id) == delivered
    assert await store.set_rpc_status(rpc.id, RpcStatus.FAILED, frozenset()) is None
    assert await store.set_rpc_status(
        uuid.uuid4(), RpcStatus.FAILED, frozenset({RpcStatus.QUEUED})
    ) is None
    # Back to QUEUED, say when the poll that took it could not write it out.
    requeued = await store.set_rpc_status(
        rpc.id, RpcStatus.QUEUED, frozenset({RpcStatus.DELIVERED})
    )
    assert requeued == rpc
    assert await store.take_next_rpc(device.id, NOW) == dataclasses.replace(
        requeued, status=RpcStatus.DELIVERED
    )


async def test_expire_rpcs(store: Store, make_device: MakeDevice) -> None:
    device, _ = await make_device("one")
    other, _ = await make_device("other")
    past = NOW - 1

    async def make(
        status: RpcStatus, *, oneway: bool = False, expiration_time: int = past,
        on: Device = device,
    ) -> Rpc:
        rpc = await store.create_rpc(new_rpc(on, oneway=oneway, expiration_time=expiration_time))
        if status is not RpcStatus.QUEUED:
            changed = await store.set_rpc_status(rpc.id, status, frozenset({RpcStatus.QUEUED}))
            assert changed is not None
            rpc = changed
        return rpc

    queued = await make(RpcStatus.QUEUED)
    queued_oneway = await make(RpcStatus.QUEUED, oneway=True, on=other)
    sent = await make(RpcStatus.SENT)
    delivered = await make(RpcStatus.DELIVERED)
    delivered_oneway = await make(RpcStatus.DELIVERED, oneway=True)
    at_the_edge = await make(RpcStatus.QUEUED, expiration_time=NOW)
    unexpired = await make(RpcStatus.DELIVERED, expiration_time=LATER)
    successful = await make(RpcStatus.SUCCESSFUL)
    failed = await make(RpcStatus.FAILED)

    changed = await store.expire_rpcs(NOW)
    expected = {
        queued.id: RpcStatus.EXPIRED, queued_oneway.id: RpcStatus.EXPIRED,
        sent.id: RpcStatus.TIMEOUT, delivered.id: RpcStatus.TIMEOUT,
    }
    assert {r.id: r.status for r in changed} == expected
    for rpc in changed:
        assert rpc == await store.get_rpc(rpc.id)
    for untouched in (delivered_oneway, at_the_edge, unexpired, successful, failed):
        assert await store.get_rpc(untouched.id) == untouched
    assert await store.expire_rpcs(NOW) == []
    assert {r.id for r in await store.expire_rpcs(NOW + 1)} == {at_the_edge.id}


async def test_find_rpcs_pages_sorts_and_filters(store: Store, make_device: MakeDevice) -> None:
    device, _ = await make_device("one")
    other, _ = await make_device("other")
    methods = ["setGpio", "reboot", "getGpio", "SETVALUE", "ping"]
    created = [
        await store.create_rpc(
            new_rpc(device, m, created_time=NOW + i, expiration_time=LATER - i)
        )
        for i, m in enumerate(methods)
    ]
    await store.create_rpc(new_rpc(other, "setGpio"))
    await store.take_next_rpc(device.id, NOW)  # request id 1: setGpio

    def names(page: Any) -> list[str]:
        return [r.method for r in page.data]

    page = await store.find_rpcs(device.id, PageLink(2))
    assert names(page) == ["ping", "SETVALUE"]  # newest first by default
    assert (page.total_elements, page.total_pages, page.has_next) == (5, 3, True)
    page = await store.find_rpcs(device.id, PageLink(2, 2))
    assert names(page) == ["setGpio"] and not page.has_next
    assert page.data[0] == dataclasses.replace(created[0], status=RpcStatus.DELIVERED)

    page = await store.find_rpcs(device.id, PageLink(10, sort_property="createdTime"))
    assert names(page) == methods
    page = await store.find_rpcs(
        device.id, PageLink(10, sort_property="requestId", sort_order="DESC")
    )
    assert [r.request_id for r in page.data] == [5, 4, 3, 2, 1]
    page = await store.find_rpcs(device.id, PageLink(10, sort_property="expirationTime"))
    assert names(page) == list(reversed(methods))
    page = await store.find_rpcs(device.id, PageLink(10, sort_property="method"))
    assert names(page) == ["getGpio", "ping", "reboot", "setGpio", "SETVALUE"]
    # DELIVERED before QUEUED; equal statuses in request id order.
    page = await store.find_rpcs(device.id, PageLink(10, sort_property="status"))
    assert names(page) == methods
    page = await store.find_rpcs(
        device.id, PageLink(10, sort_property="status", sort_order="DESC")
    )
    assert names(page) == list(reversed(methods))

    page = await store.find_rpcs(device.id, PageLink(10, text_search="set"))
    assert names(page) == ["SETVALUE", "setGpio"]
    page = await store.find_rpcs(device.id, PageLink(10), RpcStatus.QUEUED)
    assert names(page) == ["ping", "SETVALUE", "getGpio", "reboot"]
    page = await store.find_rpcs(device.id, PageLink(10, text_search="GPIO"), RpcStatus.QUEUED)
    assert names(page) == ["getGpio"]
    page = await store.find_rpcs(device.id, PageLink(10), RpcStatus.SUCCESSFUL)
    assert (page.data, page.total_elements, page.total_pages) == ([], 0, 0)
    page = await store.find_rpcs(uuid.uuid4(), PageLink(10))
    assert page.data == []

    with pytest.raises(BadRequest):
        await store.find_rpcs(device.id, PageLink(10, sort_property="params"))
    with pytest.raises(BadRequest):
        await store.find_rpcs(device.id, PageLink(0))


async def test_find_rpcs_created_in_the_same_ms_page_by_request_id(
    store: Store, device: Device
) -> None:
    for _ in range(7):
        await store.create_rpc(new_rpc(device, created_time=NOW))
    pages = [await store.find_rpcs(device.id, PageLink(3, p)) for p in range(3)]
    assert [r.request_id for page in pages for r in page.data] == [7, 6, 5, 4, 3, 2, 1]


async def test_rpcs_survive_a_restart(
    store_factory: StoreFactory, store: Store, device: Device
) -> None:
    rpc = await store.create_rpc(new_rpc(device))
    await store.close()
    reopened = store_factory()
    await reopened.open()
    try:
        assert await reopened.take_next_rpc(device.id, NOW) == dataclasses.replace(
            rpc, status=RpcStatus.DELIVERED
        )
    finally:
        await reopened.close()


# -- client-side RPC -------------------------------------------------------------------------------


async def test_client_rpc_is_taken_oldest_first_then_answered(
    store: Store, make_device: MakeDevice
) -> None:
    device, _ = await make_device("one")
    other, _ = await make_device("other")
    newer = new_client_rpc(device, "newer", created_time=NOW + 5, params='{"a":1}')
    older = new_client_rpc(device, "older", created_time=NOW)
    same_ms = new_client_rpc(device, "same-ms", created_time=NOW)
    for request in (newer, older, same_ms):
        await store.create_client_rpc(request)
    await store.create_client_rpc(new_client_rpc(other))
    assert await store.get_client_rpc(newer.id) == newer
    assert await store.get_client_rpc(uuid.uuid4()) is None

    taken = [await store.take_client_rpc(device.id, NOW) for _ in range(4)]
    assert taken == [
        dataclasses.replace(older, claimed=True), dataclasses.replace(same_ms, claimed=True),
        dataclasses.replace(newer, claimed=True), None,
    ]
    assert (await store.get_client_rpc(older.id)).claimed  # type: ignore[union-attr]

    assert await store.answer_client_rpc(older.id, '{"temp":21}', NOW) is True
    assert await store.get_client_rpc(older.id) == dataclasses.replace(
        older, claimed=True, response='{"temp":21}'
    )
    assert await store.answer_client_rpc(older.id, '"again"', NOW) is False
    assert (await store.get_client_rpc(older.id)).response == '{"temp":21}'  # type: ignore[union-attr]
    assert await store.answer_client_rpc(uuid.uuid4(), '"x"', NOW) is False


async def test_client_rpc_expiry(store: Store, device: Device) -> None:
    gone = new_client_rpc(device, "gone", expiration_time=NOW - 1)
    edge = new_client_rpc(device, "edge", expiration_time=NOW)
    later = new_client_rpc(device, "later")
    for request in (gone, edge, later):
        await store.create_client_rpc(request)

    taken = await store.take_client_rpc(device.id, NOW)
    assert taken is not None and taken.id == edge.id  # the expired one is skipped
    assert await store.answer_client_rpc(gone.id, '"late"', NOW) is False
    assert await store.answer_client_rpc(edge.id, '"just in time"', NOW) is True
    assert await store.answer_client_rpc(later.id, '"late"', LATER + 1) is False

    assert await store.delete_client_rpcs_before(NOW) == 1
    assert await store.get_client_rpc(gone.id) is None
    assert await store.get_client_rpc(edge.id) is not None
    assert await store.delete_client_rpcs_before(LATER + 1) == 2
    assert await store.take_client_rpc(device.id, NOW) is None


async def test_concurrent_client_rpc_takers_get_each_request_once(
    store: Store, device: Device
) -> None:
    for i in range(5):
        await store.create_client_rpc(new_client_rpc(device, f"m{i}", created_time=NOW + i))
    results = await asyncio.gather(*(store.take_client_rpc(device.id, NOW) for _ in range(20)))
    taken = sorted(r.method for r in results if r is not None)
    assert taken == ["m0", "m1", "m2", "m3", "m4"]


async def test_client_rpc_of_an_unknown_device_raises_not_found(
    store: Store, tenant: Tenant
) -> None:
    ghost = Device(uuid.uuid4(), tenant.id, "ghost", "default", uuid.uuid4(), NOW)
    with pytest.raises(NotFound):
        await store.create_client_rpc(new_client_rpc(ghost))
    assert await store.take_client_rpc(ghost.id, NOW) is None


# -- claiming ------------------------------------------------------------------------------------


async def test_claim_window_is_put_if_absent_while_open(store: Store, device: Device) -> None:
    first = ClaimWindow(device.id, "first", NOW + 1000)
    assert await store.get_claim_window(device.id) is None
    assert await store.open_claim_window(first, NOW) is True
    assert await store.get_claim_window(device.id) == first

    second = ClaimWindow(device.id, "second", NOW + 5000)
    assert await store.open_claim_window(second, NOW + 1000) is False  # open until then
    assert await store.get_claim_window(device.id) == first
    assert await store.open_claim_window(second, NOW + 1001) is True  # expired: replaced
    assert await store.get_claim_window(device.id) == second

    await store.close_claim_window(device.id)
    assert await store.get_claim_window(device.id) is None
    await store.close_claim_window(device.id)  # none: no error
    assert await store.open_claim_window(first, NOW + 2000) is True
    # An expired window is still returned, as it is.
    assert await store.get_claim_window(device.id) == first


async def test_claim_window_of_an_unknown_device_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.open_claim_window(ClaimWindow(uuid.uuid4(), "s", LATER), NOW)


async def test_claim_device_success_assigns_and_closes_the_window(
    store: Store, tenant: Tenant, device: Device
) -> None:
    customer = await new_customer(store, tenant)
    await store.open_claim_window(ClaimWindow(device.id, "secret", LATER), NOW)
    assert await store.claim_device(device.id, customer.id, "secret", NOW) == "SUCCESS"
    assert await store.get_device(device.id) == dataclasses.replace(
        device, customer_id=customer.id
    )
    assert await store.get_claim_window(device.id) is None
    # Claimed now, whoever asks and with whatever key.
    other = await new_customer(store, tenant, "Other")
    assert await store.claim_device(device.id, other.id, "secret", NOW) == "CLAIMED"
    assert await store.claim_device(device.id, other.id, "wrong", NOW) == "CLAIMED"
    assert (await store.get_device(device.id)).customer_id == customer.id  # type: ignore[union-attr]


async def test_claim_device_failures_change_nothing(
    store: Store, tenant: Tenant, device: Device
) -> None:
    customer = await new_customer(store, tenant)
    assert await store.claim_device(device.id, customer.id, "", NOW) == "FAILURE"  # no window
    window = ClaimWindow(device.id, "secret", NOW)
    await store.open_claim_window(window, NOW)
    assert await store.claim_device(device.id, customer.id, "wrong", NOW) == "FAILURE"
    assert await store.claim_device(device.id, customer.id, "secret", NOW + 1) == "FAILURE"
    assert await store.claim_device(uuid.uuid4(), customer.id, "secret", NOW) == "FAILURE"
    assert await store.get_device(device.id) == device
    assert await store.get_claim_window(device.id) == window  # a failure closes nothing
    # At exactly its expiration time the window is still open.
    assert await store.claim_device(device.id, customer.id, "secret", NOW) == "SUCCESS"


async def test_empty_secrets_match(store: Store, tenant: Tenant, device: Device) -> None:
    customer = await new_customer(store, tenant)
    await store.open_claim_window(ClaimWindow(device.id, "", LATER), NOW)
    assert await store.claim_device(device.id, customer.id, "", NOW) == "SUCCESS"


async def test_a_device_with_a_customer_is_claimed(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    owner = await new_customer(store, tenant)
    device, _ = await make_device("owned", customer_id=owner.id)
    await store.open_claim_window(ClaimWindow(device.id, "secret", LATER), NOW)
    claimer = await new_customer(store, tenant, "Claimer")
    assert await store.claim_device(device.id, claimer.id, "secret", NOW) == "CLAIMED"
    assert await store.get_device(device.id) == device


async def test_claim_for_an_unknown_customer_raises_not_found_and_keeps_the_window(
    store: Store, device: Device
) -> None:
    window = ClaimWindow(device.id, "secret", LATER)
    await store.open_claim_window(window, NOW)
    with pytest.raises(NotFound):
        await store.claim_device(device.id, uuid.uuid4(), "secret", NOW)
    assert await store.get_claim_window(device.id) == window
    assert await store.get_device(device.id) == device


async def test_concurrent_claims_have_one_winner(
    store: Store, tenant: Tenant, device: Device
) -> None:
    customers = [await new_customer(store, tenant, f"C{i}") for i in range(2)]
    await store.open_claim_window(ClaimWindow(device.id, "secret", LATER), NOW)
    results = await asyncio.gather(
        *(store.claim_device(device.id, c.id, "secret", NOW) for c in customers)
    )
    assert sorted(results) in (["CLAIMED", "SUCCESS"], ["FAILURE", "SUCCESS"])
    winner = customers[results.index("SUCCESS")]
    assert (await store.get_device(device.id)).customer_id == winner.id  # type: ignore[union-attr]


# -- deleting the device -----------------------------------------------------------------------


async def test_delete_device_deletes_its_commands_claims_and_changes(
    store: Store, tenant: Tenant, make_device: MakeDevice
) -> None:
    doomed, doomed_credentials = await make_device("doomed")
    kept, _ = await make_device("kept")
    rpcs: dict[uuid.UUID, Rpc] = {}
    requests: dict[uuid.UUID, ClientRpc] = {}
    for d in (doomed, kept):
        rpcs[d.id] = await store.create_rpc(new_rpc(d))
        requests[d.id] = new_client_rpc(d)
        await store.create_client_rpc(requests[d.id])
        await store.open_claim_window(ClaimWindow(d.id, "s", LATER), NOW)
        await store.save_attributes_tracked(d.id, SHARED, [kv("k", 1)], 1)

    await store.delete_device(doomed.id)
    assert await store.get_rpc(rpcs[doomed.id].id) is None
    assert (await store.find_rpcs(doomed.id, PageLink(10))).total_elements == 0
    assert await store.get_client_rpc(requests[doomed.id].id) is None
    assert await store.get_claim_window(doomed.id) is None
    assert not await store.take_attribute_changes(doomed.id)

    assert await store.get_rpc(rpcs[kept.id].id) == rpcs[kept.id]
    assert await store.get_client_rpc(requests[kept.id].id) == requests[kept.id]
    assert await store.get_claim_window(kept.id) is not None
    assert (await store.take_attribute_changes(kept.id)).updated == [attr("k", 1, 1)]

    # The same device created again starts with nothing waiting for it.
    await store.create_device(doomed, doomed_credentials)
    assert await store.take_next_rpc(doomed.id, NOW) is None
    assert await store.take_client_rpc(doomed.id, NOW) is None
    assert await store.get_claim_window(doomed.id) is None
    await store.save_attributes(doomed.id, SHARED, [kv("k", 2)], 2)
    assert not await store.take_attribute_changes(doomed.id)
    assert (await store.create_rpc(new_rpc(doomed))).request_id >= 1
