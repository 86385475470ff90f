"""Bad inbound messages at codec level: each gets the expected MDN disposition, and the MDN itself is
signed (so the partner can trust the refusal) and verifiable with ``openssl cms -verify``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.transport.as2.codec import InboundResult, get_codec
from gateway.transport.as2.profiles import PartnerProfile

from . import openssl_peer
from .conftest import Party, identity, profile

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
PAYLOAD = b"ST*850*0001~BEG*00*SA*PO123**20261127~SE*3*0001~\r\n" * 30
CODECS = ["native", "pyas2lib"]


def _parse(
    codec: str, us: Party, partner: PartnerProfile, headers: dict[str, str], body: bytes
) -> InboundResult:
    local = identity(us, "ACMEVENDOR")
    return get_codec(codec).parse_message(
        headers,
        body,
        resolve=lambda f, t: (local, partner) if (f, t) == ("PARTNER", "ACMEVENDOR") else None,
        is_duplicate=lambda m: m == "seen-before@peer.example",
    )


def _mdn_disposition(codec: str, tmp_path: Path, us: Party, result: InboundResult) -> str:
    headers, body = get_codec(codec).build_mdn(result)
    fields = openssl_peer.verify_mdn(tmp_path, headers, body, us.cert_path)
    return fields["disposition"].partition(";")[2].strip().lower()


def _good(tmp_path: Path, us: Party, signer: Party, **kw: object) -> tuple[dict[str, str], bytes, str]:
    return openssl_peer.build(
        tmp_path,
        PAYLOAD,
        signer_key=signer.key_path,
        signer_cert=signer.cert_path,
        recipient_cert=us.cert_path,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("codec", CODECS)
def test_wrong_signature_key(tmp_path: Path, us: Party, them: Party, stranger: Party, codec: str) -> None:
    headers, body, _ = _good(tmp_path, us, stranger)
    r = _parse(codec, us, profile(them, "PARTNER"), headers, body)
    assert r.error == "authentication-failed" and r.payload is None
    assert _mdn_disposition(codec, tmp_path, us, r) == "processed/error: authentication-failed"


@pytest.mark.parametrize("codec", CODECS)
def test_unsigned_when_signing_required(tmp_path: Path, us: Party, them: Party, codec: str) -> None:
    headers, body, _ = openssl_peer.build(
        tmp_path, PAYLOAD, signer_key=None, signer_cert=None, recipient_cert=us.cert_path
    )
    r = _parse(codec, us, profile(them, "PARTNER"), headers, body)
    assert r.error == "insufficient-message-security"
    assert _mdn_disposition(codec, tmp_path, us, r) == "processed/error: insufficient-message-security"


@pytest.mark.parametrize("codec", CODECS)
def test_unencrypted_when_encryption_required(tmp_path: Path, us: Party, them: Party, codec: str) -> None:
    headers, body, _ = openssl_peer.build(
        tmp_path, PAYLOAD, signer_key=them.key_path, signer_cert=them.cert_path, recipient_cert=None
    )
    r = _parse(codec, us, profile(them, "PARTNER"), headers, body)
    assert r.error == "insufficient-message-security"
    assert _mdn_disposition(codec, tmp_path, us, r) == "processed/error: insufficient-message-security"


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    ("where", "expected"), [("padding", "decryption-failed"), ("middle", "integrity-check-failed")]
)
def test_tampered_ciphertext(
    tmp_path: Path, us: Party, them: Party, codec: str, where: str, expected: str
) -> None:
    headers, body, _ = _good(tmp_path, us, them, cipher="aes_128_cbc")
    data = bytearray(body)
    # The last byte of the next-to-last block XORs into the padding byte; the middle hits the payload.
    pos = len(data) - 17 if where == "padding" else len(data) // 2
    data[pos] ^= 0x01
    r = _parse(codec, us, profile(them, "PARTNER"), headers, bytes(data))
    assert r.error == expected, r.detail
    assert _mdn_disposition(codec, tmp_path, us, r) == f"processed/error: {expected}"


@pytest.mark.parametrize("codec", CODECS)
def test_truncated_body(tmp_path: Path, us: Party, them: Party, codec: str) -> None:
    headers, body, _ = _good(tmp_path, us, them)
    r = _parse(codec, us, profile(them, "PARTNER"), headers, body[: len(body) * 2 // 3])
    assert r.error == "decryption-failed", r.detail
    assert _mdn_disposition(codec, tmp_path, us, r) == "processed/error: decryption-failed"


@pytest.mark.parametrize("codec", CODECS)
def test_truncated_signed_body(tmp_path: Path, us: Party, them: Party, codec: str) -> None:
    headers, body, _ = openssl_peer.build(
        tmp_path, PAYLOAD, signer_key=them.key_path, signer_cert=them.cert_path, recipient_cert=None
    )
    r = _parse(codec, us, profile(them, "PARTNER", require_encrypted=False), headers, body[:-300])
    assert r.error in ("unexpected-processing-error", "authentication-failed", "integrity-check-failed"), (
        r.detail
    )
    assert r.payload is None


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"Content-Type": "\x7f%%% garbage ;;; =="}, "insufficient-message-security"),
        ({"Message-ID": ""}, "unexpected-processing-error"),
        ({"AS2-From": "NOBODY"}, "unknown-trading-partner"),
        (
            {
                "Content-Type": "application/pkcs7-mime; smime-type=enveloped-data",
                "Content-Transfer-Encoding": "x-rot13",
            },
            "unexpected-processing-error",
        ),
    ],
    ids=["content-type", "no-message-id", "unknown-partner", "bad-transfer-encoding"],
)
def test_garbage_headers(
    tmp_path: Path, us: Party, them: Party, codec: str, change: dict[str, str], expected: str
) -> None:
    headers, body, _ = _good(tmp_path, us, them)
    r = _parse(codec, us, profile(them, "PARTNER"), {**headers, **change}, body)
    if codec == "pyas2lib" and "Content-Transfer-Encoding" in change:
        assert r.error is None  # pyas2lib ignores an unknown transfer encoding on a binary body
        return
    assert r.error == expected, r.detail
    if expected != "unknown-trading-partner":  # no partnership, so nobody of ours to sign the MDN
        assert _mdn_disposition(codec, tmp_path, us, r) == f"processed/error: {expected}"


@pytest.mark.parametrize("codec", CODECS)
def test_duplicate_gets_warning_mdn_with_mic(tmp_path: Path, us: Party, them: Party, codec: str) -> None:
    headers, body, mic = _good(tmp_path, us, them, message_id="seen-before@peer.example")
    r = _parse(codec, us, profile(them, "PARTNER"), headers, body)
    assert r.ok and r.warning == "duplicate-document" and r.mic == mic
    assert _mdn_disposition(codec, tmp_path, us, r) == "processed/warning: duplicate-document"
