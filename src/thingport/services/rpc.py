"""Server-side RPC: commands from applications to devices, persisted with their states.

Every RPC is stored first (so a device that is not polling gets it at its next poll, in order,
across restarts), then announced on the bus so that whichever node holds the device's poll hands
it over at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from thingport.bus import Bus
from thingport.clock import now_ms
from thingport.domain.model import RPC_FINAL, Device, Page, PageLink, Rpc, RpcStatus
from thingport.errors import BadRequest, NotFound
from thingport.services.channels import device_channel, rpc_channel, rpc_done_channel
from thingport.services.waiting import wait_for
from thingport.store.base import CommandStore

#: Request ids are stored as 64-bit integers (they count up from 1 per device), and so are
#: expiration times.
MAX_REQUEST_ID = MAX_EXPIRATION_TIME = 2**63 - 1


@dataclass(frozen=True)
class RpcRequest:
    """What an application asks of a device."""

    method: str
    params: str
    oneway: bool
    timeout_ms: int | None = None
    expiration_time: int | None = None
    persistent: bool = False
    retries: int = 0
    additional_info: dict[str, Any] | None = None


class RpcService:
    """Send commands, hand them to polling devices, record replies and time-outs."""

    def __init__(self, store: CommandStore, bus: Bus, default_timeout_ms: int = 10000,
                 min_timeout_ms: int = 5000) -> None:
        self._store = store
        self._bus = bus
        self.default_timeout_ms = default_timeout_ms
        self.min_timeout_ms = min_timeout_ms

    async def submit(self, device: Device, request: RpcRequest) -> Rpc:
        """Store a command for the device and wake its poll."""
        if not request.method:
            raise BadRequest("RPC method must be specified")
        now = now_ms()
        if request.expiration_time is not None:
            expiration = request.expiration_time
        else:
            timeout = request.timeout_ms if request.timeout_ms is not None else \
                self.default_timeout_ms
            # A timeout near the largest long would take the time past what the store holds.
            expiration = min(now + max(self.min_timeout_ms, timeout), MAX_EXPIRATION_TIME)
        rpc = await self._store.create_rpc(Rpc(
            id=uuid.uuid4(), tenant_id=device.tenant_id, device_id=device.id, created_time=now,
            expiration_time=expiration, method=request.method, params=request.params,
            oneway=request.oneway, persistent=request.persistent, retries=request.retries,
            additional_info=request.additional_info,
        ))
        await self._bus.publish(rpc_channel(device.id))
        return rpc

    async def outcome(self, rpc: Rpc) -> Rpc:
        """Wait until the RPC is done for its caller: replied, delivered (one-way), or past
        its expiration time, when it is finished as TIMEOUT (delivered, no reply) or EXPIRED
        (never delivered)."""
        def done(current: Rpc | None) -> Rpc | None:
            if current is None:
                raise NotFound(f"RPC [{rpc.id}] was deleted")
            if current.status in RPC_FINAL or (
                current.oneway and current.status is RpcStatus.DELIVERED
            ):
                return current
            return None

        async def check() -> Rpc | None:
            return done(await self._store.get_rpc(rpc.id))

        wait_s = max(0.0, (rpc.expiration_time - now_ms()) / 1000)
        finished = await wait_for(self._bus, (rpc_done_channel(rpc.id),), check, wait_s)
        if finished is not None:
            return finished
        for status, expected in (
            (RpcStatus.EXPIRED, frozenset({RpcStatus.QUEUED})),
            (RpcStatus.TIMEOUT, frozenset({RpcStatus.SENT, RpcStatus.DELIVERED})),
        ):
            changed = await self._store.set_rpc_status(rpc.id, status, expected)
            if changed is not None:
                await self._bus.publish(rpc_done_channel(rpc.id))
                return changed
        # It changed under us (a reply raced the deadline): report what it became.
        current = await self._store.get_rpc(rpc.id)
        if current is None:
            raise NotFound(f"RPC [{rpc.id}] was deleted")
        return current

    def poll(self, device: Device, timeout_s: float) -> Coroutine[Any, Any, Rpc | None]:
        """The device's next command, waiting up to ``timeout_s`` for one; marked DELIVERED.
        (Not a coroutine of its own, but ``wait_for``'s: each waiting poll would keep one.)"""
        async def take() -> Rpc | None:
            taking = asyncio.ensure_future(self._store.take_next_rpc(device.id, now_ms()))
            try:
                rpc = await asyncio.shield(taking)
            except asyncio.CancelledError:
                # The device left while its command was being taken: the store commits the
                # take anyway, so put the command back for the next poll.
                rpc = await taking
                if rpc is not None:
                    await self._store.set_rpc_status(
                        rpc.id, RpcStatus.QUEUED, frozenset({RpcStatus.DELIVERED})
                    )
                raise
            if rpc is not None:
                await self._bus.publish(rpc_done_channel(rpc.id))
            return rpc

        return wait_for(self._bus, (rpc_channel(device.id),), take, timeout_s,
                        abort_channel=device_channel(device.id))

    async def reply(self, device: Device, request_id: int, response: str) -> bool:
        """Record the device's reply to command ``request_id``; False for a stale one."""
        if not 0 <= request_id <= MAX_REQUEST_ID:
            return False  # no command has it, and the store could not even look it up
        rpc = await self._store.complete_rpc(device.id, request_id, response, now_ms())
        if rpc is None:
            return False
        await self._bus.publish(rpc_done_channel(rpc.id))
        return True

    async def expire(self) -> int:
        """Finish every RPC past its expiration time; returns how many changed."""
        changed = await self._store.expire_rpcs(now_ms())
        for rpc in changed:
            await self._bus.publish(rpc_done_channel(rpc.id))
        return len(changed)

    async def get(self, tenant_id: UUID, rpc_id: UUID) -> Rpc:
        """The tenant's RPC, or NotFound."""
        rpc = await self._store.get_rpc(rpc_id)
        if rpc is None or rpc.tenant_id != tenant_id:
            raise NotFound(f"RPC with id [{rpc_id}] is not found")
        return rpc

    async def find(self, device_id: UUID, page_link: PageLink,
                   status: RpcStatus | None = None) -> Page[Rpc]:
        """A page of the device's RPCs."""
        if status is RpcStatus.DELETED:
            raise BadRequest("RpcStatus: DELETED is not allowed in search request")
        return await self._store.find_rpcs(device_id, page_link, status)

    async def delete(self, tenant_id: UUID, rpc_id: UUID) -> None:
        """Delete a stored RPC; a caller waiting for it is told."""
        await self.get(tenant_id, rpc_id)
        await self._store.delete_rpc(rpc_id)
        await self._bus.publish(rpc_done_channel(rpc_id))
