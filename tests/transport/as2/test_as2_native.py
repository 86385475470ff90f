"""Native codec details: BER input, base64 bodies, canonicalisation, rollover, MDN checks."""

from __future__ import annotations

import base64
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from gateway.transport.as2 import certs
from gateway.transport.as2.codec import OutboundMessage
from gateway.transport.as2.native import NativeCodec
from gateway.transport.as2.profiles import LocalIdentity, MdnOptions, utcnow

from . import openssl_peer
from .conftest import Party, identity, profile

PAYLOAD = b"ST*850*0001~\nBEG*00*SA*PO1~\n" + bytes(range(256)) * 4
codec = NativeCodec()
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


def _roundtrip(
    sender: LocalIdentity, receiver_local: LocalIdentity, to_partner, from_partner, payload=PAYLOAD
):  # type: ignore[no-untyped-def]
    out = codec.build_message(payload, sender=sender, receiver=to_partner)
    res = codec.parse_message(
        out.headers,
        out.body,
        resolve=lambda f, t: (receiver_local, from_partner),
        is_duplicate=lambda _m: False,
    )
    return out, res


def test_binary_payload_survives(us: Party, them: Party) -> None:
    out, res = _roundtrip(
        identity(us, "A"), identity(them, "B"), profile(them, "B", compress=True), profile(us, "A")
    )
    assert res.ok and res.payload == PAYLOAD and res.mic == out.mic and res.key_enc == "rsaes_pkcs1v15"


def test_unsigned_unencrypted_mic_over_content(us: Party, them: Party) -> None:
    open_to = profile(them, "B", sign=None, encrypt=None, mdn=MdnOptions(signed=False))
    open_from = profile(us, "A", require_signed=False, require_encrypted=False)
    out, res = _roundtrip(identity(us, "A"), identity(them, "B"), open_to, open_from)
    assert res.ok and res.payload == PAYLOAD and not (res.signed or res.encrypted)
    assert res.mic == out.mic and "Disposition-Notification-Options" not in out.headers
    headers, body = codec.build_mdn(res)
    assert headers["Content-Type"].startswith("multipart/report")
    assert codec.parse_mdn(headers, body, outbound=out, partner=open_to).ok


def test_rollover_old_key_still_decrypts_and_second_cert_verifies(
    us: Party, them: Party, stranger: Party
) -> None:
    # The partner still encrypts to our older certificate; we hold a newer one too.
    newer = certs.self_signed("ACMEVENDOR-2027")
    local = LocalIdentity("A", (newer, us.pair))
    # The partner signs with its new key; its profile lists the old (stranger) cert first.
    partner_for_them = replace(profile(us, "A"), certificates=(stranger.pair.cert, them.pair.cert))
    out = codec.build_message(PAYLOAD, sender=identity(them, "B"), receiver=profile(us, "A"))
    res = codec.parse_message(
        out.headers, out.body, resolve=lambda f, t: (local, partner_for_them), is_duplicate=lambda _m: False
    )
    assert res.ok, res.detail
    assert res.signer_fingerprint == certs.fingerprint(them.pair.cert)
    # Outbound always uses the newest valid certificate.
    assert certs.newest_key(local.keys, utcnow()) is newer


def test_expired_partner_certificate_is_refused(us: Party, them: Party) -> None:
    out = codec.build_message(PAYLOAD, sender=identity(them, "B"), receiver=profile(us, "A"))
    later = them.pair.cert.not_valid_after_utc + timedelta(days=1)
    local = LocalIdentity("A", (certs.self_signed("A", days=900, now=later - timedelta(days=10)), us.pair))
    res = codec.parse_message(
        out.headers,
        out.body,
        resolve=lambda f, t: (local, profile(them, "B")),
        is_duplicate=lambda _m: False,
        now=later,
    )
    assert res.error in ("decryption-failed", "authentication-failed")


@needs_openssl
def test_ber_stream_base64_and_lf_only(tmp_path: Path, us: Party, them: Party) -> None:
    """openssl -stream gives indefinite-length BER; a base64 transfer encoding and an LF-only signed
    part (a CRLF-signed body delivered with bare LFs) must still verify, MIC on the canonical form."""
    entity = b"Content-Type: application/edi-x12\r\n\r\nISA*00~\r\nGS*PO~\r\n"
    (tmp_path / "e.bin").write_bytes(entity)
    openssl_peer.run(
        "cms",
        "-sign",
        "-in",
        tmp_path / "e.bin",
        "-signer",
        them.cert_path,
        "-inkey",
        them.key_path,
        "-md",
        "sha256",
        "-out",
        tmp_path / "s.eml",
    )
    signed = (tmp_path / "s.eml").read_bytes().replace(b"\r\n", b"\n")  # delivered with bare LFs
    (tmp_path / "s.eml").write_bytes(signed)
    openssl_peer.run(
        "cms",
        "-encrypt",
        "-binary",
        "-stream",
        "-aes256",
        "-in",
        tmp_path / "s.eml",
        "-outform",
        "DER",
        "-out",
        tmp_path / "e.der",
        us.cert_path,
    )
    der = (tmp_path / "e.der").read_bytes()
    assert der[1] == 0x80  # indefinite length
    headers = {
        "AS2-From": "B",
        "AS2-To": "A",
        "Message-ID": "<ber@x>",
        "Content-Transfer-Encoding": "base64",
        "Content-Type": "application/pkcs7-mime; smime-type=enveloped-data",
    }
    res = codec.parse_message(
        headers,
        base64.encodebytes(der),
        resolve=lambda f, t: (identity(us, "A"), profile(them, "B")),
        is_duplicate=lambda _m: False,
    )
    assert res.ok, res.detail
    assert res.payload == b"ISA*00~\r\nGS*PO~\r\n" and res.cipher == "aes_256_cbc"
    import hashlib

    assert res.mic == base64.b64encode(hashlib.sha256(entity).digest()).decode()


def _exchange(us: Party, them: Party) -> tuple[OutboundMessage, dict[str, str], bytes]:
    out = codec.build_message(PAYLOAD, sender=identity(us, "A"), receiver=profile(them, "B"))
    res = codec.parse_message(
        out.headers,
        out.body,
        resolve=lambda f, t: (identity(them, "B"), profile(us, "A")),
        is_duplicate=lambda _m: False,
    )
    headers, body = codec.build_mdn(res)
    return out, headers, body


def test_mdn_mic_mismatch_and_missing_fail(us: Party, them: Party) -> None:
    out, headers, body = _exchange(us, them)
    partner = profile(them, "B")
    assert codec.parse_mdn(headers, body, outbound=out, partner=partner).ok
    wrong = replace(out, mic=base64.b64encode(b"x" * 32).decode())
    r = codec.parse_mdn(headers, body, outbound=wrong, partner=partner)
    assert not r.ok and not r.mic_ok and "differs" in (r.error or "")
    other_id = replace(out, message_id="someone-else@x")
    assert not codec.parse_mdn(headers, body, outbound=other_id, partner=partner).ok


def test_mdn_signature_and_tampering(us: Party, them: Party, stranger: Party) -> None:
    out, headers, body = _exchange(us, them)
    r = codec.parse_mdn(headers, body, outbound=out, partner=profile(stranger, "B"))
    assert not r.ok and "authentication-failed" in (r.error or "")
    tampered = body.replace(b"; processed", b"; processed/Error: decryption-failed")
    r = codec.parse_mdn(headers, tampered, outbound=out, partner=profile(them, "B"))
    assert not r.ok and "integrity-check-failed" in (r.error or "")


def test_unsigned_mdn_refused_when_signed_requested(us: Party, them: Party) -> None:
    out = codec.build_message(PAYLOAD, sender=identity(us, "A"), receiver=profile(them, "B"))
    res = codec.parse_message(
        out.headers,
        out.body,
        resolve=lambda f, t: (identity(them, "B"), profile(us, "A")),
        is_duplicate=lambda _m: False,
    )
    headers, body = codec.build_mdn(replace(res, mdn=replace(res.mdn, signed=False)))
    r = codec.parse_mdn(headers, body, outbound=out, partner=profile(them, "B"))
    assert not r.ok and "unsigned" in (r.error or "")


def test_filename_is_reduced_to_a_name(us: Party, them: Party) -> None:
    out = codec.build_message(
        b"x", sender=identity(us, "A"), receiver=profile(them, "B"), filename="../../etc/passwd"
    )
    res = codec.parse_message(
        out.headers,
        out.body,
        resolve=lambda f, t: (identity(them, "B"), profile(us, "A")),
        is_duplicate=lambda _m: False,
    )
    assert res.filename == "passwd"
