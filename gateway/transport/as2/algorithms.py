"""Algorithm names and object identifiers used by AS2 (digests, ciphers, key transport, signatures)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import algorithms

# Canonical digest names (as pyas2lib spells them), their OIDs and their RFC 5751 micalg spelling.
DIGESTS: dict[str, tuple[str, type[hashes.HashAlgorithm], str]] = {
    "md5": ("1.2.840.113549.2.5", hashes.MD5, "md5"),
    "sha1": ("1.3.14.3.2.26", hashes.SHA1, "sha-1"),
    "sha224": ("2.16.840.1.101.3.4.2.4", hashes.SHA224, "sha-224"),
    "sha256": ("2.16.840.1.101.3.4.2.1", hashes.SHA256, "sha-256"),
    "sha384": ("2.16.840.1.101.3.4.2.2", hashes.SHA384, "sha-384"),
    "sha512": ("2.16.840.1.101.3.4.2.3", hashes.SHA512, "sha-512"),
}
DIGEST_BY_OID = {oid: name for name, (oid, _, _) in DIGESTS.items()}
# What we accept for MICs and signatures we produce (md5 only when reading).
MIC_ALGS = ("sha1", "sha224", "sha256", "sha384", "sha512")

# Signature algorithm OIDs seen in SignerInfo.signatureAlgorithm.
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSASSA_PSS = "1.2.840.113549.1.1.10"
RSAES_OAEP = "1.2.840.113549.1.1.7"
MGF1 = "1.2.840.113549.1.1.8"
SIG_WITH_DIGEST = {
    "1.2.840.113549.1.1.4": "md5",
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}


@dataclass(frozen=True, slots=True)
class Cipher:
    name: str  # canonical name, pyas2lib spelling
    oid: str
    key_size: int  # bytes
    block: int  # bytes

    def algorithm(self, key: bytes) -> algorithms.AES | TripleDES:
        return TripleDES(key) if self.name == "tripledes_192_cbc" else algorithms.AES(key)


CIPHERS: dict[str, Cipher] = {
    c.name: c
    for c in (
        Cipher("tripledes_192_cbc", "1.2.840.113549.3.7", 24, 8),
        Cipher("aes_128_cbc", "2.16.840.1.101.3.4.1.2", 16, 16),
        Cipher("aes_192_cbc", "2.16.840.1.101.3.4.1.22", 24, 16),
        Cipher("aes_256_cbc", "2.16.840.1.101.3.4.1.42", 32, 16),
    )
}
CIPHER_BY_OID = {c.oid: c for c in CIPHERS.values()}
_CIPHER_ALIASES = {
    "des3": "tripledes_192_cbc",
    "3des": "tripledes_192_cbc",
    "des-ede3-cbc": "tripledes_192_cbc",
}

# CMS content types.
ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
ID_COMPRESSED_DATA = "1.2.840.113549.1.9.16.1.9"
ID_ZLIB = "1.2.840.113549.1.9.16.3.8"
# Signed attributes.
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
ATTR_SMIME_CAPS = "1.2.840.113549.1.9.15"


def digest_name(token: str) -> str | None:
    """Normalise a digest token ("SHA-256", "sha256", "sha_256", "rsa-sha256") to its canonical name."""
    t = token.strip().strip('"').lower().replace("-", "").replace("_", "")
    if t.startswith("rsa"):
        t = t[3:]
    return t if t in DIGESTS else None


def hash_for(name: str) -> hashes.HashAlgorithm:
    return DIGESTS[name][1]()


def micalg_token(name: str) -> str:
    """The RFC 5751 micalg spelling of a canonical digest name."""
    return DIGESTS[name][2]


def cipher_for(name: str) -> Cipher:
    key = name.strip().lower().replace("-", "_")
    key = _CIPHER_ALIASES.get(key, key)
    if key in ("aes128", "aes192", "aes256"):
        key = f"aes_{key[3:]}_cbc"
    try:
        return CIPHERS[key]
    except KeyError:
        raise ValueError(f"unsupported cipher {name!r}; use one of {', '.join(CIPHERS)}") from None
