"""The OTA part of the store contract: firmware and software packages and their bytes, stored
in chunks of ``OTA_CHUNK_SIZE``.

The rules of ``thingport.store.base`` hold for every method.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from uuid import UUID

from thingport.domain.model import (
    Device,
    OtaPackage,
    OtaPackageType,
    Page,
    PageLink,
)

#: OTA package bytes are stored in chunks of this many bytes (only an upload's last chunk is
#: shorter), so that chunk n holds bytes [n * OTA_CHUNK_SIZE, (n + 1) * OTA_CHUNK_SIZE).
OTA_CHUNK_SIZE = 1 << 20


class OtaStore(abc.ABC):
    """OTA packages: their info, and their bytes written as chunked uploads."""

    # -- OTA packages ----------------------------------------------------------------------------
    # A package's bytes are written as an upload: chunks staged over as many calls (and
    # transactions) as needed, invisible until commit_ota_upload attaches them to the package
    # in one transaction. An upload that fails is discarded; one abandoned by a crash is found
    # by its age.

    @abc.abstractmethod
    async def save_ota_package(self, package: OtaPackage) -> None:
        """Insert a package (its data fields as given: a URL package may carry a checksum), or
        update an existing one's additional info (nothing else of a package changes once saved;
        its bytes come with commit_ota_upload). A second package with the same title and version
        for the same profile and type raises Conflict; an unknown profile raises NotFound."""

    @abc.abstractmethod
    async def get_ota_package(self, package_id: UUID) -> OtaPackage | None:
        """The package with this id."""

    @abc.abstractmethod
    async def find_ota_packages(
        self, tenant_id: UUID, page_link: PageLink, device_profile_id: UUID | None = None,
        package_type: OtaPackageType | None = None, assignable_only: bool = False,
    ) -> Page[OtaPackage]:
        """A page of the tenant's packages (only one profile's and type's when given; with
        ``assignable_only``, only those with bytes or a URL), searched by a case-insensitive
        "contains" on the title, sorted by createdTime (default), title, version, type, tag,
        url, fileName, contentType, dataSize, checksum or checksumAlgorithm."""

    @abc.abstractmethod
    async def delete_ota_package(self, package_id: UUID) -> None:
        """Delete a package with its bytes and any upload of it in progress. Raises Conflict,
        deleting nothing, while a device or a profile is assigned it (checked in the same
        transaction as the deletion)."""

    @abc.abstractmethod
    async def write_ota_chunks(
        self, upload_id: UUID, package_id: UUID, first: int, chunks: Sequence[bytes], now: int
    ) -> None:
        """Stage chunks ``first``, ``first + 1``, ... of an upload of the package's bytes
        (the first call starts the upload, at ``now``). Every chunk is OTA_CHUNK_SIZE bytes but
        the upload's last, which may be shorter (ValueError otherwise). An unknown package
        raises NotFound."""

    @abc.abstractmethod
    async def commit_ota_upload(self, package: OtaPackage, upload_id: UUID) -> None:
        """Attach the upload's chunks to the package and save its data fields (file name,
        content type, checksum algorithm, checksum, data size) in one transaction; from then on
        the package has data. Raises NotFound when the package is gone, Conflict when it has
        bytes or a URL already, and ValueError when the staged chunks do not add up to
        ``package.data_size``; nothing changes then (discard the upload)."""

    @abc.abstractmethod
    async def discard_ota_upload(self, upload_id: UUID) -> None:
        """Delete an upload's staged chunks, unless it was committed."""

    @abc.abstractmethod
    async def discard_ota_uploads_before(self, ts: int) -> int:
        """Delete every uncommitted upload started before ``ts`` (left by a crash or a lost
        client); returns how many."""

    @abc.abstractmethod
    async def read_ota_data(self, package_id: UUID, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the package's data, cut short at its end;
        reads only the chunks that cover the range. Empty when the package has no data."""

    @abc.abstractmethod
    async def find_devices_following_profile_ota(
        self, profile_id: UUID, package_type: OtaPackageType, after: UUID | None, limit: int
    ) -> list[Device]:
        """Up to ``limit`` devices of the profile without a package of this type of their own
        (so the profile's applies to them), in id order, starting after the device ``after``."""
