"""Certificates: choosing among several (rollover), generating, listing, and expiry warnings."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gateway.transport.as2.profiles import KeyPair, cert_valid_at, utcnow

EXPIRY_WARNING = timedelta(days=30)


class NoValidCertificate(Exception):
    """Configuration problem: no certificate is valid now for a role that needs one."""


def valid_keys(keys: Iterable[KeyPair], now: datetime) -> list[KeyPair]:
    """Our key pairs valid at ``now``, newest first (tried in this order to decrypt)."""
    keys = list(keys)
    if len(keys) == 1:
        return keys if keys[0].valid_at(now) else []
    return sorted(
        (k for k in keys if k.valid_at(now)), key=lambda k: k.cert.not_valid_before_utc, reverse=True
    )


def newest_key(keys: Iterable[KeyPair], now: datetime) -> KeyPair:
    ordered = valid_keys(keys, now)
    if not ordered:
        raise NoValidCertificate("none of our certificates is valid now")
    return ordered[0]


def newest_cert(certs: Iterable[x509.Certificate], now: datetime) -> x509.Certificate:
    valid = [c for c in certs if cert_valid_at(c, now)]
    if not valid:
        raise NoValidCertificate("none of the partner's certificates is valid now")
    return max(valid, key=lambda c: c.not_valid_before_utc)


@lru_cache(maxsize=256)
def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    fingerprint: str  # SHA-256, colon-separated hex
    not_before: datetime
    not_after: datetime
    source: str  # file or owner it came from

    def as_json(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "fingerprint": self.fingerprint,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "source": self.source,
        }


def info(cert: x509.Certificate, source: str = "") -> CertInfo:
    return CertInfo(
        cert.subject.rfc4514_string(),
        fingerprint(cert),
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        source,
    )


def expiring(
    certs: Iterable[tuple[str, x509.Certificate]],
    now: datetime | None = None,
    within: timedelta = EXPIRY_WARNING,
) -> list[CertInfo]:
    """Certificates (with a label saying whose) that expire within ``within`` of ``now`` or already
    have, soonest first. The daemon alerts on a non-empty answer."""
    now = now or utcnow()
    hits = [info(c, label) for label, c in certs if c.not_valid_after_utc <= now + within]
    return sorted(hits, key=lambda i: i.not_after)


def load_certs(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def load_keypair(key_path: Path, cert_path: Path, password: bytes | None = None) -> KeyPair:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{key_path}: only RSA keys are supported")
    cert = load_certs(cert_path)[0]
    cert_key = cert.public_key()
    if not isinstance(cert_key, rsa.RSAPublicKey) or cert_key.public_numbers() != key.public_key().public_numbers():
        raise ValueError(f"{cert_path} does not belong to the key {key_path}")
    return KeyPair(cert, key)


def self_signed(name: str, bits: int = 2048, days: int = 365, now: datetime | None = None) -> KeyPair:
    now = now or utcnow()
    key = rsa.generate_private_key(65537, bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def write_keypair(pair: KeyPair, directory: Path, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` (mode 0600, created so, never widened) and ``name.crt``; refuse to overwrite."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    for p in (key_path, cert_path):
        if p.exists():
            raise FileExistsError(f"{p} already exists")
    pem = pair.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(pair.cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def scan_dir(directory: Path) -> list[tuple[str, x509.Certificate]]:
    """(file, certificate) for every certificate in ``*.crt``/``*.pem``/``*.cer`` files in ``directory``
    (files holding only a key are skipped)."""
    out: list[tuple[str, x509.Certificate]] = []
    for path in sorted(directory.glob("*")):
        if path.suffix.lower() not in (".crt", ".pem", ".cer") or not path.is_file():
            continue
        try:
            found: Sequence[x509.Certificate] = load_certs(path)
        except ValueError:
            continue
        out.extend((str(path), c) for c in found)
    return out


def list_dir(directory: Path) -> list[CertInfo]:
    return [info(c, source) for source, c in scan_dir(directory)]
