"""The shared-attribute long poll: ``GET /api/v1/$TOKEN/attributes/updates``, in process.

A poll waits on its device's shared-changes channel (``shared_changes_channel``); the tests
watch that channel, so they see when the poll waits and whether a write woke it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.api.conftest import Local
from tests.waiting import until_async
from thingport.services.channels import shared_changes_channel


async def device(local: Local) -> tuple[str, str]:
    created, token = await local.create_device()
    return created["id"]["id"], token


def poll(local: Local, token: str, timeout_ms: int) -> asyncio.Task[httpx.Response]:
    return asyncio.ensure_future(
        local.client.get(f"/api/v1/{token}/attributes/updates", params={"timeout": timeout_ms}))


async def waiting(local: Local, device_id: str, poll: asyncio.Task[httpx.Response]) -> None:
    """Return once ``poll`` waits for changes (it subscribes before it first looks)."""
    channel = shared_changes_channel(uuid.UUID(device_id))
    await until_async(lambda: poll.done() or local.services.bus.local.has_subscribers(channel),
                      "the attribute-updates poll waits")
    assert not poll.done(), poll.result()


async def save_shared(local: Local, device_id: str, values: dict[str, Any]) -> None:
    response = await local.client.post(
        f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SHARED_SCOPE", json=values)
    response.raise_for_status()


async def test_an_open_poll_gets_the_change_typed_and_flat(local: Local) -> None:
    device_id, token = await device(local)
    open_poll = poll(local, token, 10000)
    await waiting(local, device_id, open_poll)
    await save_shared(local, device_id, {"targetTemp": 22, "mode": "eco", "cfg": {"a": [1]}})
    response = await asyncio.wait_for(open_poll, 10)
    assert response.status_code == 200
    assert response.json() == {"targetTemp": 22, "mode": "eco", "cfg": {"a": [1]}}


async def test_changes_made_while_not_polling_come_merged(local: Local) -> None:
    device_id, token = await device(local)
    await save_shared(local, device_id, {"a": 1, "b": 1, "c": 1})
    await save_shared(local, device_id, {"a": 2})
    deleted = await local.client.delete(
        f"/api/plugins/telemetry/DEVICE/{device_id}/SHARED_SCOPE", params={"keys": "b"})
    assert deleted.status_code == 200
    response = await poll(local, token, 2000)
    assert response.status_code == 200
    assert response.json() == {"a": 2, "c": 1, "deleted": ["b"]}
    # Handed over once: the next poll waits for new changes.
    assert (await poll(local, token, 200)).status_code == 408


async def test_a_deletion_alone_is_reported_as_deleted(local: Local) -> None:
    device_id, token = await device(local)
    await save_shared(local, device_id, {"x": 1})
    assert (await poll(local, token, 2000)).json() == {"x": 1}
    open_poll = poll(local, token, 10000)
    await waiting(local, device_id, open_poll)
    await local.client.delete(f"/api/plugins/telemetry/DEVICE/{device_id}/SHARED_SCOPE",
                              params={"keys": "x"})
    assert (await asyncio.wait_for(open_poll, 10)).json() == {"deleted": ["x"]}


async def test_client_and_server_attributes_do_not_wake_the_poll(local: Local) -> None:
    device_id, token = await device(local)
    channel = shared_changes_channel(uuid.UUID(device_id))
    open_poll = poll(local, token, 10000)
    await waiting(local, device_id, open_poll)
    # A second listener on the poll's channel sees every wake-up the poll gets.
    async with local.services.bus.subscribe(channel) as wake_ups:
        client = await local.client.post(f"/api/v1/{token}/attributes", json={"client": 1})
        server = await local.client.post(
            f"/api/plugins/telemetry/DEVICE/{device_id}/attributes/SERVER_SCOPE",
            json={"server": 1})
        assert (client.status_code, server.status_code) == (200, 200)
        # The bus delivers to this process' subscriptions within publish: a wake-up by either
        # write would be queued already.
        assert await wake_ups.get(timeout=0.05) is None
        assert not open_poll.done()
        # The check can fail: a shared attribute does wake the poll, which then answers with
        # that change alone.
        await save_shared(local, device_id, {"shared": 1})
        assert await wake_ups.get(timeout=5) == (channel, b"")
    response = await asyncio.wait_for(open_poll, 10)
    assert response.status_code == 200 and response.json() == {"shared": 1}
