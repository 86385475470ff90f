"""CMS SignedData (RFC 5652) for detached S/MIME signatures: build with signed attributes, and verify
against a list of candidate certificates. The parsing is the strict reader in ``der``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from gateway.transport.as2 import der
from gateway.transport.as2.algorithms import (
    ATTR_CONTENT_TYPE,
    ATTR_MESSAGE_DIGEST,
    ATTR_SIGNING_TIME,
    ATTR_SMIME_CAPS,
    CIPHERS,
    DIGEST_BY_OID,
    DIGESTS,
    ID_DATA,
    ID_SIGNED_DATA,
    MGF1,
    RSA_ENCRYPTION,
    RSASSA_PSS,
    SIG_WITH_DIGEST,
    hash_for,
)
from gateway.transport.as2.errors import AuthenticationFailed, IntegrityCheckFailed, MalformedMessage
from gateway.transport.as2.profiles import KeyPair, cert_facts, cert_valid_at

_SMIME_CAPS = der.seq(
    *(
        der.seq(der.enc_oid(CIPHERS[n].oid))
        for n in ("aes_256_cbc", "aes_192_cbc", "aes_128_cbc", "tripledes_192_cbc")
    )
)


@lru_cache(maxsize=16)
def _digest_alg_id(name: str) -> bytes:
    return der.seq(der.enc_oid(DIGESTS[name][0]), der.ENC_NULL)


@lru_cache(maxsize=16)
def _pss_alg_id(name: str) -> bytes:
    h = _digest_alg_id(name)
    params = der.seq(
        der.tlv(0xA0, h),
        der.tlv(0xA1, der.seq(der.enc_oid(MGF1), h)),
        der.tlv(0xA2, der.enc_int(DIGESTS[name][1].digest_size)),  # type: ignore[arg-type]  # hash classes set digest_size as a class attribute
    )
    return der.seq(der.enc_oid(RSASSA_PSS), params)


def _issuer_serial(cert: x509.Certificate) -> bytes:
    facts = cert_facts(cert)
    return der.seq(facts[2], der.enc_int(facts[3]))


def sign_detached(content: bytes, signer: KeyPair, digest: str, scheme: str, now: datetime) -> bytes:
    """A DER ContentInfo holding a SignedData whose signature covers ``content`` (detached)."""
    md = hashlib.new(digest, content).digest()
    attrs = [
        der.seq(der.enc_oid(ATTR_CONTENT_TYPE), der.set_of(der.enc_oid(ID_DATA))),
        der.seq(
            der.enc_oid(ATTR_SIGNING_TIME),
            der.set_of(der.tlv(der.UTC_TIME, now.strftime("%y%m%d%H%M%SZ").encode())),
        ),
        der.seq(der.enc_oid(ATTR_MESSAGE_DIGEST), der.set_of(der.enc_octets(md))),
        der.seq(der.enc_oid(ATTR_SMIME_CAPS), der.set_of(_SMIME_CAPS)),
    ]
    signed_attrs = der.set_of(*attrs)
    h = hash_for(digest)
    if scheme == "pss":
        pad: padding.AsymmetricPadding = padding.PSS(padding.MGF1(h), h.digest_size)
        sig_alg = _pss_alg_id(digest)
    else:
        pad, sig_alg = padding.PKCS1v15(), der.seq(der.enc_oid(RSA_ENCRYPTION), der.ENC_NULL)
    signature = signer.key.sign(signed_attrs, pad, h)
    signer_info = der.seq(
        der.enc_int(1),
        _issuer_serial(signer.cert),
        _digest_alg_id(digest),
        b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT SET OF Attribute
        sig_alg,
        der.enc_octets(signature),
    )
    signed_data = der.seq(
        der.enc_int(1),
        der.set_of(_digest_alg_id(digest)),
        der.seq(der.enc_oid(ID_DATA)),
        der.tlv(0xA0, cert_facts(signer.cert)[4]),
        der.set_of(signer_info),
    )
    return der.seq(der.enc_oid(ID_SIGNED_DATA), der.tlv(0xA0, signed_data))


class Digestible(Protocol):
    """Content too large to hold: its digest under a hash name, computed by reading it."""

    def digest(self, name: str) -> bytes: ...


Candidate = Union[bytes, Digestible]  # noqa: UP007  (a runtime alias)


@dataclass(frozen=True, slots=True)
class Verified:
    digest: str  # canonical digest name of the signature
    content: Candidate  # the candidate content the signature covers (raw or canonicalised)
    cert: x509.Certificate
    content_digest: bytes | None = None  # hash of ``content`` under ``digest``, when computed


@dataclass(slots=True)
class _Signer:
    sid: tuple[bytes, int] | bytes  # (issuer DER, serial) or subject key identifier
    digest: str
    message_digest: bytes | None
    signed_attrs: bytes | None  # DER, re-tagged as SET, ready to verify
    sig_oid: str
    sig_params: der.Node | None
    signature: bytes


def _parse(sig: bytes) -> tuple[bytes, list[_Signer]]:
    try:
        outer = der.items(sig, der.top(sig), der.SEQUENCE)
        if len(outer) != 2 or der.oid_str(sig, outer[0]) != ID_SIGNED_DATA or outer[1][0] != 0xA0:
            raise MalformedMessage("signature is not a CMS SignedData")
        sd = der.items(sig, der.items(sig, outer[1])[0], der.SEQUENCE)
        if len(sd) < 4:
            raise MalformedMessage("SignedData too short")
        encap = der.items(sig, sd[2], der.SEQUENCE)
        if len(encap) > 1:
            raise MalformedMessage("signature is not detached (it carries its content)")
        signers = [
            _parse_signer(sig, n) for n in der.children(sig, der.expect(sd[-1], der.SET, "signerInfos"))
        ]
    except der.DerError as e:
        raise MalformedMessage(f"signature: {e}") from None
    if not signers:
        raise MalformedMessage("SignedData has no signer")
    return sig, signers


def _parse_signer(buf: bytes, node: der.Node) -> _Signer:
    f = der.items(buf, node, der.SEQUENCE)
    if len(f) < 5:
        raise MalformedMessage("SignerInfo too short")
    if f[1][0] == der.SEQUENCE:
        ias = der.items(buf, f[1])
        sid: tuple[bytes, int] | bytes = (der.raw(buf, ias[0]), der.integer(buf, ias[1]))
    elif f[1][0] == 0x80:
        sid = der.octets(buf, f[1])
    else:
        raise MalformedMessage("unknown SignerIdentifier")
    d_oid = der.oid_str(buf, der.items(buf, f[2], der.SEQUENCE)[0])
    digest = DIGEST_BY_OID.get(d_oid)
    if digest is None:
        raise AuthenticationFailed(f"unsupported signature digest {d_oid}")
    i, md, attrs = 3, None, None
    if f[3][0] == 0xA0:
        attrs = b"\x31" + der.raw(buf, f[3])[1:]
        for a in der.children(buf, f[3]):
            at = der.items(buf, a, der.SEQUENCE)
            if len(at) != 2:
                raise MalformedMessage("malformed signed attribute")
            oid = der.oid_str(buf, at[0])
            if oid not in (ATTR_MESSAGE_DIGEST, ATTR_CONTENT_TYPE):
                continue  # signing time, capabilities, ...: covered by the signature, not needed here
            values = der.items(buf, at[1], der.SET)
            if len(values) != 1:
                raise MalformedMessage("signed attribute must have exactly one value")
            if oid == ATTR_MESSAGE_DIGEST:
                md = der.octets(buf, der.expect(values[0], der.OCTET_STRING, "message-digest"))
            elif der.oid_str(buf, values[0]) != ID_DATA:
                raise MalformedMessage("signed content-type attribute is not id-data")
        if md is None:
            raise MalformedMessage("signed attributes without a message-digest")
        i = 4
    alg = der.items(buf, f[i], der.SEQUENCE)
    sig_oid = der.oid_str(buf, alg[0])
    params = alg[1] if len(alg) > 1 and alg[1][0] == der.SEQUENCE else None
    signature = der.octets(buf, der.expect(f[i + 1], der.OCTET_STRING, "signature"))
    return _Signer(sid, digest, md, attrs, sig_oid, params, signature)


def _padding(buf: bytes, s: _Signer) -> tuple[padding.AsymmetricPadding, str]:
    if s.sig_oid == RSA_ENCRYPTION or SIG_WITH_DIGEST.get(s.sig_oid) == s.digest:
        return padding.PKCS1v15(), s.digest
    if s.sig_oid != RSASSA_PSS:
        raise AuthenticationFailed(f"unsupported signature algorithm {s.sig_oid}")
    h, mgf_h = s.digest, None
    if s.sig_params is not None:  # RSASSA-PSS-params: [0] hash, [1] MGF (salt is auto-detected)
        for p in der.children(buf, s.sig_params):
            if p[0] == 0xA0:
                h = DIGEST_BY_OID.get(der.oid_str(buf, der.items(buf, der.items(buf, p)[0])[0]), "")
            elif p[0] == 0xA1:
                mgf = der.items(buf, der.items(buf, p)[0])
                mgf_h = DIGEST_BY_OID.get(der.oid_str(buf, der.items(buf, mgf[1])[0]), "")
        if s.sig_params[1] == s.sig_params[2]:  # empty params: RFC 4055 defaults
            h = mgf_h = "sha1"
    if not h or mgf_h == "":
        raise AuthenticationFailed("unsupported RSASSA-PSS parameters")
    return padding.PSS(padding.MGF1(hash_for(mgf_h or h)), padding.PSS.AUTO), h


def _matches(s: _Signer, cert: x509.Certificate) -> bool:
    if isinstance(s.sid, tuple):
        facts = cert_facts(cert)
        return s.sid[1] == facts[3] and s.sid[0] == facts[2]
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == s.sid
    except x509.ExtensionNotFound:
        return False


def _digest(c: Candidate, name: str) -> bytes:
    return hashlib.new(name, c).digest() if isinstance(c, bytes) else c.digest(name)


def verify_detached(
    sig: bytes, candidates: Sequence[Candidate], certs: Sequence[x509.Certificate], now: datetime
) -> Verified:
    """Check that a partner certificate valid at ``now`` signed one of the ``candidates`` (raw first,
    then canonical forms): ``bytes``, or objects that hash a file's content (``Digestible``). Raises IntegrityCheckFailed when no candidate matches the signed digest,
    AuthenticationFailed when no certificate verifies the signature."""
    buf, signers = _parse(sig)
    if not certs:
        raise AuthenticationFailed("no certificate configured for this partner")
    expired_hit = False
    for s in signers:
        try:
            pad, h = _padding(buf, s)
        except der.DerError as e:
            raise MalformedMessage(f"signature parameters: {e}") from None
        if s.message_digest is not None:
            content = next((c for c in candidates if _digest(c, s.digest) == s.message_digest), None)
            if content is None:
                raise IntegrityCheckFailed(f"content does not match the signed {s.digest} message digest")
            options: list[tuple[bytes | None, Candidate]] = [(s.signed_attrs, content)]
        else:  # the signature is over the content itself: a file's content is verified by its hash
            options = [(c if isinstance(c, bytes) else None, c) for c in candidates]
        ordered = sorted(certs, key=lambda c: not _matches(s, c))
        for cert in ordered:
            key = cert_facts(cert)[5]
            if not isinstance(key, rsa.RSAPublicKey):
                continue
            for data, content in options:
                try:
                    if data is None and not isinstance(content, bytes):
                        key.verify(s.signature, content.digest(h), pad, Prehashed(hash_for(h)))
                    else:
                        key.verify(s.signature, data or b"", pad, hash_for(h))
                except (InvalidSignature, ValueError):
                    continue
                if cert_valid_at(cert, now):
                    return Verified(s.digest, content, cert, s.message_digest)
                expired_hit = True
    if expired_hit:
        raise AuthenticationFailed("signed with a partner certificate that is not valid now")
    raise AuthenticationFailed("signature does not verify with any certificate of this partner")
