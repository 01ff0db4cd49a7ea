"""Client-side RPC: a device asks, the server or a subscribed application answers.

``getCurrentTime`` is answered here. Any other request is stored and announced; an application
long-polling the device's requests through the REST API takes it and posts the answer, which
wakes the device's waiting request on whichever node holds it.
"""

from __future__ import annotations

import uuid
from uuid import UUID

import orjson

from thingport.bus import Bus
from thingport.clock import now_ms
from thingport.domain.model import ClientRpc, Device
from thingport.errors import NotFound, RequestTimeout
from thingport.services.channels import client_rpc_answer_channel, client_rpc_channel
from thingport.services.waiting import wait_for
from thingport.store.base import CommandStore


class ClientRpcService:
    """Devices' requests to the server, and applications' answers."""

    def __init__(self, store: CommandStore, bus: Bus, timeout_ms: int = 60000) -> None:
        self._store = store
        self._bus = bus
        self.timeout_ms = timeout_ms

    async def call(self, device: Device, method: str, params: str) -> bytes:
        """The answer (JSON) to a device's request; RequestTimeout when nobody answers."""
        now = now_ms()
        if method == "getCurrentTime":
            return orjson.dumps({"time": now})
        request = ClientRpc(
            id=uuid.uuid4(), tenant_id=device.tenant_id, device_id=device.id, created_time=now,
            expiration_time=now + self.timeout_ms, method=method, params=params,
        )
        await self._store.create_client_rpc(request)
        await self._bus.publish(client_rpc_channel(device.id))

        async def answered() -> str | None:
            current = await self._store.get_client_rpc(request.id)
            return current.response if current is not None else None

        answer = await wait_for(self._bus, (client_rpc_answer_channel(request.id),), answered,
                                self.timeout_ms / 1000)
        if answer is None:
            raise RequestTimeout("No answer to the client-side RPC")
        return answer.encode()

    async def next_request(self, device_id: UUID, timeout_s: float) -> ClientRpc | None:
        """The device's oldest unanswered request, waiting up to ``timeout_s``."""
        async def take() -> ClientRpc | None:
            return await self._store.take_client_rpc(device_id, now_ms())

        return await wait_for(self._bus, (client_rpc_channel(device_id),), take, timeout_s)

    async def answer(self, device_id: UUID, request_id: UUID, response: str) -> None:
        """Answer a request; NotFound when it is unknown, answered or expired."""
        request = await self._store.get_client_rpc(request_id)
        if request is None or request.device_id != device_id or not \
                await self._store.answer_client_rpc(request_id, response, now_ms()):
            raise NotFound(f"Client-side RPC [{request_id}] is not waiting for an answer")
        await self._bus.publish(client_rpc_answer_channel(request_id))

    async def forget_expired(self) -> int:
        """Drop requests whose wait is over."""
        return await self._store.delete_client_rpcs_before(now_ms())
