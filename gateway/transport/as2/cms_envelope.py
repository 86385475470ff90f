"""CMS EnvelopedData (RFC 5652, KeyTransRecipientInfo with RSA v1.5 or OAEP; 3DES/AES-CBC content) and
CompressedData (RFC 3274, zlib)."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
from cryptography.hazmat.primitives.ciphers import modes

from gateway.transport.as2 import der, filebuf
from gateway.transport.as2.algorithms import (
    CIPHER_BY_OID,
    DIGEST_BY_OID,
    ID_COMPRESSED_DATA,
    ID_DATA,
    ID_ENVELOPED_DATA,
    ID_ZLIB,
    MGF1,
    RSA_ENCRYPTION,
    RSAES_OAEP,
    Cipher,
    hash_for,
)
from gateway.transport.as2.errors import DecompressionFailed, DecryptionFailed
from gateway.transport.as2.filebuf import FileView, read_ranges
from gateway.transport.as2.profiles import KeyPair, cert_facts

_OAEP_SHA1 = der.seq(der.enc_oid(RSAES_OAEP), der.seq())  # RFC 4055 default parameters (SHA-1)


def envelope(content: bytes, cert: x509.Certificate, cipher: Cipher, key_enc: str) -> bytes:
    """A DER ContentInfo holding an EnvelopedData of ``content`` for the holder of ``cert``."""
    key, iv = os.urandom(cipher.key_size), os.urandom(cipher.block)
    pad = cipher.block - len(content) % cipher.block
    enc = _Cipher(cipher.algorithm(key), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(content) + enc.update(bytes([pad]) * pad) + enc.finalize()
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("only RSA certificates can be encrypted to")
    if key_enc == "rsaes_oaep":
        oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
        wrapped, alg = public.encrypt(key, oaep), _OAEP_SHA1
    else:
        wrapped, alg = (
            public.encrypt(key, padding.PKCS1v15()),
            der.seq(der.enc_oid(RSA_ENCRYPTION), der.ENC_NULL),
        )
    rid = der.seq(cert.issuer.public_bytes(), der.enc_int(cert.serial_number))
    ktri = der.seq(der.enc_int(0), rid, alg, der.enc_octets(wrapped))
    eci = der.seq(
        der.enc_oid(ID_DATA),
        der.seq(der.enc_oid(cipher.oid), der.enc_octets(iv)),
        der.tlv(0x80, ciphertext),
    )
    body = der.seq(der.enc_int(0), der.set_of(ktri), eci)
    return der.seq(der.enc_oid(ID_ENVELOPED_DATA), der.tlv(0xA0, body))


@dataclass(frozen=True, slots=True)
class Opened:
    content: bytes
    cipher: str  # canonical cipher name, e.g. "aes_128_cbc"
    key_enc: str  # "rsaes_pkcs1v15" or "rsaes_oaep"
    keypair: KeyPair


@dataclass(frozen=True, slots=True)
class _Recipient:
    rid: tuple[bytes, int] | bytes
    oaep: padding.OAEP | None
    wrapped: bytes


def _content_info(buf: bytes, oid: str, what: str) -> der.Node:
    outer = der.items(buf, der.top(buf), der.SEQUENCE)
    if len(outer) != 2 or der.oid_str(buf, outer[0]) != oid or outer[1][0] != 0xA0:
        raise der.DerError(f"not a CMS {what}")
    return der.items(buf, outer[1])[0]


def _oaep(buf: bytes, params: der.Node | None) -> padding.OAEP:
    h = mgf_h = "sha1"
    if params is not None:
        for p in der.children(buf, params):
            if p[0] == 0xA0:
                h = DIGEST_BY_OID.get(der.oid_str(buf, der.items(buf, der.items(buf, p)[0])[0]), "")
            elif p[0] == 0xA1:
                mgf = der.items(buf, der.items(buf, p)[0])
                if der.oid_str(buf, mgf[0]) != MGF1:
                    raise DecryptionFailed("unsupported OAEP mask generation function")
                mgf_h = DIGEST_BY_OID.get(der.oid_str(buf, der.items(buf, mgf[1])[0]), "")
            elif p[0] == 0xA2:
                raise DecryptionFailed("OAEP labels are not supported")
    if not h or not mgf_h:
        raise DecryptionFailed("unsupported OAEP digest")
    return padding.OAEP(padding.MGF1(hash_for(mgf_h)), hash_for(h), None)


def _parse_envelope(buf: bytes) -> tuple[list[_Recipient], Cipher, bytes, der.Node]:
    """Recipients, content cipher, IV and the encryptedContent node (read it with ``der.octets`` or,
    for a file, ``der.segments``)."""
    env = der.items(buf, _content_info(buf, ID_ENVELOPED_DATA, "EnvelopedData"), der.SEQUENCE)
    i = 2 if len(env) > 1 and env[1][0] == 0xA0 else 1  # skip originatorInfo
    if len(env) < i + 2:
        raise der.DerError("EnvelopedData too short")
    recipients = []
    for ri in der.children(buf, der.expect(env[i], der.SET, "recipientInfos")):
        if ri[0] != der.SEQUENCE:  # kari [1], kekri [2], pwri [3], ori [4]: not for RSA
            continue
        f = der.items(buf, ri)
        if len(f) != 4:
            raise der.DerError("KeyTransRecipientInfo must have four fields")
        if f[1][0] == der.SEQUENCE:
            ias = der.items(buf, f[1])
            rid: tuple[bytes, int] | bytes = (der.raw(buf, ias[0]), der.integer(buf, ias[1]))
        else:
            rid = der.octets(buf, der.expect(f[1], 0x80, "subjectKeyIdentifier"))
        alg = der.items(buf, f[2], der.SEQUENCE)
        a_oid = der.oid_str(buf, alg[0])
        if a_oid == RSAES_OAEP:
            oaep: padding.OAEP | None = _oaep(
                buf, alg[1] if len(alg) > 1 and alg[1][0] == der.SEQUENCE else None
            )
        elif a_oid == RSA_ENCRYPTION:
            oaep = None
        else:
            continue
        recipients.append(
            _Recipient(rid, oaep, der.octets(buf, der.expect(f[3], der.OCTET_STRING, "encryptedKey")))
        )
    eci = der.items(buf, der.expect(env[i + 1], der.SEQUENCE, "encryptedContentInfo"))
    if len(eci) < 3 or eci[2][0] not in (0x80, 0xA0):
        raise der.DerError("EnvelopedData carries no encrypted content")
    alg = der.items(buf, eci[1], der.SEQUENCE)
    c_oid = der.oid_str(buf, alg[0])
    cipher = CIPHER_BY_OID.get(c_oid)
    if cipher is None:
        raise DecryptionFailed(f"unsupported content encryption algorithm {c_oid}")
    if len(alg) < 2:
        raise der.DerError("content encryption algorithm without an IV")
    iv = der.octets(buf, der.expect(alg[1], der.OCTET_STRING, "IV"))
    if len(iv) != cipher.block:
        raise der.DerError("IV has the wrong length")
    return recipients, cipher, iv, eci[2]


def _matches(rid: tuple[bytes, int] | bytes, cert: x509.Certificate) -> bool:
    if isinstance(rid, tuple):
        facts = cert_facts(cert)
        return rid[1] == facts[3] and rid[0] == facts[2]
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == rid
    except x509.ExtensionNotFound:
        return False


def _decrypt(cipher: Cipher, key: bytes, iv: bytes, ciphertext: bytes) -> bytes | None:
    if len(key) != cipher.key_size or not ciphertext or len(ciphertext) % cipher.block:
        return None
    dec = _Cipher(cipher.algorithm(key), modes.CBC(iv)).decryptor()
    plain = dec.update(ciphertext) + dec.finalize()
    pad = plain[-1]
    if not 1 <= pad <= cipher.block or plain[-pad:] != bytes([pad]) * pad:
        return None
    return plain[:-pad]


def _pairs(keypairs: Sequence[KeyPair], recipients: list[_Recipient]) -> list[tuple[KeyPair, _Recipient]]:
    """Every (key of ours, recipient) pair, those where the recipient names the key first."""
    if not recipients:
        raise DecryptionFailed("no RSA key-transport recipient in the EnvelopedData")
    return sorted(
        ((kp, r) for kp in keypairs for r in recipients), key=lambda p: not _matches(p[1].rid, p[0].cert)
    )


def _unwrapped(keypairs: Sequence[KeyPair], recipients: list[_Recipient]) -> Iterator[tuple[KeyPair, bytes, str]]:
    """(key pair, content-encryption key, key transport name) for every pair whose RSA unwrap works."""
    for kp, r in _pairs(keypairs, recipients):
        try:
            key = kp.key.decrypt(r.wrapped, r.oaep or padding.PKCS1v15())
        except ValueError:
            continue
        yield kp, key, "rsaes_oaep" if r.oaep else "rsaes_pkcs1v15"


def open_envelope(data: bytes, keypairs: Sequence[KeyPair]) -> Opened:
    """Decrypt with every key of ours (the recipient that names the key first, then the others)."""
    try:
        recipients, cipher, iv, node = _parse_envelope(data)
        ciphertext = der.octets(data, node)
    except der.DerError as e:
        raise DecryptionFailed(f"malformed EnvelopedData: {e}") from None
    for kp, key, transport in _unwrapped(keypairs, recipients):
        plain = _decrypt(cipher, key, iv, ciphertext)
        if plain is not None:
            return Opened(plain, cipher.name, transport, kp)
    raise DecryptionFailed("no key of ours decrypts this message (or its ciphertext was altered)")


def describe(data: bytes) -> tuple[str, str]:
    """(cipher, key transport of the first RSA recipient) named in an EnvelopedData, without
    decrypting it. Raises ``DerError``/``DecryptionFailed`` when it cannot be read."""
    recipients, cipher, _, _ = _parse_envelope(data)
    return cipher.name, "rsaes_oaep" if recipients and recipients[0].oaep else "rsaes_pkcs1v15"


def compress(content: bytes) -> bytes:
    """A DER ContentInfo holding a CompressedData (zlib) of ``content``."""
    body = der.seq(
        der.enc_int(0),
        der.seq(der.enc_oid(ID_ZLIB)),
        der.seq(der.enc_oid(ID_DATA), der.tlv(0xA0, der.enc_octets(zlib.compress(content)))),
    )
    return der.seq(der.enc_oid(ID_COMPRESSED_DATA), der.tlv(0xA0, body))


def _packed(data: bytes) -> der.Node:
    """The OCTET STRING node holding the zlib stream of a CompressedData."""
    cd = der.items(data, _content_info(data, ID_COMPRESSED_DATA, "CompressedData"), der.SEQUENCE)
    if len(cd) != 3 or der.oid_str(data, der.items(data, cd[1], der.SEQUENCE)[0]) != ID_ZLIB:
        raise DecompressionFailed("CompressedData does not use zlib")
    encap = der.items(data, cd[2], der.SEQUENCE)
    if len(encap) != 2 or encap[1][0] != 0xA0:
        raise DecompressionFailed("CompressedData carries no content")
    return der.items(data, encap[1])[0]


def decompress(data: bytes, limit: int) -> bytes:
    """The content of a CompressedData, refusing to inflate past ``limit`` bytes."""
    try:
        packed = der.octets(data, _packed(data))
    except der.DerError as e:
        raise DecompressionFailed(f"malformed CompressedData: {e}") from None
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(packed, limit + 1)
    except zlib.error as e:
        raise DecompressionFailed(f"zlib: {e}") from None
    if len(out) > limit:
        raise DecompressionFailed(f"decompressed content exceeds {limit} bytes")
    if not inflater.eof:
        raise DecompressionFailed("zlib stream is truncated")
    return out


# ---- the same, from a file into a file (large messages: a chunk at a time) ----


def open_envelope_file(view: FileView, keypairs: Sequence[KeyPair], out: BinaryIO) -> Opened:
    """``open_envelope`` for an EnvelopedData in a file: the plaintext is written to ``out`` (from its
    start; ``Opened.content`` is empty). Memory stays at a chunk whatever the size."""
    try:
        recipients, cipher, iv, node = _parse_envelope(view)  # type: ignore[arg-type]
        ranges = [(view.start + a, view.start + b) for a, b in der.segments(view, node)]  # type: ignore[arg-type]
    except der.DerError as e:
        raise DecryptionFailed(f"malformed EnvelopedData: {e}") from None
    for kp, key, transport in _unwrapped(keypairs, recipients):
        if _decrypt_to(cipher, key, iv, view.fd, ranges, out):
            return Opened(b"", cipher.name, transport, kp)
    raise DecryptionFailed("no key of ours decrypts this message (or its ciphertext was altered)")


def _decrypt_to(
    cipher: Cipher, key: bytes, iv: bytes, fd: int, ranges: list[tuple[int, int]], out: BinaryIO
) -> bool:
    total = sum(b - a for a, b in ranges)
    if len(key) != cipher.key_size or not total or total % cipher.block:
        return False
    out.seek(0)
    out.truncate()
    dec = _Cipher(cipher.algorithm(key), modes.CBC(iv)).decryptor()
    blk, held = cipher.block, b""  # the last block is held back: it carries the padding
    for chunk in read_ranges(fd, ranges):
        plain = dec.update(chunk)
        if len(plain) >= blk:
            out.write(held)
            out.write(memoryview(plain)[:-blk])
            held = plain[-blk:]
        else:
            held += plain
            if len(held) > blk:
                out.write(held[:-blk])
                held = held[-blk:]
    held += dec.finalize()
    pad = held[-1]
    if len(held) != blk or not 1 <= pad <= blk or held[-pad:] != bytes([pad]) * pad:
        return False
    out.write(held[:-pad])
    out.flush()
    return True


def decompress_file(view: FileView, limit: int, out: BinaryIO) -> int:
    """``decompress`` for a CompressedData in a file, inflating into ``out``; the size written."""
    try:
        ranges = [(view.start + a, view.start + b) for a, b in der.segments(view, _packed(view))]  # type: ignore[arg-type]
    except der.DerError as e:
        raise DecompressionFailed(f"malformed CompressedData: {e}") from None
    inflater = zlib.decompressobj()
    written = 0
    try:
        for chunk in read_ranges(view.fd, ranges):
            while chunk and not inflater.eof:
                data = inflater.decompress(chunk, filebuf.CHUNK)
                written += len(data)
                if written > limit:
                    raise DecompressionFailed(f"decompressed content exceeds {limit} bytes")
                out.write(data)
                chunk = inflater.unconsumed_tail
        rest = inflater.flush()
        written += len(rest)
        if written > limit:
            raise DecompressionFailed(f"decompressed content exceeds {limit} bytes")
        out.write(rest)
    except zlib.error as e:
        raise DecompressionFailed(f"zlib: {e}") from None
    if not inflater.eof:
        raise DecompressionFailed("zlib stream is truncated")
    out.flush()
    return written
