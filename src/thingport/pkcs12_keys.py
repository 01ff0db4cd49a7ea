"""The key entries of a PKCS#12 keystore, found by a minimal DER walk.

``cryptography``'s ``load_pkcs12`` returns only the first key of a store, and ``SSL_KEY_ALIAS``
must be able to pick another one. This reads only the unencrypted layers, where keytool and
openssl put their (password-protected) key bags; ``thingport.tls`` decrypts the chosen one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

__all__ = ["KeyBag", "pkcs12_key_bags"]


_OID_DATA: Final = bytes.fromhex("2a864886f70d010701")
_OID_KEY_BAG: Final = bytes.fromhex("2a864886f70d010c0a0101")
_OID_SHROUDED_KEY_BAG: Final = bytes.fromhex("2a864886f70d010c0a0102")
_OID_SAFE_CONTENTS_BAG: Final = bytes.fromhex("2a864886f70d010c0a0106")
_OID_FRIENDLY_NAME: Final = bytes.fromhex("2a864886f70d010914")
_SEQUENCE, _SET, _OCTET_STRING, _INTEGER, _OID, _BMP_STRING, _EXPLICIT_0 = (
    0x30, 0x31, 0x04, 0x02, 0x06, 0x1E, 0xA0,
)  # fmt: skip


@dataclass(frozen=True)
class KeyBag:
    """One key entry: its alias (friendly name), and its DER."""

    name: str | None
    der: bytes = field(repr=False)  # PrivateKeyInfo, or EncryptedPrivateKeyInfo if shrouded
    shrouded: bool


class _DerError(ValueError):
    pass


@dataclass(frozen=True)
class _Tlv:
    tag: int
    value: bytes
    encoded: bytes


def _der_items(data: bytes) -> Iterator[_Tlv]:
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise _DerError("truncated")
        tag, length = data[offset], data[offset + 1]
        start = offset + 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4:  # 0 is BER indefinite length, which DER forbids
                raise _DerError("unsupported length")
            length = int.from_bytes(data[start : start + count], "big")
            start += count
        end = start + length
        if end > len(data):
            raise _DerError("truncated")
        yield _Tlv(tag, data[start:end], data[offset:end])
        offset = end


def _der_children(tlv: _Tlv, *tags: int) -> list[_Tlv]:
    children = list(_der_items(tlv.value))
    if len(children) < len(tags) or any(c.tag != t for c, t in zip(children, tags, strict=False)):
        raise _DerError("unexpected structure")
    return children


def _der_one(data: bytes, tag: int) -> _Tlv:
    items = list(_der_items(data))
    if len(items) != 1 or items[0].tag != tag:
        raise _DerError("unexpected structure")
    return items[0]


def _data_content(content_info: _Tlv) -> bytes | None:
    """The octets of a ``data`` ContentInfo, or None for other (e.g. encrypted) content types."""
    oid, explicit = _der_children(content_info, _OID, _EXPLICIT_0)[:2]
    if oid.value != _OID_DATA:
        return None
    return _der_one(explicit.value, _OCTET_STRING).value


def pkcs12_key_bags(data: bytes) -> list[KeyBag] | None:
    """Key bags of a PKCS#12 file, or None when ``data`` is not a (DER) PKCS#12 file."""
    try:
        pfx = _der_one(data, _SEQUENCE)
        version, auth_safe = _der_children(pfx, _INTEGER, _SEQUENCE)[:2]
        if version.value != b"\x03":
            return None
        auth_octets = _data_content(auth_safe)
        if auth_octets is None:  # public-key integrity mode; nobody uses it
            return None
        bags: list[KeyBag] = []
        for content_info in _der_children(_der_one(auth_octets, _SEQUENCE)):
            if content_info.tag != _SEQUENCE:
                raise _DerError("unexpected structure")
            safe_contents = _data_content(content_info)
            if safe_contents is not None:
                _collect_bags(_der_one(safe_contents, _SEQUENCE), bags, depth=0)
        return bags
    except _DerError:
        return None


def _collect_bags(safe_contents: _Tlv, bags: list[KeyBag], depth: int) -> None:
    if depth > 4:
        raise _DerError("too deep")
    for safe_bag in _der_children(safe_contents):
        parts = _der_children(safe_bag, _OID, _EXPLICIT_0)
        bag_id, explicit = parts[0].value, parts[1]
        if bag_id == _OID_SAFE_CONTENTS_BAG:
            _collect_bags(_der_one(explicit.value, _SEQUENCE), bags, depth + 1)
        elif bag_id in (_OID_KEY_BAG, _OID_SHROUDED_KEY_BAG):
            value = _der_one(explicit.value, _SEQUENCE)
            name = _friendly_name(parts[2]) if len(parts) > 2 and parts[2].tag == _SET else None
            bags.append(KeyBag(name, value.encoded, bag_id == _OID_SHROUDED_KEY_BAG))


def _friendly_name(attributes: _Tlv) -> str | None:
    for attribute in _der_children(attributes):
        oid, values = _der_children(attribute, _OID, _SET)[:2]
        if oid.value == _OID_FRIENDLY_NAME:
            for value in _der_children(values):
                if value.tag == _BMP_STRING:
                    return value.value.decode("utf-16-be", "replace")
    return None
