"""Development keys for the shipped demo configuration (``make run``), generated on first start.

Only files under the config's ``paths.keys`` folder are ever created, and only when missing: our AS2
key and certificate, shared secrets (HMAC secrets, API tokens, passwords), partner certificates (with
their private key kept beside them so local tests can play the partner) and SSH keys for SFTP users.
Keys are never committed (``keys/`` is git-ignored). Production keys come from ``gatewayctl certs``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from gateway.yamlfile import load

log = structlog.get_logger(__name__)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def self_signed(common_name: str, bits: int = 2048, days: int = 365) -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) for a self-signed RSA certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acorn EDI Gateway (development)")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def ensure_dev_keys(config_path: str | os.PathLike[str]) -> list[Path]:
    """Create the missing key files the config refers to inside its keys folder; return what was made."""
    cfg_file = Path(config_path).resolve()
    base = cfg_file.parent
    data = load(cfg_file).data or {}
    keys_dir = (base / (data.get("paths") or {}).get("keys", "keys")).resolve()
    made: list[Path] = []

    def inside(rel: str) -> Path | None:
        p = (base / rel).resolve()
        return p if p.is_relative_to(keys_dir) and not p.exists() else None

    our = data.get("our") or {}
    for pair in our.get("certificates") or []:
        key, cert = inside(pair.get("key", "")), inside(pair.get("cert", ""))
        if key and cert:
            key_pem, cert_pem = self_signed(our.get("as2_id", "ACORN"))
            _write_private(key, key_pem)
            _write_public(cert, cert_pem)
            made += [key, cert]
    secret_refs = [d.get("secret_file") for d in (data.get("destinations") or {}).values()]
    secret_refs += [c.get("token_file") for c in ((data.get("api") or {}).get("clients") or [])]
    secret_refs.append((data.get("alerts") or {}).get("secret_file"))
    partners_dir = base / data.get("partners_dir", "partners")
    for pfile in sorted(partners_dir.glob("*.yaml")) if partners_dir.is_dir() else []:
        pdata = load(pfile).data or {}
        as2 = pdata.get("as2") or {}
        for cert_ref in as2.get("certificates") or []:
            if (cert := inside(cert_ref)) is not None:
                key_pem, cert_pem = self_signed(as2.get("as2_id", pdata.get("id", "PARTNER")))
                _write_public(cert, cert_pem)
                _write_private(cert.with_suffix(".key"), key_pem)
                made += [cert, cert.with_suffix(".key")]
        if as2.get("basic_auth"):
            secret_refs.append(as2["basic_auth"].get("password_file"))
        for user in (pdata.get("sftp") or {}).get("users") or []:
            if (pub := inside(user.get("authorized_keys", ""))) is not None:
                ssh_key = ed25519.Ed25519PrivateKey.generate()
                _write_private(pub.with_suffix(""), ssh_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
                _write_public(pub, ssh_key.public_key().public_bytes(
                    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" dev-partner\n")
                made += [pub, pub.with_suffix("")]
    for ref in secret_refs:
        if ref and (p := inside(ref)) is not None:
            _write_private(p, secrets.token_urlsafe(32).encode() + b"\n")
            made.append(p)
    for p in made:
        log.info("dev_key_created", path=str(p.relative_to(base)))
    return made
