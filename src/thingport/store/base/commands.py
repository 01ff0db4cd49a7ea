"""The commands part of the store contract: what waits for a device or a claimer (server-side
RPC with its states and per-device request ids, client-side RPC, claim windows).

The rules of ``thingport.store.base`` hold for every method; the atomic "take" methods never
give one item to two callers.
"""

from __future__ import annotations

import abc
from uuid import UUID

from thingport.domain.model import (
    ClaimResult,
    ClaimWindow,
    ClientRpc,
    Page,
    PageLink,
    Rpc,
    RpcStatus,
)


class CommandStore(abc.ABC):
    """Server-side RPC, client-side RPC and device claiming."""

    # -- server-side RPC -------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_rpc(self, rpc: Rpc) -> Rpc:
        """Store a new RPC, giving it the device's next request id (1, 2, ...: per device,
        never reused, surviving restarts and RPC deletion). Returns it with ``request_id`` set."""

    @abc.abstractmethod
    async def get_rpc(self, rpc_id: UUID) -> Rpc | None:
        """The RPC with this id."""

    @abc.abstractmethod
    async def take_next_rpc(self, device_id: UUID, now: int) -> Rpc | None:
        """Atomically move the device's oldest QUEUED, unexpired RPC (lowest request id) to
        DELIVERED and return it; None when there is none. Two concurrent callers never get the
        same RPC."""

    @abc.abstractmethod
    async def complete_rpc(
        self, device_id: UUID, request_id: int, response: str, now: int
    ) -> Rpc | None:
        """Record the device's reply: an RPC that is DELIVERED or SENT (or still QUEUED) and
        not expired becomes SUCCESSFUL with ``response``. Returns the updated RPC, or None when
        there is no such RPC or it is already final or expired (a stale reply)."""

    @abc.abstractmethod
    async def set_rpc_status(
        self, rpc_id: UUID, status: RpcStatus, expected: frozenset[RpcStatus],
    ) -> Rpc | None:
        """Compare-and-set: move the RPC to ``status`` only if its status is in ``expected``.
        Returns the updated RPC, or None when it was not in an expected state."""

    @abc.abstractmethod
    async def expire_rpcs(self, now: int) -> list[Rpc]:
        """Finish every RPC whose expiration time has passed: QUEUED becomes EXPIRED,
        SENT/DELIVERED become TIMEOUT (a one-way DELIVERED RPC is already done and stays).
        Returns the RPCs changed."""

    @abc.abstractmethod
    async def find_rpcs(
        self, device_id: UUID, page_link: PageLink, status: RpcStatus | None = None
    ) -> Page[Rpc]:
        """A page of the device's RPCs, newest first by default (sortProperty createdTime),
        optionally of one status; ``text_search`` matches the method."""

    @abc.abstractmethod
    async def delete_rpc(self, rpc_id: UUID) -> None:
        """Delete an RPC (its request id is still never reused)."""

    # -- client-side RPC -------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_client_rpc(self, request: ClientRpc) -> None:
        """Store a device's request to the server."""

    @abc.abstractmethod
    async def take_client_rpc(self, device_id: UUID, now: int) -> ClientRpc | None:
        """Atomically mark the device's oldest unclaimed, unexpired request claimed and return
        it; None when there is none."""

    @abc.abstractmethod
    async def answer_client_rpc(self, request_id: UUID, response: str, now: int) -> bool:
        """Record the answer of an unexpired request without one; False otherwise."""

    @abc.abstractmethod
    async def get_client_rpc(self, request_id: UUID) -> ClientRpc | None:
        """The request with this id."""

    @abc.abstractmethod
    async def delete_client_rpcs_before(self, now: int) -> int:
        """Forget requests that expired before ``now``; returns how many."""

    # -- claiming --------------------------------------------------------------------------------
    @abc.abstractmethod
    async def open_claim_window(self, window: ClaimWindow, now: int) -> bool:
        """Record the device's claim window unless one is open (unexpired at ``now``) already:
        a second offer within the window does not replace the first. True if recorded."""

    @abc.abstractmethod
    async def get_claim_window(self, device_id: UUID) -> ClaimWindow | None:
        """The device's claim window, expired or not."""

    @abc.abstractmethod
    async def close_claim_window(self, device_id: UUID) -> None:
        """Forget the device's claim window."""

    @abc.abstractmethod
    async def claim_device(
        self, device_id: UUID, customer_id: UUID, secret_key: str, now: int
    ) -> ClaimResult:
        """Atomically assign the device to the customer if it has no customer and its claim
        window is open at ``now`` with ``secret_key``; the window is then closed. Returns
        "SUCCESS", "CLAIMED" (it has a customer already) or "FAILURE" (no open window or a
        wrong key)."""
