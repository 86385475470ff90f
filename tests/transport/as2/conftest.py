"""Key pairs and profiles for the AS2 codec tests (generated once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import gateway  # noqa: F401  (pyas2lib import fix)
from gateway.transport.as2.certs import self_signed
from gateway.transport.as2.profiles import KeyPair, LocalIdentity, PartnerProfile


@dataclass(frozen=True)
class Party:
    pair: KeyPair
    key_path: Path
    cert_path: Path


def _write(pair: KeyPair, d: Path, name: str) -> Party:
    key_path, cert_path = d / f"{name}.key", d / f"{name}.crt"
    key_path.write_bytes(
        pair.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(pair.cert.public_bytes(serialization.Encoding.PEM))
    return Party(pair, key_path, cert_path)


@pytest.fixture(scope="session")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("as2keys")


@pytest.fixture(scope="session")
def us(keydir: Path) -> Party:
    return _write(self_signed("ACMEVENDOR"), keydir, "us")


@pytest.fixture(scope="session")
def them(keydir: Path) -> Party:
    return _write(self_signed("PARTNER"), keydir, "them")


@pytest.fixture(scope="session")
def stranger(keydir: Path) -> Party:
    return _write(self_signed("STRANGER"), keydir, "stranger")


def identity(party: Party, as2_id: str) -> LocalIdentity:
    return LocalIdentity(as2_id, (party.pair,))


def profile(party: Party, as2_id: str, **kw: object) -> PartnerProfile:
    return PartnerProfile(as2_id, (party.pair.cert,), **kw)  # type: ignore[arg-type]
