"""Failed logins, the security policy's locks and the system's settings, in SQLite."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson

from thingport.store.sqlite.core import SQLiteCore
from thingport.store.sqlite.tx import Tx


class SQLiteLogins(SQLiteCore):
    """The store contract's login-failure, lock and admin-settings methods, for ``SQLiteStore``."""

    async def add_failed_login(self, user_id: UUID) -> int:
        """Add one to the user's failed logins in a row; the new count (0: no credentials)."""
        def op(tx: Tx) -> int:
            row = tx.conn.execute(
                "UPDATE user_credentials SET failed_login_attempts = failed_login_attempts + 1 "
                "WHERE user_id = ? RETURNING failed_login_attempts", (str(user_id),),
            ).fetchone()
            return 0 if row is None else int(row[0])

        return await self._write(op)

    async def reset_failed_logins(self, user_id: UUID) -> None:
        """Set the user's failed logins in a row back to 0."""
        def op(tx: Tx) -> None:
            tx.conn.execute(
                "UPDATE user_credentials SET failed_login_attempts = 0 WHERE user_id = ?",
                (str(user_id),),
            )

        await self._write(op)

    async def lock_user_credentials(self, user_id: UUID, locked_at: int) -> None:
        """Disable the credentials, locked by the security policy at ``locked_at`` (ms)."""
        def op(tx: Tx) -> None:
            tx.conn.execute(
                "UPDATE user_credentials SET enabled = 0, locked_at = ? WHERE user_id = ?",
                (locked_at, str(user_id)),
            )

        await self._write(op)

    async def unlock_user_credentials(self, user_id: UUID, locked_at: int) -> bool:
        """Enable the credentials if the policy's lock of ``locked_at`` still holds."""
        def op(tx: Tx) -> bool:
            cur = tx.conn.execute(
                "UPDATE user_credentials SET enabled = 1, failed_login_attempts = 0, "
                "locked_at = NULL WHERE user_id = ? AND enabled = 0 AND locked_at = ?",
                (str(user_id), locked_at),
            )
            return cur.rowcount > 0

        return await self._write(op)

    async def set_user_credentials_enabled(self, user_id: UUID, enabled: bool) -> bool:
        """Enable (no failed logins, no lock) or disable the credentials; False without any."""
        def op(tx: Tx) -> bool:
            if enabled:
                sql = ("UPDATE user_credentials SET enabled = 1, failed_login_attempts = 0, "
                       "locked_at = NULL WHERE user_id = ?")
            else:
                sql = "UPDATE user_credentials SET enabled = 0, locked_at = NULL WHERE user_id = ?"
            return tx.conn.execute(sql, (str(user_id),)).rowcount > 0

        return await self._write(op)

    async def get_admin_settings(self, key: str) -> dict[str, Any] | None:
        """The settings object stored under ``key``."""
        row = await self._one(
            "SELECT json_value FROM admin_settings WHERE key = ?", (key,), lambda r: r[0]
        )
        return None if row is None else _object(row)

    async def save_admin_settings(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        text = orjson.dumps(value).decode()

        def op(tx: Tx) -> None:
            tx.conn.execute(
                "INSERT INTO admin_settings (key, json_value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET json_value = excluded.json_value",
                (key, text),
            )

        await self._write(op)


def _object(text: str) -> dict[str, Any]:
    value = orjson.loads(text)
    if not isinstance(value, dict):
        raise ValueError("admin settings must be a JSON object")
    return value
