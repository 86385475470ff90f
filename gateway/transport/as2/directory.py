"""The AS2 view of the configuration: our identity and one profile per partner, found by AS2 ids.

Built once per configuration load (and again on reload) from ``GatewayConfig``; every key and
certificate file is read here, never per message. The values are the codecs' picklable profiles, so
they travel to the codec worker processes as they are.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from gateway.config import GatewayConfig, Partner, parse_duration
from gateway.transport.as2 import certs
from gateway.transport.as2.profiles import LocalIdentity, MdnOptions, PartnerProfile


@dataclass(frozen=True, slots=True)
class As2Partner:
    """One trading partner as the AS2 transport needs it."""

    id: str  # partner id in partners/*.yaml
    profile: PartnerProfile
    url: str | None  # where we post our messages
    mdn_timeout: float
    basic_auth: tuple[str, bytes] | None = None  # (user, password) the partner must present to us

    def auth_ok(self, header: bytes | None) -> bool:
        """Check an ``Authorization`` header against the partner's basic auth (always ok without one)."""
        if self.basic_auth is None:
            return True
        if not header or not header[:6].lower() == b"basic ":
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).partition(b":")
        except ValueError:
            return False
        want_user, want_pw = self.basic_auth
        return hmac.compare_digest(user, want_user.encode()) & hmac.compare_digest(password, want_pw)


@dataclass(frozen=True, slots=True)
class Directory:
    local: LocalIdentity
    partners: dict[str, As2Partner]  # by AS2 id
    by_id: dict[str, As2Partner]  # by partner id

    def find(self, as2_from: str, as2_to: str) -> As2Partner | None:
        if as2_to != self.local.as2_id:
            return None
        return self.partners.get(as2_from)

    def certificates(self) -> Iterator[tuple[str, x509.Certificate]]:
        """Every certificate in use, labelled with whose it is (for expiry warnings)."""
        for pair in self.local.keys:
            yield f"ours ({self.local.as2_id})", pair.cert
        for p in self.by_id.values():
            for cert in p.profile.certificates:
                yield f"partner {p.id} ({p.profile.as2_id})", cert


def _partner(config: GatewayConfig, partner: Partner, domain: str) -> As2Partner:
    a = partner.as2 or {}
    cert_list: list[x509.Certificate] = []
    for ref in a.get("certificates") or []:
        cert_list.extend(certs.load_certs(config.base / ref))
    mdn = a.get("mdn") or {}
    profile = PartnerProfile(
        a["as2_id"],
        tuple(cert_list),
        sign=a.get("sign"),
        encrypt=a.get("encrypt"),
        compress=bool(a.get("compress")),
        mdn=MdnOptions(mdn.get("mode", "sync"), bool(mdn.get("signed", True)), mdn.get("url")),
        require_signed=bool(a.get("require_signed", True)),
        require_encrypted=bool(a.get("require_encrypted", True)),
        key_enc=a.get("key_encryption", "rsaes_pkcs1v15"),
        sig_scheme=a.get("signature_scheme", "pkcs1v15"),
        codec=a.get("codec", "native"),
    )
    auth = None
    if a.get("basic_auth"):
        pw = Path(config.base / a["basic_auth"]["password_file"]).read_bytes().strip()
        auth = (a["basic_auth"]["user"], pw)
    return As2Partner(partner.id, profile, a.get("url"), parse_duration(mdn.get("timeout", "120s")), auth)


def build_directory(config: GatewayConfig, domain: str | None = None) -> Directory:
    """Read our key pairs and every partner's certificates; raise ``OSError``/``ValueError`` on a bad file."""
    pairs = tuple(
        certs.load_keypair(config.base / c["key"], config.base / c["cert"])
        for c in config.our["certificates"]
    )
    local = LocalIdentity(config.our["as2_id"], pairs, domain=domain or f"{config.node}.acorn-gateway.local")
    partners: dict[str, As2Partner] = {}
    by_id: dict[str, As2Partner] = {}
    for p in config.partners.values():
        if not p.as2:
            continue
        entry = _partner(config, p, local.domain)
        partners[entry.profile.as2_id] = by_id[p.id] = entry
    return Directory(local, partners, by_id)


def expiring(directory: Directory, now: datetime | None = None) -> list[certs.CertInfo]:
    return certs.expiring(directory.certificates(), now)
