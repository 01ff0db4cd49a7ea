"""OTA package checksums, computed incrementally and written as ThingsBoard writes them.

ThingsBoard hashes with Guava and stores ``HashCode.toString()``: lowercase hex of the hash's
bytes. For MD5 and the SHA family those are the usual digests. For CRC32 and MurmurHash3 Guava
builds the hash code from integers in little-endian order, so CRC32 ``0x12345678`` is written
``78563412``; ThingsBoard's device SDKs reverse the bytes of the integer they compute before
comparing, so they expect exactly that.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Protocol

import mmh3

from thingport.domain.model import ChecksumAlgorithm


class Hasher(Protocol):
    """A running checksum: feed it the data in pieces, then read it as text."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class _Crc32:
    """CRC32 over pieces, in Guava's little-endian byte order."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def hexdigest(self) -> str:
        return self._value.to_bytes(4, "little").hex()


class _Murmur3:
    """mmh3's streaming hashers already give Guava's bytes: MurmurHash3 x86_32 as a little-endian
    integer, x64_128 as h1 then h2, each little-endian."""

    def __init__(self, bits: int) -> None:
        self._hasher = mmh3.mmh3_32() if bits == 32 else mmh3.mmh3_x64_128()

    def update(self, data: bytes, /) -> None:
        self._hasher.update(data)

    def hexdigest(self) -> str:
        return self._hasher.digest().hex()


_HASHLIB = {
    ChecksumAlgorithm.MD5: "md5",
    ChecksumAlgorithm.SHA256: "sha256",
    ChecksumAlgorithm.SHA384: "sha384",
    ChecksumAlgorithm.SHA512: "sha512",
}


def new_hasher(algorithm: ChecksumAlgorithm) -> Hasher:
    """An empty running checksum of ``algorithm``."""
    if algorithm in _HASHLIB:
        return hashlib.new(_HASHLIB[algorithm])
    if algorithm is ChecksumAlgorithm.CRC32:
        return _Crc32()
    if algorithm is ChecksumAlgorithm.MURMUR3_32:
        return _Murmur3(32)
    if algorithm is ChecksumAlgorithm.MURMUR3_128:
        return _Murmur3(128)
    raise ValueError(f"Unsupported checksum algorithm: {algorithm}")


def checksum(algorithm: ChecksumAlgorithm, data: bytes) -> str:
    """The checksum of ``data`` in one go, as ThingsBoard writes it."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()
