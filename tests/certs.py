"""Certificates made at test time: a CA, intermediates, server certificates, PEM and PKCS#12 files.

Typical use::

    ca = make_ca()
    server = ca.issue("localhost", names=("localhost", "127.0.0.1"))
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    (tmp_path / "server.pem").write_bytes(server.chain_pem())
    (tmp_path / "server_key.pem").write_bytes(server.key_pem())

Nothing here touches the code under test, so black-box tests can use it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_NAMES",
    "JKS_MAGIC",
    "Issued",
    "KeyType",
    "fake_jks_bytes",
    "make_ca",
    "new_key",
    "pkcs12_bytes",
]

KeyType = Literal["ec", "rsa"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: Names a local server certificate needs for ``https://localhost`` and ``https://127.0.0.1``.
DEFAULT_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")
#: The first four bytes of a Java KeyStore file.
JKS_MAGIC = b"\xfe\xed\xfe\xed"


def new_key(key_type: KeyType = "ec") -> PrivateKey:
    """A fresh private key: P-256 by default (fast), or RSA 2048."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Issued:
    """A certificate, its private key, and the certificates above it (issuer first, root last)."""

    cert: x509.Certificate
    key: PrivateKey
    issuers: tuple[x509.Certificate, ...] = field(default=())

    @property
    def is_ca(self) -> bool:
        """Whether this certificate may sign others."""
        return self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    def cert_pem(self) -> bytes:
        """This certificate alone, as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self, *, include_root: bool = False) -> bytes:
        """This certificate then its intermediates, as a server sends them; the root on request."""
        chain = [self.cert, *self.issuers]
        if not include_root and self.issuers:
            chain = chain[:-1]
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)

    def key_pem(self, password: bytes | None = None, *, traditional: bool = False) -> bytes:
        """The key as PEM: PKCS#8 by default, or OpenSSL's traditional format.

        With a password, PKCS#8 gives ``BEGIN ENCRYPTED PRIVATE KEY`` and the traditional
        format gives ``Proc-Type: 4,ENCRYPTED`` with a ``DEK-Info`` header.
        """
        fmt = (
            serialization.PrivateFormat.TraditionalOpenSSL
            if traditional
            else serialization.PrivateFormat.PKCS8
        )
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, fmt, encryption)

    def issue(
        self,
        common_name: str,
        *,
        names: Sequence[str] = DEFAULT_NAMES,
        ca: bool = False,
        key_type: KeyType = "ec",
        key: PrivateKey | None = None,
        valid_days: int = 2,
    ) -> Issued:
        """Sign a new certificate with this one's key: a server certificate, or an intermediate CA.

        ``names`` become the subjectAltName (IP addresses are recognised); they are ignored
        for a CA. ``key`` supplies the subject's key (e.g. a deliberately weak one) instead of
        generating one of ``key_type``.
        """
        if not self.is_ca:
            raise ValueError("only a CA certificate can issue certificates")
        if key is None:
            key = new_key(key_type)
        builder = _builder(common_name, key, self.cert.subject, valid_days)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            critical=False,
        )
        if ca:
            builder = _ca_extensions(builder)
        else:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            if names:
                builder = builder.add_extension(
                    x509.SubjectAlternativeName([_general_name(name) for name in names]),
                    critical=False,
                )
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert, key, (self.cert, *self.issuers))


def make_ca(common_name: str = "thingport test CA", *, key_type: KeyType = "ec") -> Issued:
    """A self-signed root CA."""
    key = new_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = _ca_extensions(_builder(common_name, key, name, valid_days=30))
    return Issued(builder.sign(key, hashes.SHA256()), key)


def pkcs12_bytes(
    entries: Sequence[tuple[str | None, Issued]], password: bytes, *, include_chain: bool = True
) -> bytes:
    """A PKCS#12 keystore holding one key entry per ``(alias, issued)``, all under ``password``.

    One entry is serialized by ``cryptography`` as is. Several entries (which ``cryptography``
    cannot write) are made by joining the contents of single-entry stores into one and
    computing a new SHA-256 MAC: the result reads like a ``keytool``-made multi-entry store.
    An alias of None gives an entry without a friendly name, as ``openssl pkcs12 -export``
    without ``-name`` does.
    """
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    singles = [
        pkcs12.serialize_key_and_certificates(
            alias.encode() if alias is not None else None,
            issued.key,
            issued.cert,
            list(issued.issuers) if include_chain else None,
            encryption,
        )
        for alias, issued in entries
    ]
    if len(singles) == 1:
        return singles[0]
    content_infos = b"".join(_auth_safe_items(single) for single in singles)
    return _pfx(_der(0x30, content_infos), password)


def fake_jks_bytes() -> bytes:
    """Bytes that look like a Java KeyStore to anyone reading the magic number."""
    return JKS_MAGIC + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x00" + os.urandom(32)


# --------------------------------------------------------------------------- internals


def _builder(
    common_name: str, key: PrivateKey, issuer: x509.Name, valid_days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little so that a slow clock elsewhere does not make it "not yet valid".
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _ca_extensions(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=True,
            key_encipherment=False,
            content_commitment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


# Just enough DER to take PKCS#12 files apart and put them together again.

_OID_DATA = bytes.fromhex("06092a864886f70d010701")
_OID_SHA256_ALG = bytes.fromhex("300d06096086480165030402010500")


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        header = bytes([length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([0x80 | size]) + length.to_bytes(size, "big")
    return bytes([tag]) + header + content


def _der_split(data: bytes) -> list[tuple[int, bytes]]:
    items = []
    offset = 0
    while offset < len(data):
        tag, length = data[offset], data[offset + 1]
        offset += 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(data[offset : offset + size], "big")
            offset += size
        items.append((tag, data[offset : offset + length]))
        offset += length
    return items


def _auth_safe_items(pfx: bytes) -> bytes:
    """The ContentInfo elements of a store's AuthenticatedSafe, still encoded."""
    [(_, pfx_body)] = _der_split(pfx)
    _, (_, content_info), *_ = _der_split(pfx_body)
    _, (_, explicit) = _der_split(content_info)
    [(_, octets)] = _der_split(explicit)
    [(_, auth_safe)] = _der_split(octets)
    return b"".join(_der(tag, body) for tag, body in _der_split(auth_safe))


def _pfx(auth_safe: bytes, password: bytes) -> bytes:
    salt = os.urandom(16)
    iterations = 2048
    mac_key = _pkcs12_kdf(password, salt, iterations, purpose=3, size=32)
    mac = hmac.new(mac_key, auth_safe, hashlib.sha256).digest()
    mac_data = _der(
        0x30,
        _der(0x30, _OID_SHA256_ALG + _der(0x04, mac))
        + _der(0x04, salt)
        + _der(0x02, iterations.to_bytes(2, "big")),
    )
    content_info = _der(0x30, _OID_DATA + _der(0xA0, _der(0x04, auth_safe)))
    return _der(0x30, _der(0x02, b"\x03") + content_info + mac_data)


def _pkcs12_kdf(password: bytes, salt: bytes, iterations: int, purpose: int, size: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-256, which a PKCS#12 MAC key is derived with."""
    u, v = 32, 64

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        length = v * ((len(data) + v - 1) // v)
        return (data * (length // len(data) + 1))[:length]

    bmp = password.decode().encode("utf-16-be") + b"\x00\x00"
    block = stretch(salt) + stretch(bmp)
    out = b""
    while len(out) < size:
        digest = bytes([purpose]) * v + block
        for _ in range(iterations):
            digest = hashlib.sha256(digest).digest()
        out += digest
        b = int.from_bytes((digest * (v // u + 1))[:v], "big")
        block = b"".join(
            ((int.from_bytes(block[i : i + v], "big") + b + 1) % (1 << (v * 8))).to_bytes(v, "big")
            for i in range(0, len(block), v)
        )
    return out[:size]
