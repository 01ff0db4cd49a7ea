"""OTA packages in SQLite: their info, and their bytes in 1 MiB chunks (schema 0003_ota.sql).

Every method is one writer operation (``_write``: in the group-committed transaction) or one
reader call (``_read``). An upload's chunks are written over several calls, each a few MiB, so
that a large image never sits in memory and never holds the writer for long; the last call
attaches them to the package.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

from thingport.domain.model import Device, OtaPackage, OtaPackageType, Page, PageLink
from thingport.errors import Conflict
from thingport.store.base import OTA_CHUNK_SIZE, OtaStore
from thingport.store.shared import paging
from thingport.store.shared.errors import (
    OTA_DATA_PROHIBITED,
    OTA_DUPLICATE,
    OTA_USED_BY_DEVICES,
    OTA_USED_BY_PROFILE,
    ota_package_not_found,
)
from thingport.store.shared.params import ota_package as _ota_package_params
from thingport.store.shared.rows import DEVICE_COLUMNS, OTA_COLUMNS, OTA_INSERT_COLUMNS
from thingport.store.shared.rows import device as _device
from thingport.store.shared.rows import ota_package as _ota_package
from thingport.store.sqlite.connection import read_page
from thingport.store.sqlite.core import SQLiteCore
from thingport.store.sqlite.tx import Tx

# Column of a device (and of a profile) holding its package of each type. Fixed names, never
# user text, so they can be put into SQL.
_ASSIGNMENT_COLUMN: Final = {
    OtaPackageType.FIRMWARE: "firmware_id",
    OtaPackageType.SOFTWARE: "software_id",
}


class SQLiteOta(SQLiteCore, OtaStore):
    """The store contract's "OTA packages" part, for ``SQLiteStore``."""

    async def save_ota_package(self, package: OtaPackage) -> None:
        """Insert a package, or update an existing one's additional info. A duplicate title and
        version (same profile and type) raises Conflict; an unknown profile NotFound."""
        params = _ota_package_params(package)

        def op(tx: Tx) -> None:
            try:
                tx.conn.execute(
                    f"INSERT INTO ota_package ({OTA_INSERT_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET additional_info = excluded.additional_info",
                    params,
                )
            except sqlite3.IntegrityError as exc:
                if str(exc).startswith("UNIQUE constraint failed"):
                    raise Conflict(OTA_DUPLICATE) from exc
                raise

        await self._write(op)

    async def get_ota_package(self, package_id: UUID) -> OtaPackage | None:
        """The package with this id."""
        def read(conn: sqlite3.Connection) -> OtaPackage | None:
            row = conn.execute(
                f"SELECT {OTA_COLUMNS} FROM ota_package WHERE id = ?", (str(package_id),)
            ).fetchone()
            return None if row is None else _ota_package(row)

        return await self._read(read)

    async def find_ota_packages(
        self, tenant_id: UUID, page_link: PageLink, device_profile_id: UUID | None = None,
        package_type: OtaPackageType | None = None, assignable_only: bool = False,
    ) -> Page[OtaPackage]:
        """A page of the tenant's packages, optionally of one profile and type, or only the
        assignable ones (with bytes or a URL)."""
        where = ["tenant_id = ?"]
        params: list[Any] = [str(tenant_id)]
        if device_profile_id is not None:
            where.append("device_profile_id = ?")
            params.append(str(device_profile_id))
        if package_type is not None:
            where.append("type = ?")
            params.append(package_type.value)
        if assignable_only:
            where.append("(data_id IS NOT NULL OR url IS NOT NULL)")
        return await self._read(
            lambda c: read_page(c, paging.OTA_PACKAGES, where, params, page_link, _ota_package)
        )

    async def delete_ota_package(self, package_id: UUID) -> None:
        """Delete a package and all its bytes; Conflict while a device or profile uses it."""
        key = str(package_id)

        def op(tx: Tx) -> None:
            conn = tx.conn
            used = "SELECT 1 FROM {table} WHERE firmware_id = ?1 OR software_id = ?1 LIMIT 1"
            if conn.execute(used.format(table="device"), (key,)).fetchone():
                raise Conflict(OTA_USED_BY_DEVICES)
            if conn.execute(used.format(table="device_profile"), (key,)).fetchone():
                raise Conflict(OTA_USED_BY_PROFILE)
            # The cascades would do this; explicit, it holds with foreign keys off too.
            conn.execute(
                "DELETE FROM ota_package_chunk WHERE data_id IN "
                "(SELECT id FROM ota_data WHERE package_id = ?)", (key,),
            )
            conn.execute("DELETE FROM ota_data WHERE package_id = ?", (key,))
            conn.execute("DELETE FROM ota_package WHERE id = ?", (key,))

        await self._write(op)

    async def write_ota_chunks(
        self, upload_id: UUID, package_id: UUID, first: int, chunks: Sequence[bytes], now: int
    ) -> None:
        """Stage chunks ``first``... of an upload; all but the upload's last are full."""
        if first < 0:
            raise ValueError("chunk numbers start at 0")
        if any(len(c) != OTA_CHUNK_SIZE for c in chunks[:-1]) or (
            chunks and not 0 < len(chunks[-1]) <= OTA_CHUNK_SIZE
        ):
            raise ValueError(f"OTA chunks must be {OTA_CHUNK_SIZE} bytes (the last may be less)")
        upload, package = str(upload_id), str(package_id)
        rows = [(upload, n, chunk) for n, chunk in enumerate(chunks, first)]

        def op(tx: Tx) -> None:
            if not tx.conn.execute(
                "SELECT 1 FROM ota_package WHERE id = ?", (package,)
            ).fetchone():
                raise ota_package_not_found(package_id)
            tx.conn.execute(
                "INSERT INTO ota_data (id, package_id, created_time) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (upload, package, now),
            )
            tx.conn.executemany(
                "INSERT INTO ota_package_chunk (data_id, n, data) VALUES (?, ?, ?)", rows
            )

        await self._write(op)

    async def commit_ota_upload(self, package: OtaPackage, upload_id: UUID) -> None:
        """Attach the upload to the package with its data fields, in one transaction."""
        upload, key = str(upload_id), str(package.id)
        algorithm = package.checksum_algorithm.value if package.checksum_algorithm else None

        def op(tx: Tx) -> None:
            conn = tx.conn
            row = conn.execute(
                "SELECT data_id, url FROM ota_package WHERE id = ?", (key,)
            ).fetchone()
            if row is None:
                raise ota_package_not_found(package.id)
            if row[0] is not None or row[1] is not None:
                raise Conflict(OTA_DATA_PROHIBITED)
            # length() of a blob reads no overflow page: this costs nothing per MiB.
            count, total, top = conn.execute(
                "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(max(n), -1) "
                "FROM ota_package_chunk WHERE data_id = ?", (upload,),
            ).fetchone()
            if total != package.data_size or count != top + 1:
                raise ValueError(
                    f"OTA upload {upload_id} holds {total} bytes in {count} chunks, "
                    f"expected {package.data_size}"
                )
            conn.execute(
                "UPDATE ota_package SET data_id = ?, file_name = ?, content_type = ?, "
                "checksum_algorithm = ?, checksum = ?, data_size = ? WHERE id = ?",
                (upload, package.file_name, package.content_type, algorithm, package.checksum,
                 package.data_size, key),
            )

        await self._write(op)

    async def discard_ota_upload(self, upload_id: UUID) -> None:
        """Delete an uncommitted upload's chunks."""
        upload = str(upload_id)

        def op(tx: Tx) -> None:
            if tx.conn.execute(
                "SELECT 1 FROM ota_package WHERE data_id = ?", (upload,)
            ).fetchone():
                return
            tx.conn.execute("DELETE FROM ota_package_chunk WHERE data_id = ?", (upload,))
            tx.conn.execute("DELETE FROM ota_data WHERE id = ?", (upload,))

        await self._write(op)

    async def discard_ota_uploads_before(self, ts: int) -> int:
        """Delete uncommitted uploads started before ``ts``; returns how many."""
        def op(tx: Tx) -> int:
            stale = [
                r[0] for r in tx.conn.execute(
                    "SELECT d.id FROM ota_data d WHERE d.created_time < ? AND NOT EXISTS "
                    "(SELECT 1 FROM ota_package p WHERE p.data_id = d.id)", (ts,),
                )
            ]
            for upload in stale:
                tx.conn.execute("DELETE FROM ota_package_chunk WHERE data_id = ?", (upload,))
                tx.conn.execute("DELETE FROM ota_data WHERE id = ?", (upload,))
            return len(stale)

        return await self._write(op)

    async def read_ota_data(self, package_id: UUID, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the package's data, from the covering chunks
        only, each cut in SQL so that only the wanted bytes reach Python."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        if length == 0:
            return b""
        end = offset + length
        first, last = offset // OTA_CHUNK_SIZE, (end - 1) // OTA_CHUNK_SIZE
        # For chunk n: its bytes from max(offset - n*C, 0) up to min(end - n*C, C).
        sql = (
            "SELECT substr(c.data, max(?1 - c.n * ?3, 0) + 1, "
            "min(?2 - c.n * ?3, ?3) - max(?1 - c.n * ?3, 0)) "
            "FROM ota_package p JOIN ota_package_chunk c ON c.data_id = p.data_id "
            "WHERE p.id = ?4 AND c.n BETWEEN ?5 AND ?6 ORDER BY c.n"
        )
        params = (offset, end, OTA_CHUNK_SIZE, str(package_id), first, last)

        def read(conn: sqlite3.Connection) -> bytes:
            pieces = [row[0] for row in conn.execute(sql, params)]
            return pieces[0] if len(pieces) == 1 else b"".join(pieces)

        return await self._read(read)

    async def find_devices_following_profile_ota(
        self, profile_id: UUID, package_type: OtaPackageType, after: UUID | None, limit: int
    ) -> list[Device]:
        """Devices of the profile with no package of this type of their own, by id."""
        column = _ASSIGNMENT_COLUMN[package_type]
        sql = (
            f"SELECT {DEVICE_COLUMNS} FROM device WHERE device_profile_id = ? "
            f"AND {column} IS NULL AND id > ? ORDER BY id LIMIT ?"
        )
        # Every UUID text sorts after the empty string.
        params = (str(profile_id), str(after) if after is not None else "", limit)

        def read(conn: sqlite3.Connection) -> list[Device]:
            return [_device(row) for row in conn.execute(sql, params)]

        return await self._read(read)
