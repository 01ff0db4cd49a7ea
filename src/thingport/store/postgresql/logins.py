"""Failed logins, the security policy's locks and the system's settings, on PostgreSQL.

Each change is one statement, so nodes sharing the database count every failure (the
increment happens in the row, not in a node's memory) and a lock lifted by one node is not
lifted again, or over an administrator's change, by another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from thingport.store.postgresql.core import PgCore

if TYPE_CHECKING:
    import asyncpg


def _affected(status: str) -> int:
    """The row count of a command status such as ``UPDATE 1``."""
    return int(status.rsplit(" ", 1)[-1])


class PgLogins(PgCore):
    """The store contract's login-failure, lock and admin-settings methods."""

    async def add_failed_login(self, user_id: UUID) -> int:
        """Add one to the user's failed logins in a row; the new count (0: no credentials)."""
        async def op(conn: asyncpg.Connection) -> int:
            count = await conn.fetchval(
                "UPDATE user_credentials SET failed_login_attempts = failed_login_attempts + 1 "
                "WHERE user_id = $1 RETURNING failed_login_attempts", user_id,
            )
            return 0 if count is None else int(count)

        result: int = await self._write(op)
        return result

    async def reset_failed_logins(self, user_id: UUID) -> None:
        """Set the user's failed logins in a row back to 0."""
        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE user_credentials SET failed_login_attempts = 0 WHERE user_id = $1",
                user_id,
            )

        await self._write(op)

    async def lock_user_credentials(self, user_id: UUID, locked_at: int) -> None:
        """Disable the credentials, locked by the security policy at ``locked_at`` (ms)."""
        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE user_credentials SET enabled = false, locked_at = $2 WHERE user_id = $1",
                user_id, locked_at,
            )

        await self._write(op)

    async def unlock_user_credentials(self, user_id: UUID, locked_at: int) -> bool:
        """Enable the credentials if the policy's lock of ``locked_at`` still holds."""
        async def op(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "UPDATE user_credentials SET enabled = true, failed_login_attempts = 0, "
                "locked_at = NULL WHERE user_id = $1 AND NOT enabled AND locked_at = $2",
                user_id, locked_at,
            )
            return _affected(status) > 0

        result: bool = await self._write(op)
        return result

    async def set_user_credentials_enabled(self, user_id: UUID, enabled: bool) -> bool:
        """Enable (no failed logins, no lock) or disable the credentials; False without any."""
        if enabled:
            sql = ("UPDATE user_credentials SET enabled = true, failed_login_attempts = 0, "
                   "locked_at = NULL WHERE user_id = $1")
        else:
            sql = "UPDATE user_credentials SET enabled = false, locked_at = NULL WHERE user_id = $1"

        async def op(conn: asyncpg.Connection) -> bool:
            return _affected(await conn.execute(sql, user_id)) > 0

        result: bool = await self._write(op)
        return result

    async def get_admin_settings(self, key: str) -> dict[str, Any] | None:
        """The settings object stored under ``key``."""
        text = await self._fetchval("SELECT json_value FROM admin_settings WHERE key = $1", key)
        if text is None:
            return None
        value = orjson.loads(text)
        if not isinstance(value, dict):
            raise ValueError("admin settings must be a JSON object")
        return value

    async def save_admin_settings(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        text = orjson.dumps(value).decode()

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO admin_settings (key, json_value) VALUES ($1, $2) "
                "ON CONFLICT (key) DO UPDATE SET json_value = excluded.json_value",
                key, text,
            )

        await self._write(op)
