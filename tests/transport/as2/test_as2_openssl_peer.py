"""Interop with a station that is only the ``openssl cms`` CLI: its messages go into both codecs (raw
HTTP headers + body, as curl sends them) and our signed MDN must pass ``openssl cms -verify``, with
the MIC the station computed itself."""

from __future__ import annotations

import base64
import hashlib
import itertools
import shutil
from pathlib import Path

import pytest

from gateway.transport.as2.codec import get_codec
from gateway.transport.as2.profiles import MdnOptions

from . import openssl_peer
from .conftest import Party, identity, profile

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
PAYLOAD = (
    b"ISA*00*          *00*          *ZZ*PARTNER        *ZZ*ACMEVENDOR     *261127*0600*U*00401*000000001*0*P*>~\r\n"
    * 9
)
DIGESTS = ("sha1", "sha256", "sha384", "sha512")
CIPHERS = tuple(openssl_peer.CIPHER_FLAGS)


@pytest.mark.parametrize("codec_name", ["native", "pyas2lib"])
@pytest.mark.parametrize(("digest", "cipher"), list(itertools.product(DIGESTS, CIPHERS)))
def test_openssl_message_in_signed_mdn_out(
    tmp_path: Path, us: Party, them: Party, codec_name: str, digest: str, cipher: str
) -> None:
    headers, body, mic = openssl_peer.build(
        tmp_path,
        PAYLOAD,
        signer_key=them.key_path,
        signer_cert=them.cert_path,
        recipient_cert=us.cert_path,
        digest=digest,
        cipher=cipher,
    )
    codec = get_codec(codec_name)
    local, partner = identity(us, "ACMEVENDOR"), profile(them, "PARTNER")
    result = codec.parse_message(
        headers,
        body,
        resolve=lambda f, t: (local, partner) if (f, t) == ("PARTNER", "ACMEVENDOR") else None,
        is_duplicate=lambda _m: False,
    )
    assert result.error is None, result.detail
    assert result.payload == PAYLOAD
    assert result.message_id == "openssl-1@peer.example"
    assert result.filename == "po-openssl.x12"
    assert (result.signed, result.encrypted, result.cipher, result.digest) == (True, True, cipher, digest)
    assert (result.mic, result.mic_alg) == (mic, digest)

    mdn_headers, mdn_body = codec.build_mdn(result)
    fields = openssl_peer.verify_mdn(tmp_path, mdn_headers, mdn_body, us.cert_path)
    assert fields["original-message-id"] == "<openssl-1@peer.example>"
    assert fields["disposition"].endswith("; processed")
    got_mic, _, got_alg = fields["received-content-mic"].partition(",")
    assert got_mic.strip() == mic
    assert got_alg.strip().replace("-", "") == digest


def test_micalg_first_supported_is_chosen(tmp_path: Path, us: Party, them: Party) -> None:
    """RFC 4130 7.3: the left-most algorithm we support wins (pyas2lib takes the last one)."""
    headers, body, _ = openssl_peer.build(
        tmp_path,
        PAYLOAD,
        signer_key=them.key_path,
        signer_cert=them.cert_path,
        recipient_cert=us.cert_path,
        digest="sha256",
        micalg_request="rsa-md2, sha-384, sha1",
    )
    local, partner = identity(us, "ACMEVENDOR"), profile(them, "PARTNER")
    for name in ("native", "pyas2lib"):
        codec = get_codec(name)
        result = codec.parse_message(
            headers, body, resolve=lambda f, t: (local, partner), is_duplicate=lambda _m: False
        )
        mdn_headers, mdn_body = codec.build_mdn(result)
        fields = openssl_peer.verify_mdn(tmp_path, mdn_headers, mdn_body, us.cert_path)
        assert result.mic_alg == "sha384", name
        assert "sha384" in mdn_headers["Content-Type"].replace("-", ""), name
        got_mic, _, got_alg = fields["received-content-mic"].partition(",")
        assert got_alg.strip().replace("-", "") == "sha384", name
        signed_entity = (tmp_path / "entity.bin").read_bytes()  # openssl -binary signs it unchanged
        assert got_mic.strip() == base64.b64encode(hashlib.sha384(signed_entity).digest()).decode(), name


def test_openssl_plain_and_signed_only(tmp_path: Path, us: Party, them: Party) -> None:
    local = identity(us, "ACMEVENDOR")
    relaxed = profile(them, "PARTNER", require_encrypted=False, mdn=MdnOptions())
    codec = get_codec("native")
    headers, body, mic = openssl_peer.build(
        tmp_path, PAYLOAD, signer_key=them.key_path, signer_cert=them.cert_path, recipient_cert=None
    )
    r = codec.parse_message(
        headers, body, resolve=lambda f, t: (local, relaxed), is_duplicate=lambda _m: False
    )
    assert r.error is None and r.payload == PAYLOAD and r.signed and not r.encrypted and r.mic == mic
    open_profile = profile(them, "PARTNER", require_encrypted=False, require_signed=False)
    headers, body, _ = openssl_peer.build(
        tmp_path, PAYLOAD, signer_key=None, signer_cert=None, recipient_cert=None
    )
    r = codec.parse_message(
        headers, body, resolve=lambda f, t: (local, open_profile), is_duplicate=lambda _m: False
    )
    assert r.error is None and r.payload == PAYLOAD and not r.signed and r.filename == "po-openssl.x12"
