"""What waits for a device or a claimer, in SQLite: server-side RPC (states, per-device request
ids from ``device.rpc_seq``), client-side RPC and claim windows.

The atomic takes (``take_next_rpc``, ``take_client_rpc``) probe on a reader first and update
with ``RETURNING`` on the writer only when there is something to take (``SQLiteCore._take``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final
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
from thingport.store.base import CommandStore
from thingport.store.shared import paging
from thingport.store.shared.errors import device_not_found
from thingport.store.shared.params import client_rpc as _client_rpc_params
from thingport.store.shared.params import rpc as _rpc_params
from thingport.store.shared.rows import CLAIM_WINDOW_COLUMNS, CLIENT_RPC_COLUMNS, RPC_COLUMNS
from thingport.store.shared.rows import claim_window as _claim_window
from thingport.store.shared.rows import client_rpc as _client_rpc
from thingport.store.shared.rows import rpc as _rpc
from thingport.store.sqlite.connection import read_page
from thingport.store.sqlite.core import SQLiteCore
from thingport.store.sqlite.tx import Tx


class SQLiteCommands(SQLiteCore, CommandStore):
    """The store contract's commands part (RPC, client-side RPC, claiming), for
    ``SQLiteStore``."""

    # -- server-side RPC ---------------------------------------------------------------------
    async def create_rpc(self, rpc: Rpc) -> Rpc:
        """Store a new RPC, giving it the device's next request id (1, 2, ...: per device,
        never reused, surviving restarts and RPC deletion). Returns it with ``request_id`` set.
        An unknown device raises NotFound, a duplicate RPC id Conflict (and uses up no id)."""
        def op(tx: Tx) -> Rpc:
            # The counter is bumped in the same savepoint as the insert, so a failed insert
            # gives its id back; a committed one never does.
            bumped = tx.conn.execute(
                "UPDATE device SET rpc_seq = rpc_seq + 1 WHERE id = ? RETURNING rpc_seq",
                (str(rpc.device_id),),
            ).fetchall()
            if not bumped:
                raise device_not_found(rpc.device_id)
            created = dataclasses.replace(rpc, request_id=bumped[0][0])
            tx.conn.execute(
                f"INSERT INTO rpc ({RPC_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _rpc_params(created),
            )
            return created

        return await self._write(op)

    async def get_rpc(self, rpc_id: UUID) -> Rpc | None:
        """The RPC with this id."""
        return await self._one(
            f"SELECT {RPC_COLUMNS} FROM rpc WHERE id = ?", (str(rpc_id),), _rpc
        )

    async def take_next_rpc(self, device_id: UUID, now: int) -> Rpc | None:
        """Atomically move the device's oldest QUEUED, unexpired RPC (lowest request id) to
        DELIVERED and return it; None when there is none. Two concurrent callers never get the
        same RPC. An RPC is unexpired while ``expiration_time >= now``."""
        queued = (
            "FROM rpc WHERE device_id = ? AND status = 'QUEUED' AND expiration_time >= ? "
            "ORDER BY request_id LIMIT 1"
        )
        params = (str(device_id), now)

        def take(tx: Tx) -> Rpc | None:
            rows = tx.conn.execute(
                f"UPDATE rpc SET status = 'DELIVERED' WHERE id = (SELECT id {queued}) "
                f"RETURNING {RPC_COLUMNS}",
                params,
            ).fetchall()
            return _rpc(rows[0]) if rows else None

        return await self._take(f"SELECT 1 {queued}", params, take, None)

    async def complete_rpc(
        self, device_id: UUID, request_id: int, response: str, now: int
    ) -> Rpc | None:
        """Record the device's reply: an RPC that is DELIVERED or SENT (or still QUEUED) and
        not expired (``expiration_time >= now``) becomes SUCCESSFUL with ``response``. Returns
        the updated RPC, or None when there is no such RPC or it is already final or expired
        (a stale reply)."""
        params = (response, str(device_id), request_id, now)

        def op(tx: Tx) -> Rpc | None:
            rows = tx.conn.execute(
                "UPDATE rpc SET status = 'SUCCESSFUL', response = ? "
                "WHERE device_id = ? AND request_id = ? "
                "AND status IN ('QUEUED', 'SENT', 'DELIVERED') AND expiration_time >= ? "
                f"RETURNING {RPC_COLUMNS}",
                params,
            ).fetchall()
            return _rpc(rows[0]) if rows else None

        return await self._write(op)

    async def set_rpc_status(
        self, rpc_id: UUID, status: RpcStatus, expected: frozenset[RpcStatus],
    ) -> Rpc | None:
        """Compare-and-set: move the RPC to ``status`` only if its status is in ``expected``.
        Returns the updated RPC, or None when it was not in an expected state or does not
        exist."""
        if not expected:
            return None
        sql = (
            "UPDATE rpc SET status = ? "
            f"WHERE id = ? AND status IN ({_status_list(expected)}) RETURNING {RPC_COLUMNS}"
        )
        params = (RpcStatus(status).value, str(rpc_id))

        def op(tx: Tx) -> Rpc | None:
            rows = tx.conn.execute(sql, params).fetchall()
            return _rpc(rows[0]) if rows else None

        return await self._write(op)

    async def expire_rpcs(self, now: int) -> list[Rpc]:
        """Finish every RPC whose expiration time has passed (``expiration_time < now``):
        QUEUED becomes EXPIRED, SENT/DELIVERED become TIMEOUT (a one-way DELIVERED RPC is
        already done and stays). Returns the RPCs changed, as they are now."""
        def op(tx: Tx) -> list[Rpc]:
            changed: list[Rpc] = []
            for sql in _EXPIRE_RPCS:
                changed.extend(_rpc(r) for r in tx.conn.execute(sql, (now,)).fetchall())
            return changed

        return await self._write(op)

    async def find_rpcs(
        self, device_id: UUID, page_link: PageLink, status: RpcStatus | None = None
    ) -> Page[Rpc]:
        """A page of the device's RPCs, newest first by default (sortProperty createdTime),
        optionally of one status; ``text_search`` matches the method (case-insensitive
        "contains"). Also sortable by expirationTime, requestId, status and method; ties are
        broken by the request id."""
        where = ["device_id = ?"]
        params: list[Any] = [str(device_id)]
        if status is not None:
            where.append("status = ?")
            params.append(RpcStatus(status).value)
        return await self._read(lambda c: read_page(c, paging.RPCS, where, params, page_link, _rpc))

    async def delete_rpc(self, rpc_id: UUID) -> None:
        """Delete an RPC (its request id is still never reused: the counter is the device's)."""
        def op(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM rpc WHERE id = ?", (str(rpc_id),))

        await self._write(op)

    # -- client-side RPC ---------------------------------------------------------------------
    async def create_client_rpc(self, request: ClientRpc) -> None:
        """Store a device's request to the server. An unknown device raises NotFound, a
        duplicate id Conflict."""
        params = _client_rpc_params(request)

        def op(tx: Tx) -> None:
            tx.device_seq(request.device_id)  # NotFound, with the device's id in the message
            tx.conn.execute(
                f"INSERT INTO client_rpc ({CLIENT_RPC_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )

        await self._write(op)

    async def take_client_rpc(self, device_id: UUID, now: int) -> ClientRpc | None:
        """Atomically mark the device's oldest unclaimed, unexpired (``expiration_time >=
        now``) request claimed and return it; None when there is none. Requests created in the
        same ms are taken in the order they were stored."""
        unclaimed = (
            "FROM client_rpc WHERE device_id = ? AND claimed = 0 AND expiration_time >= ? "
            "ORDER BY created_time, rowid LIMIT 1"
        )
        params = (str(device_id), now)

        def take(tx: Tx) -> ClientRpc | None:
            rows = tx.conn.execute(
                f"UPDATE client_rpc SET claimed = 1 WHERE rowid = (SELECT rowid {unclaimed}) "
                f"RETURNING {CLIENT_RPC_COLUMNS}",
                params,
            ).fetchall()
            return _client_rpc(rows[0]) if rows else None

        return await self._take(f"SELECT 1 {unclaimed}", params, take, None)

    async def answer_client_rpc(self, request_id: UUID, response: str, now: int) -> bool:
        """Record the answer of an unexpired (``expiration_time >= now``) request without one;
        False otherwise (unknown, answered already, or expired)."""
        params = (response, str(request_id), now)

        def op(tx: Tx) -> bool:
            cur = tx.conn.execute(
                "UPDATE client_rpc SET response = ? "
                "WHERE id = ? AND response IS NULL AND expiration_time >= ?",
                params,
            )
            return cur.rowcount > 0

        return await self._write(op)

    async def get_client_rpc(self, request_id: UUID) -> ClientRpc | None:
        """The request with this id."""
        return await self._one(
            f"SELECT {CLIENT_RPC_COLUMNS} FROM client_rpc WHERE id = ?", (str(request_id),),
            _client_rpc,
        )

    async def delete_client_rpcs_before(self, now: int) -> int:
        """Forget requests that expired before ``now`` (``expiration_time < now``); returns
        how many."""
        def op(tx: Tx) -> int:
            cur = tx.conn.execute("DELETE FROM client_rpc WHERE expiration_time < ?", (now,))
            return cur.rowcount

        return await self._write(op)

    # -- claiming ----------------------------------------------------------------------------
    async def open_claim_window(self, window: ClaimWindow, now: int) -> bool:
        """Record the device's claim window unless one is open (unexpired at ``now``:
        ``expiration_time >= now``) already: a second offer within the window does not replace
        the first. True if recorded. An unknown device raises NotFound."""
        params = (str(window.device_id), window.secret_key, window.expiration_time, now)

        def op(tx: Tx) -> bool:
            tx.device_seq(window.device_id)
            cur = tx.conn.execute(
                "INSERT INTO claim_window (device_id, secret_key, expiration_time) "
                "VALUES (?1, ?2, ?3) ON CONFLICT (device_id) DO UPDATE SET "
                "secret_key = excluded.secret_key, expiration_time = excluded.expiration_time "
                "WHERE claim_window.expiration_time < ?4",
                params,
            )
            return cur.rowcount > 0

        return await self._write(op)

    async def get_claim_window(self, device_id: UUID) -> ClaimWindow | None:
        """The device's claim window, expired or not."""
        return await self._one(
            f"SELECT {CLAIM_WINDOW_COLUMNS} FROM claim_window WHERE device_id = ?",
            (str(device_id),), lambda r: _claim_window(device_id, r),
        )

    async def close_claim_window(self, device_id: UUID) -> None:
        """Forget the device's claim window."""
        def op(tx: Tx) -> None:
            tx.conn.execute("DELETE FROM claim_window WHERE device_id = ?", (str(device_id),))

        await self._write(op)

    async def claim_device(
        self, device_id: UUID, customer_id: UUID, secret_key: str, now: int
    ) -> ClaimResult:
        """Atomically assign the device to the customer if it has no customer and its claim
        window is open at ``now`` with ``secret_key``; the window is then closed. Returns
        "SUCCESS", "CLAIMED" (it has a customer already, whatever the key) or "FAILURE" (no
        open window, a wrong key, or no such device). A failure leaves the window as it is.
        An unknown customer raises NotFound and changes nothing."""
        def op(tx: Tx) -> ClaimResult:
            conn = tx.conn
            row = conn.execute(
                "SELECT customer_id FROM device WHERE id = ?", (str(device_id),)
            ).fetchone()
            if row is None:
                return ClaimResult.FAILURE
            if row[0] is not None:
                return ClaimResult.CLAIMED
            opened = conn.execute(
                "DELETE FROM claim_window WHERE device_id = ? AND secret_key = ? "
                "AND expiration_time >= ? RETURNING device_id",
                (str(device_id), secret_key, now),
            ).fetchall()
            if not opened:
                return ClaimResult.FAILURE
            conn.execute(
                "UPDATE device SET customer_id = ? WHERE id = ?", (str(customer_id), str(device_id))
            )
            return ClaimResult.SUCCESS

        return await self._write(op)


def _status_list(statuses: frozenset[RpcStatus]) -> str:
    # Enum names only (never user text), so they can be inlined as SQL literals.
    return ", ".join(f"'{RpcStatus(s).value}'" for s in sorted(statuses))


# expire_rpcs, one statement per index range of rpc_expiry (status, oneway, expiration_time):
# `oneway IN (0, 1)` lets the first use the whole index, and the second never visits the
# one-way DELIVERED RPCs, which stay so for good.
_EXPIRE_RPCS: Final = (
    "UPDATE rpc SET status = CASE status WHEN 'QUEUED' THEN 'EXPIRED' ELSE 'TIMEOUT' END "
    "WHERE status IN ('QUEUED', 'SENT') AND oneway IN (0, 1) AND expiration_time < ?1 "
    f"RETURNING {RPC_COLUMNS}",
    "UPDATE rpc SET status = 'TIMEOUT' "
    "WHERE status = 'DELIVERED' AND oneway = 0 AND expiration_time < ?1 "
    f"RETURNING {RPC_COLUMNS}",
)
