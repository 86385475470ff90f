"""Small frozen descriptions of us and of a partner, as the codecs need them.

They hold ``cryptography`` objects; pickling (for the codec process pool) goes through DER, and
unpickling parses each key or certificate once per process (an RSA private key takes ~40 ms to load
with its consistency checks, so the cache matters).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.transport.as2.algorithms import cipher_for, digest_name

KEY_ENC = ("rsaes_pkcs1v15", "rsaes_oaep")
SIG_SCHEMES = ("pkcs1v15", "pss")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """One certificate of ours with its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def __reduce__(self) -> tuple[object, tuple[bytes, bytes]]:
        return _keypair, (_cert_der(self.cert), _key_der(self.key))

    def valid_at(self, now: datetime) -> bool:
        return cert_valid_at(self.cert, now)


@dataclass(frozen=True, slots=True)
class MdnOptions:
    mode: str = "sync"  # "sync", "async" or "none"
    signed: bool = True
    url: str | None = None  # where an async MDN goes (our URL, sent as Receipt-Delivery-Option)


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    as2_id: str
    keys: tuple[KeyPair, ...]
    domain: str = "acorn-gateway.local"  # right-hand side of the Message-IDs we make
    user_agent: str = "Acorn EDI Gateway"


@dataclass(frozen=True, slots=True)
class PartnerProfile:
    as2_id: str
    certificates: tuple[x509.Certificate, ...] = ()
    sign: str | None = "sha256"  # digest for our signature; None = unsigned
    encrypt: str | None = "aes_128_cbc"  # None = unencrypted
    compress: bool = False
    mdn: MdnOptions = field(default_factory=MdnOptions)
    require_signed: bool = True
    require_encrypted: bool = True
    key_enc: str = "rsaes_pkcs1v15"
    sig_scheme: str = "pkcs1v15"
    codec: str = "native"

    def __post_init__(self) -> None:
        if self.sign is not None:
            name = digest_name(self.sign)
            if name is None:
                raise ValueError(f"partner {self.as2_id}: unsupported digest {self.sign!r}")
            object.__setattr__(self, "sign", name)
        if self.encrypt is not None:
            object.__setattr__(self, "encrypt", cipher_for(self.encrypt).name)
        if self.key_enc not in KEY_ENC:
            raise ValueError(f"partner {self.as2_id}: key_enc must be one of {KEY_ENC}")
        if self.sig_scheme not in SIG_SCHEMES:
            raise ValueError(f"partner {self.as2_id}: sig_scheme must be one of {SIG_SCHEMES}")

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        ders = tuple(_cert_der(c) for c in self.certificates)
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "certificates"}
        return _partner, (values, ders)


def cert_valid_at(cert: x509.Certificate, now: datetime) -> bool:
    before, after = cert_facts(cert)[:2]
    return before <= now <= after


@lru_cache(maxsize=256)
def cert_facts(cert: x509.Certificate) -> tuple[datetime, datetime, bytes, int, bytes, object]:
    """(not before, not after, issuer DER, serial, certificate DER, public key), parsed once."""
    return (
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        cert.issuer.public_bytes(),
        cert.serial_number,
        cert.public_bytes(serialization.Encoding.DER),
        cert.public_key(),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=256)
def load_cert_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


@lru_cache(maxsize=64)
def _keypair(cert_der: bytes, key_der: bytes) -> KeyPair:
    key = serialization.load_der_private_key(key_der, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("only RSA keys are supported")
    return KeyPair(load_cert_der(cert_der), key)


def _partner(values: dict[str, object], ders: tuple[bytes, ...]) -> PartnerProfile:
    return PartnerProfile(certificates=tuple(load_cert_der(d) for d in ders), **values)  # type: ignore[arg-type]


_KEY_DER: dict[int, tuple[rsa.RSAPrivateKey, bytes]] = {}


def _cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _key_der(key: rsa.RSAPrivateKey) -> bytes:
    hit = _KEY_DER.get(id(key))
    if hit is None or hit[0] is not key:
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        hit = _KEY_DER[id(key)] = (key, der)
    return hit[1]
