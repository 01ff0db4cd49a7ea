"""Server-side RPCs, client-side RPCs and claim windows on PostgreSQL.

Every state change is a conditional UPDATE (``... WHERE status IN (...) RETURNING``), so when
two nodes race for one RPC the row lock orders them and the second finds it no longer in the
state it expected: an RPC is taken once, whichever node holds the poll. A device's request ids
come from ``device.rpc_seq``, bumped under the device row's lock in the same savepoint as the
insert, so they never repeat across nodes and a failed insert gives its id back.

The polls' "take" methods look with a read first and write only when there is something to
take, since most looks of a waiting poll find nothing.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final
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
from thingport.store.postgresql.core import PgCore
from thingport.store.shared import paging, params, rows
from thingport.store.shared.errors import device_not_found

if TYPE_CHECKING:
    import asyncpg

_U: Final = params.as_is
_QUEUED: Final = (
    "FROM rpc WHERE device_id = $1 AND status = 'QUEUED' AND expiration_time >= $2 "
    "ORDER BY request_id LIMIT 1"
)
_UNCLAIMED: Final = (
    "FROM client_rpc WHERE device_id = $1 AND NOT claimed AND expiration_time >= $2 "
    "ORDER BY created_time, seq LIMIT 1"
)
# expire_rpcs, one statement per index range of rpc_expiry (status, oneway, expiration_time);
# one-way DELIVERED RPCs are done for good and never visited.
_EXPIRE_RPCS: Final = (
    "UPDATE rpc SET status = CASE status WHEN 'QUEUED' THEN 'EXPIRED' ELSE 'TIMEOUT' END "
    "WHERE status IN ('QUEUED', 'SENT') AND expiration_time < $1 "
    f"RETURNING {rows.RPC_COLUMNS}",
    "UPDATE rpc SET status = 'TIMEOUT' "
    "WHERE status = 'DELIVERED' AND NOT oneway AND expiration_time < $1 "
    f"RETURNING {rows.RPC_COLUMNS}",
)


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PgCommands(PgCore):
    """The store contract's server-side RPC, client-side RPC and claiming."""

    # -- server-side RPC -----------------------------------------------------------------------
    async def create_rpc(self, rpc: Rpc) -> Rpc:
        """Store a new RPC, giving it the device's next request id (1, 2, ...: per device,
        never reused, surviving restarts and RPC deletion). Returns it with ``request_id`` set.
        An unknown device raises NotFound, a duplicate RPC id Conflict (and uses up no id)."""
        async def op(conn: asyncpg.Connection) -> Rpc:
            seq = await conn.fetchval(
                "UPDATE device SET rpc_seq = rpc_seq + 1 WHERE id = $1 RETURNING rpc_seq",
                rpc.device_id,
            )
            if seq is None:
                raise device_not_found(rpc.device_id)
            created = dataclasses.replace(rpc, request_id=int(seq))
            await conn.execute(
                f"INSERT INTO rpc ({rows.RPC_COLUMNS}) VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                *params.rpc(created, _U),
            )
            return created

        return await self._write(op, rpc.device_id)

    async def get_rpc(self, rpc_id: UUID) -> Rpc | None:
        """The RPC with this id."""
        return await self._one(
            f"SELECT {rows.RPC_COLUMNS} FROM rpc WHERE id = $1", [rpc_id], rows.rpc
        )

    async def take_next_rpc(self, device_id: UUID, now: int) -> Rpc | None:
        """Atomically move the device's oldest QUEUED, unexpired RPC (lowest request id) to
        DELIVERED and return it; None when there is none. Two concurrent callers (on any
        nodes) never get the same RPC. An RPC is unexpired while ``expiration_time >= now``."""
        if not await self._fetchval(f"SELECT EXISTS (SELECT 1 {_QUEUED})", device_id, now):
            return None

        async def take(conn: asyncpg.Connection) -> Rpc | None:
            # FOR UPDATE: a second taker waits for the first, then re-reads the row, sees it
            # DELIVERED and moves on to the next QUEUED one (request id order kept).
            row = await conn.fetchrow(
                f"UPDATE rpc SET status = 'DELIVERED' WHERE id = (SELECT id {_QUEUED} "
                f"FOR UPDATE) AND status = 'QUEUED' RETURNING {rows.RPC_COLUMNS}",
                device_id, now,
            )
            return None if row is None else rows.rpc(row)

        return await self._write(take, device_id)

    async def complete_rpc(
        self, device_id: UUID, request_id: int, response: str, now: int
    ) -> Rpc | None:
        """Record the device's reply: an RPC that is DELIVERED or SENT (or still QUEUED) and
        not expired (``expiration_time >= now``) becomes SUCCESSFUL with ``response``. Returns
        the updated RPC, or None when there is no such RPC or it is already final or expired
        (a stale reply)."""
        async def op(conn: asyncpg.Connection) -> Rpc | None:
            row = await conn.fetchrow(
                "UPDATE rpc SET status = 'SUCCESSFUL', response = $1 "
                "WHERE device_id = $2 AND request_id = $3 "
                "AND status IN ('QUEUED', 'SENT', 'DELIVERED') AND expiration_time >= $4 "
                f"RETURNING {rows.RPC_COLUMNS}",
                response, device_id, request_id, now,
            )
            return None if row is None else rows.rpc(row)

        return await self._write(op, device_id)

    async def set_rpc_status(
        self, rpc_id: UUID, status: RpcStatus, expected: frozenset[RpcStatus],
    ) -> Rpc | None:
        """Compare-and-set: move the RPC to ``status`` only if its status is in ``expected``.
        Returns the updated RPC, or None when it was not in an expected state or does not
        exist."""
        if not expected:
            return None
        wanted = sorted(RpcStatus(s).value for s in expected)

        async def op(conn: asyncpg.Connection) -> Rpc | None:
            row = await conn.fetchrow(
                "UPDATE rpc SET status = $1 WHERE id = $2 AND status = ANY($3::text[]) "
                f"RETURNING {rows.RPC_COLUMNS}",
                RpcStatus(status).value, rpc_id, wanted,
            )
            return None if row is None else rows.rpc(row)

        return await self._write(op)

    async def expire_rpcs(self, now: int) -> list[Rpc]:
        """Finish every RPC whose expiration time has passed (``expiration_time < now``):
        QUEUED becomes EXPIRED, SENT/DELIVERED become TIMEOUT (a one-way DELIVERED RPC is
        already done and stays). Returns the RPCs changed, as they are now. Every node may run
        this: each change is conditional, so an RPC is expired once."""
        if not await self._fetchval(
            "SELECT EXISTS (SELECT 1 FROM rpc WHERE status IN ('QUEUED', 'SENT') "
            "AND expiration_time < $1) OR EXISTS (SELECT 1 FROM rpc WHERE status = 'DELIVERED' "
            "AND NOT oneway AND expiration_time < $1)",
            now,
        ):
            return []

        async def op(conn: asyncpg.Connection) -> list[Rpc]:
            changed: list[Rpc] = []
            for sql in _EXPIRE_RPCS:
                changed.extend(rows.rpc(r) for r in await conn.fetch(sql, now))
            return changed

        return await self._write(op)

    async def find_rpcs(
        self, device_id: UUID, page_link: PageLink, status: RpcStatus | None = None
    ) -> Page[Rpc]:
        """A page of the device's RPCs, newest first by default (sortProperty createdTime),
        optionally of one status; ``text_search`` matches the method (case-insensitive
        "contains"). Also sortable by expirationTime, requestId, status and method; ties are
        broken by the request id."""
        where = ["device_id = $1"]
        args: list[Any] = [device_id]
        if status is not None:
            args.append(RpcStatus(status).value)
            where.append("status = $2")
        return await self._page(paging.RPCS, where, args, page_link, rows.rpc)

    async def delete_rpc(self, rpc_id: UUID) -> None:
        """Delete an RPC (its request id is still never reused: the counter is the device's)."""
        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute("DELETE FROM rpc WHERE id = $1", rpc_id)

        await self._write(op)

    # -- client-side RPC -----------------------------------------------------------------------
    async def create_client_rpc(self, request: ClientRpc) -> None:
        """Store a device's request to the server. An unknown device raises NotFound, a
        duplicate id Conflict."""
        import asyncpg

        args = params.client_rpc(request, _U)

        async def op(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(
                    f"INSERT INTO client_rpc ({rows.CLIENT_RPC_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    *args,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise device_not_found(request.device_id) from exc

        await self._write(op, request.device_id)

    async def take_client_rpc(self, device_id: UUID, now: int) -> ClientRpc | None:
        """Atomically mark the device's oldest unclaimed, unexpired (``expiration_time >=
        now``) request claimed and return it; None when there is none. Requests created in the
        same ms are taken in the order they were stored."""
        if not await self._fetchval(f"SELECT EXISTS (SELECT 1 {_UNCLAIMED})", device_id, now):
            return None

        async def take(conn: asyncpg.Connection) -> ClientRpc | None:
            row = await conn.fetchrow(
                f"UPDATE client_rpc SET claimed = true WHERE id = (SELECT id {_UNCLAIMED} "
                f"FOR UPDATE) AND NOT claimed RETURNING {rows.CLIENT_RPC_COLUMNS}",
                device_id, now,
            )
            return None if row is None else rows.client_rpc(row)

        return await self._write(take, device_id)

    async def answer_client_rpc(self, request_id: UUID, response: str, now: int) -> bool:
        """Record the answer of an unexpired (``expiration_time >= now``) request without one;
        False otherwise (unknown, answered already, or expired)."""
        async def op(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "UPDATE client_rpc SET response = $1 "
                "WHERE id = $2 AND response IS NULL AND expiration_time >= $3",
                response, request_id, now,
            )
            return _count(status) > 0

        return await self._write(op)

    async def get_client_rpc(self, request_id: UUID) -> ClientRpc | None:
        """The request with this id."""
        return await self._one(
            f"SELECT {rows.CLIENT_RPC_COLUMNS} FROM client_rpc WHERE id = $1", [request_id],
            rows.client_rpc,
        )

    async def delete_client_rpcs_before(self, now: int) -> int:
        """Forget requests that expired before ``now`` (``expiration_time < now``); returns
        how many."""
        if not await self._fetchval(
            "SELECT EXISTS (SELECT 1 FROM client_rpc WHERE expiration_time < $1)", now
        ):
            return 0

        async def op(conn: asyncpg.Connection) -> int:
            return _count(await conn.execute(
                "DELETE FROM client_rpc WHERE expiration_time < $1", now
            ))

        return await self._write(op)

    # -- claiming ------------------------------------------------------------------------------
    async def open_claim_window(self, window: ClaimWindow, now: int) -> bool:
        """Record the device's claim window unless one is open (unexpired at ``now``:
        ``expiration_time >= now``) already: a second offer within the window does not replace
        the first. True if recorded. An unknown device raises NotFound."""
        import asyncpg

        async def op(conn: asyncpg.Connection) -> bool:
            try:
                status = await conn.execute(
                    "INSERT INTO claim_window AS w (device_id, secret_key, expiration_time) "
                    "VALUES ($1, $2, $3) ON CONFLICT (device_id) DO UPDATE SET "
                    "secret_key = excluded.secret_key, expiration_time = excluded.expiration_time "
                    "WHERE w.expiration_time < $4",
                    window.device_id, window.secret_key, window.expiration_time, now,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                raise device_not_found(window.device_id) from exc
            return _count(status) > 0

        return await self._write(op, window.device_id)

    async def get_claim_window(self, device_id: UUID) -> ClaimWindow | None:
        """The device's claim window, expired or not."""
        return await self._one(
            f"SELECT {rows.CLAIM_WINDOW_COLUMNS} FROM claim_window WHERE device_id = $1",
            [device_id], lambda r: rows.claim_window(device_id, r),
        )

    async def close_claim_window(self, device_id: UUID) -> None:
        """Forget the device's claim window."""
        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute("DELETE FROM claim_window WHERE device_id = $1", device_id)

        await self._write(op, device_id)

    async def claim_device(
        self, device_id: UUID, customer_id: UUID, secret_key: str, now: int
    ) -> ClaimResult:
        """Atomically assign the device to the customer if it has no customer and its claim
        window is open at ``now`` with ``secret_key``; the window is then closed. Returns
        "SUCCESS", "CLAIMED" (it has a customer already, whatever the key) or "FAILURE" (no
        open window, a wrong key, or no such device). A failure leaves the window as it is.
        An unknown customer raises NotFound and changes nothing."""
        async def op(conn: asyncpg.Connection) -> ClaimResult:
            # The row lock serializes claims of one device across nodes. NO KEY: only
            # customer_id changes, so samples being written for the device (which hold FOR KEY
            # SHARE on its row) need not wait, nor this for them.
            row = await conn.fetchrow(
                "SELECT customer_id FROM device WHERE id = $1 FOR NO KEY UPDATE", device_id
            )
            if row is None:
                return ClaimResult.FAILURE
            if row[0] is not None:
                return ClaimResult.CLAIMED
            opened = await conn.fetchval(
                "DELETE FROM claim_window WHERE device_id = $1 AND secret_key = $2 "
                "AND expiration_time >= $3 RETURNING device_id",
                device_id, secret_key, now,
            )
            if opened is None:
                return ClaimResult.FAILURE
            await conn.execute(
                "UPDATE device SET customer_id = $1 WHERE id = $2", customer_id, device_id
            )
            return ClaimResult.SUCCESS

        return await self._write(op, device_id)
