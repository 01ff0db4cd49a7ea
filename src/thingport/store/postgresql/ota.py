"""OTA packages on PostgreSQL: their info, and their bytes in 1 MiB ``bytea`` chunks.

An upload's chunks are written over several calls, each a few MiB, in transactions of their
own on a pooled connection (``_transaction``): megabytes would hold a write lane and the
samples queued behind it. The chunk column is stored EXTERNAL (out of line, uncompressed), so
``substring`` reads only the TOAST pieces a range covers and ``length`` reads none. Package
info changes are ordinary group-committed writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from thingport.domain.model import Device, OtaPackage, OtaPackageType, Page, PageLink
from thingport.errors import Conflict
from thingport.store.base import OTA_CHUNK_SIZE
from thingport.store.postgresql.core import PgCore
from thingport.store.shared import paging, params, rows
from thingport.store.shared.errors import (
    OTA_DATA_PROHIBITED,
    OTA_USED_BY_DEVICES,
    OTA_USED_BY_PROFILE,
    ota_package_not_found,
)

if TYPE_CHECKING:
    import asyncpg

_U: Final = params.as_is
# Column of a device (and of a profile) holding its package of each type; fixed names.
_ASSIGNMENT_COLUMN: Final = {
    OtaPackageType.FIRMWARE: "firmware_id",
    OtaPackageType.SOFTWARE: "software_id",
}
# Chunk n's bytes from greatest(offset - n*C, 0) up to least(end - n*C, C).
_READ: Final = (
    "SELECT substring(c.data FROM (greatest($1::bigint - c.n * $3::bigint, 0) + 1)::int "
    "FOR (least($2::bigint - c.n * $3::bigint, $3::bigint) "
    "- greatest($1::bigint - c.n * $3::bigint, 0))::int) "
    "FROM ota_package p JOIN ota_package_chunk c ON c.data_id = p.data_id "
    "WHERE p.id = $4 AND c.n BETWEEN $5 AND $6 ORDER BY c.n"
)


class PgOta(PgCore):
    """The store contract's OTA packages."""

    async def save_ota_package(self, package: OtaPackage) -> None:
        """Insert a package, or update an existing one's additional info. A duplicate title and
        version (same profile and type) raises Conflict; an unknown profile NotFound."""
        args = params.ota_package(package, _U)
        placeholders = ", ".join(f"${n}" for n in range(1, len(args) + 1))

        async def op(conn: asyncpg.Connection) -> None:
            await conn.execute(
                f"INSERT INTO ota_package ({rows.OTA_INSERT_COLUMNS}) VALUES ({placeholders}) "
                "ON CONFLICT (id) DO UPDATE SET additional_info = excluded.additional_info",
                *args,
            )

        await self._write(op)

    async def get_ota_package(self, package_id: UUID) -> OtaPackage | None:
        """The package with this id."""
        return await self._one(
            f"SELECT {rows.OTA_COLUMNS} FROM ota_package WHERE id = $1", [package_id],
            rows.ota_package,
        )

    async def find_ota_packages(
        self, tenant_id: UUID, page_link: PageLink, device_profile_id: UUID | None = None,
        package_type: OtaPackageType | None = None, assignable_only: bool = False,
    ) -> Page[OtaPackage]:
        """A page of the tenant's packages, optionally of one profile and type, or only the
        assignable ones (with bytes or a URL)."""
        where = ["tenant_id = $1"]
        args: list[Any] = [tenant_id]
        if device_profile_id is not None:
            args.append(device_profile_id)
            where.append(f"device_profile_id = ${len(args)}")
        if package_type is not None:
            args.append(package_type.value)
            where.append(f"type = ${len(args)}")
        if assignable_only:
            where.append("(data_id IS NOT NULL OR url IS NOT NULL)")
        return await self._page(paging.OTA_PACKAGES, where, args, page_link, rows.ota_package)

    async def delete_ota_package(self, package_id: UUID) -> None:
        """Delete a package and all its bytes; Conflict while a device or profile uses it
        (checked in the same transaction as the deletion)."""
        async def op(conn: asyncpg.Connection) -> None:
            used = "SELECT EXISTS (SELECT 1 FROM {} WHERE firmware_id = $1 OR software_id = $1)"
            if await conn.fetchval(used.format("device"), package_id):
                raise Conflict(OTA_USED_BY_DEVICES)
            if await conn.fetchval(used.format("device_profile"), package_id):
                raise Conflict(OTA_USED_BY_PROFILE)
            # ota_data and its chunks go by their cascading foreign keys.
            await conn.execute("DELETE FROM ota_package WHERE id = $1", package_id)

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
        records = [(upload_id, n, bytes(chunk)) for n, chunk in enumerate(chunks, first)]

        async def op(conn: asyncpg.Connection) -> None:
            if not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM ota_package WHERE id = $1)", package_id
            ):
                raise ota_package_not_found(package_id)
            await conn.execute(
                "INSERT INTO ota_data (id, package_id, created_time) VALUES ($1, $2, $3) "
                "ON CONFLICT (id) DO NOTHING",
                upload_id, package_id, now,
            )
            if records:
                # Binary COPY: the bytes go over the wire once, without per-row statements.
                await conn.copy_records_to_table(
                    "ota_package_chunk", records=records, columns=("data_id", "n", "data")
                )

        await self._transaction(op)

    async def commit_ota_upload(self, package: OtaPackage, upload_id: UUID) -> None:
        """Attach the upload to the package with its data fields, in one transaction."""
        algorithm = package.checksum_algorithm.value if package.checksum_algorithm else None

        async def op(conn: asyncpg.Connection) -> None:
            row = await conn.fetchrow(
                "SELECT data_id, url FROM ota_package WHERE id = $1 FOR UPDATE", package.id
            )
            if row is None:
                raise ota_package_not_found(package.id)
            if row[0] is not None or row[1] is not None:
                raise Conflict(OTA_DATA_PROHIBITED)
            count, total, top = await conn.fetchrow(
                "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(max(n), -1) "
                "FROM ota_package_chunk WHERE data_id = $1",
                upload_id,
            )
            if total != package.data_size or count != top + 1:
                raise ValueError(
                    f"OTA upload {upload_id} holds {total} bytes in {count} chunks, "
                    f"expected {package.data_size}"
                )
            await conn.execute(
                "UPDATE ota_package SET data_id = $1, file_name = $2, content_type = $3, "
                "checksum_algorithm = $4, checksum = $5, data_size = $6 WHERE id = $7",
                upload_id, package.file_name, package.content_type, algorithm,
                package.checksum, package.data_size, package.id,
            )

        await self._write(op)

    async def discard_ota_upload(self, upload_id: UUID) -> None:
        """Delete an uncommitted upload's chunks."""
        async def op(conn: asyncpg.Connection) -> None:
            # The chunks go with ota_data (cascade).
            await conn.execute(
                "DELETE FROM ota_data d WHERE d.id = $1 AND NOT EXISTS "
                "(SELECT 1 FROM ota_package p WHERE p.data_id = d.id)",
                upload_id,
            )

        await self._transaction(op)

    async def discard_ota_uploads_before(self, ts: int) -> int:
        """Delete uncommitted uploads started before ``ts``; returns how many."""
        async def op(conn: asyncpg.Connection) -> int:
            status = await conn.execute(
                "DELETE FROM ota_data d WHERE d.created_time < $1 AND NOT EXISTS "
                "(SELECT 1 FROM ota_package p WHERE p.data_id = d.id)",
                ts,
            )
            return int(status.rsplit(" ", 1)[-1])

        return await self._transaction(op)

    async def read_ota_data(self, package_id: UUID, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the package's data, from the covering chunks
        only, each cut in SQL so that only the wanted bytes reach Python."""
        if offset < 0 or length < 0:
            raise ValueError("offset and length must not be negative")
        if length == 0:
            return b""
        end = offset + length
        first, last = offset // OTA_CHUNK_SIZE, (end - 1) // OTA_CHUNK_SIZE
        found = await self._fetch(
            _READ, offset, end, OTA_CHUNK_SIZE, package_id, first, last
        )
        pieces = [bytes(r[0]) for r in found]
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    async def find_devices_following_profile_ota(
        self, profile_id: UUID, package_type: OtaPackageType, after: UUID | None, limit: int
    ) -> list[Device]:
        """Devices of the profile with no package of this type of their own, by id."""
        column = _ASSIGNMENT_COLUMN[package_type]
        found = await self._fetch(
            f"SELECT {rows.DEVICE_COLUMNS} FROM device WHERE device_profile_id = $1 "
            f"AND {column} IS NULL AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
            profile_id, after, limit,
        )
        return [rows.device(r) for r in found]
