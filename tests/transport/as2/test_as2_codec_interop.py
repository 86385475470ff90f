"""The two codecs against each other (and the native one against itself), both ways: what one
builds the other reads with the same payload, Message-ID and MIC, and the MDN goes back and checks
out, for every digest x cipher, compressed or not, RSA v1.5 or OAEP + PSS."""

from __future__ import annotations

import itertools

import pytest

from gateway.transport.as2.codec import get_codec

from .conftest import Party, identity, profile

# pyas2lib canonicalises text payloads (a bare LF becomes CRLF), so the shared matrix uses CRLF lines;
# binary payloads are covered in test_as2_native.py.
PAYLOAD = (b"UNA:+.? 'UNB+UNOC:3+PARTNER:14+ACMEVENDOR:14+261127:0600+1'\r\n" * 20) + bytes(
    b for b in range(256) if b not in (10, 13)
)
DIGESTS = ("sha1", "sha256", "sha384", "sha512")
CIPHERS = ("tripledes_192_cbc", "aes_128_cbc", "aes_192_cbc", "aes_256_cbc")
DIRECTIONS = [("native", "pyas2lib"), ("pyas2lib", "native"), ("native", "native")]
SCHEMES = {"v15": ("rsaes_pkcs1v15", "pkcs1v15"), "oaep-pss": ("rsaes_oaep", "pss")}


@pytest.mark.parametrize(("sender", "receiver"), DIRECTIONS, ids=lambda v: v)
@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zlib"])
@pytest.mark.parametrize(("digest", "cipher"), list(itertools.product(DIGESTS, CIPHERS)))
def test_round_trip(
    us: Party, them: Party, sender: str, receiver: str, scheme: str, compress: bool, digest: str, cipher: str
) -> None:
    key_enc, sig = SCHEMES[scheme]
    opts = {"sign": digest, "encrypt": cipher, "compress": compress, "key_enc": key_enc, "sig_scheme": sig}
    out = get_codec(sender).build_message(
        PAYLOAD,
        sender=identity(us, "ACMEVENDOR"),
        receiver=profile(them, "PARTNER", **opts),
        filename="orders.edi",
        content_type="application/edifact",
    )
    local, partner = identity(them, "PARTNER"), profile(us, "ACMEVENDOR", **opts)
    rx = get_codec(receiver)
    result = rx.parse_message(
        out.headers,
        out.body,
        resolve=lambda f, t: (local, partner) if (f, t) == ("ACMEVENDOR", "PARTNER") else None,
        is_duplicate=lambda _m: False,
    )
    assert result.error is None, result.detail
    assert result.payload == PAYLOAD
    assert result.message_id == out.message_id
    assert result.filename == "orders.edi"
    assert (result.signed, result.encrypted, result.compressed) == (True, True, compress)
    assert (result.cipher, result.digest) == (cipher, digest)
    assert (result.mic, result.mic_alg) == (out.mic, out.mic_alg) == (result.mic, digest)
    if receiver == "native":
        assert result.key_enc == key_enc

    mdn_headers, mdn_body = rx.build_mdn(result)
    checked = get_codec(sender).parse_mdn(
        mdn_headers, mdn_body, outbound=out, partner=profile(them, "PARTNER", **opts)
    )
    assert checked.ok, checked.error
    assert checked.signed and checked.mic_ok
    assert checked.disposition and checked.disposition.endswith("processed")
    assert checked.original_message_id == out.message_id
