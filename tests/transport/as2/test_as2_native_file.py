"""The native codec's file receive path (bodies over 1 MiB in the daemon) gives what the in-memory
path gives, for openssl-built and native-built messages and for broken ones, while holding only a
few chunks whatever the size."""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import tracemalloc
from pathlib import Path

import pytest

from gateway.transport.as2.codec import InboundResult, get_codec
from gateway.transport.as2.native import NativeCodec
from gateway.transport.as2.profiles import LocalIdentity, MdnOptions, PartnerProfile

from . import openssl_peer
from .conftest import Party, identity, profile

codec = NativeCodec()
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
PAYLOAD = b"ISA*00*          *00*~GS*PO*PARTNER*ACMEVENDOR~ST*850*0001~BEG*00*SA*PO1~SE*3*0001~\r\n" * 40


def both(
    tmp_path: Path, headers: dict[str, str], body: bytes, local: LocalIdentity, partner: PartnerProfile
) -> tuple[InboundResult, InboundResult, bytes | None]:
    """(in-memory result, file result, payload the file path wrote); no temp file is left behind."""

    def resolve(f: str, t: str) -> tuple[LocalIdentity, PartnerProfile] | None:
        return (local, partner) if (f, t) == (partner.as2_id, local.as2_id) else None

    mem = codec.parse_message(headers, body, resolve=resolve, is_duplicate=lambda _m: False)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    src = work / "body"
    src.write_bytes(body)
    res, path = codec.parse_file(
        headers, str(src), resolve=resolve, is_duplicate=lambda _m: False, out_dir=str(work)
    )
    payload = Path(path).read_bytes() if path else None
    if path:
        os.unlink(path)
    src.unlink()
    assert not list(work.iterdir()), "temp files left behind"
    return mem, res, payload


def same(mem: InboundResult, res: InboundResult, payload: bytes | None) -> None:
    assert res.payload is None
    assert dataclasses.replace(mem, payload=None) == res
    assert payload == mem.payload


@needs_openssl
@pytest.mark.parametrize(
    ("digest", "cipher", "stream"),
    [("sha1", "tripledes_192_cbc", False), ("sha256", "aes_128_cbc", True), ("sha512", "aes_256_cbc", False)],
)
def test_openssl_messages_same_on_both_paths(
    tmp_path: Path, us: Party, them: Party, digest: str, cipher: str, stream: bool
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
    if stream:  # BER: indefinite lengths, the ciphertext in small constructed OCTET STRING pieces
        der = tmp_path / "enc.der"
        der.write_bytes(body)
        pem = openssl_peer.run(
            "cms",
            "-decrypt",
            "-binary",
            "-inform",
            "DER",
            "-in",
            der,
            "-inkey",
            us.key_path,
            "-recip",
            us.cert_path,
        )
        (tmp_path / "plain").write_bytes(pem)
        body = openssl_peer.run(
            "cms",
            "-encrypt",
            "-binary",
            "-stream",
            "-aes128",
            "-in",
            tmp_path / "plain",
            "-outform",
            "DER",
            us.cert_path,
        )
        assert body[1] == 0x80  # indefinite length
    mem, res, payload = both(tmp_path, headers, body, identity(us, "ACMEVENDOR"), profile(them, "PARTNER"))
    assert mem.error is None, mem.detail
    assert (res.mic, payload) == (mic, PAYLOAD)
    same(mem, res, payload)


@needs_openssl
def test_openssl_base64_smime_body(tmp_path: Path, us: Party, them: Party) -> None:
    """An S/MIME body in base64 (``-outform SMIME``), decoded a chunk at a time."""
    headers, body, mic = openssl_peer.build(
        tmp_path,
        PAYLOAD * 50,
        signer_key=them.key_path,
        signer_cert=them.cert_path,
        recipient_cert=us.cert_path,
    )
    (tmp_path / "enc.der").write_bytes(body)
    smime = openssl_peer.run(
        "cms", "-cmsout", "-inform", "DER", "-in", tmp_path / "enc.der", "-outform", "SMIME"
    )
    head, _, b64 = smime.partition(b"\n\n")
    headers = {**headers, "Content-Transfer-Encoding": "base64"}
    mem, res, payload = both(tmp_path, headers, b64, identity(us, "ACMEVENDOR"), profile(them, "PARTNER"))
    assert mem.error is None, mem.detail
    assert res.mic == mic and payload == PAYLOAD * 50
    same(mem, res, payload)


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"compress": True},
        {"encrypt": None},
        {"sign": None},
        {"sign": None, "compress": True},
        {"sign": None, "encrypt": None},
        {"sign": "sha384", "encrypt": "aes_256_cbc", "key_enc": "rsaes_oaep", "sig_scheme": "pss"},
    ],
    ids=["sign+enc", "zlib", "sign", "enc", "enc+zlib", "plain", "oaep+pss"],
)
@pytest.mark.parametrize(
    "payload", [PAYLOAD.replace(b"\r\n", b"\n"), os.urandom(3 << 20)], ids=["lf", "3mib"]
)
def test_native_messages_same_on_both_paths(
    tmp_path: Path, us: Party, them: Party, opts: dict[str, object], payload: bytes
) -> None:
    out = codec.build_message(
        payload,
        sender=identity(them, "PARTNER"),
        receiver=profile(us, "ACMEVENDOR", mdn=MdnOptions("sync", True), **opts),
        filename="po.x12",
    )
    lax = profile(them, "PARTNER", require_signed=False, require_encrypted=False)
    mem, res, got = both(tmp_path, out.headers, out.body, identity(us, "ACMEVENDOR"), lax)
    assert mem.error is None, mem.detail
    assert (res.mic, got) == (out.mic, payload)
    same(mem, res, got)


def test_broken_messages_same_disposition(tmp_path: Path, us: Party, them: Party, stranger: Party) -> None:
    out = codec.build_message(
        PAYLOAD, sender=identity(them, "PARTNER"), receiver=profile(us, "ACMEVENDOR"), filename="po.x12"
    )
    local, partner = identity(us, "ACMEVENDOR"), profile(them, "PARTNER")
    body = out.body
    cases = {
        "tampered": body[:-40] + bytes(b ^ 0x55 for b in body[-40:-20]) + body[-20:],
        "truncated": body[: len(body) // 2],
        "empty": b"",
        "garbage": b"\x30\x80" * 50,
    }
    for name, broken in cases.items():
        mem, res, payload = both(tmp_path, out.headers, broken, local, partner)
        assert mem.error is not None, name
        assert payload is None, name
        same(mem, res, payload)
    for name, who in {"stranger key": identity(stranger, "ACMEVENDOR"), "wrong signer": None}.items():
        p = profile(stranger, "PARTNER") if who is None else partner
        mem, res, payload = both(tmp_path, out.headers, body, who or local, p)
        assert mem.error in ("decryption-failed", "authentication-failed"), name
        same(mem, res, payload)


def test_file_path_holds_a_few_chunks(tmp_path: Path, us: Party, them: Party) -> None:
    """24 MiB signed + encrypted: Python allocations peak at a few MiB on the file path (the in-memory
    path peaks at several times the payload)."""
    payload = os.urandom(24 << 20)
    out = codec.build_message(
        payload, sender=identity(them, "PARTNER"), receiver=profile(us, "ACMEVENDOR"), filename="big.x12"
    )
    src = tmp_path / "body"
    src.write_bytes(out.body)
    local, partner = identity(us, "ACMEVENDOR"), profile(them, "PARTNER")
    del out
    tracemalloc.start()
    try:
        res, path = codec.parse_file(
            {
                "AS2-From": "PARTNER",
                "AS2-To": "ACMEVENDOR",
                "Message-ID": "<big@x>",
                "Content-Type": "application/pkcs7-mime; smime-type=enveloped-data",
            },
            str(src),
            resolve=lambda f, t: (local, partner),
            is_duplicate=lambda _m: False,
            out_dir=str(tmp_path),
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.error is None, res.detail
    assert path is not None and Path(path).read_bytes() == payload
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"


def _openssl_canonical(tmp_path: Path, us: Party, data: bytes) -> bytes:
    """``data`` with CRLF line ends, as openssl makes it: encrypted in text mode, decrypted raw."""
    (tmp_path / "canon.in").write_bytes(data)
    enc = openssl_peer.run(
        "cms", "-encrypt", "-aes128", "-in", tmp_path / "canon.in", "-outform", "DER", us.cert_path
    )
    (tmp_path / "canon.der").write_bytes(enc)
    return openssl_peer.run(
        "cms",
        "-decrypt",
        "-binary",
        "-inform",
        "DER",
        "-in",
        tmp_path / "canon.der",
        "-inkey",
        us.key_path,
        "-recip",
        us.cert_path,
    )


@needs_openssl
@pytest.mark.parametrize("cte", ["7bit", "binary"])
def test_encrypted_unsigned_mic_is_over_the_canonical_entity(
    tmp_path: Path, us: Party, them: Party, cte: str
) -> None:
    """RFC 4130 7.3.1: for an encrypted, unsigned message the MIC covers the decrypted MIME header and
    content after canonicalisation. The entity is sent with bare LFs (``openssl cms -encrypt -binary``
    keeps them); the expected MIC is ``openssl dgst`` over openssl's own CRLF form: headers and body
    for a line-oriented (7bit) body, headers only for a ``binary`` body (its bytes are the content)."""
    head = (
        f"Content-Type: application/edi-x12\nContent-Transfer-Encoding: {cte}\n"
        'Content-Disposition: attachment; filename="po.x12"\n\n'
    ).encode()
    text = b"ISA*00*          *00*~\nGS*PO*PARTNER*ACMEVENDOR~\nST*850*0001~\nSE*2*0001~\n" * 20
    (tmp_path / "entity").write_bytes(head + text)
    body = openssl_peer.run(
        "cms", "-encrypt", "-binary", "-aes256", "-in", tmp_path / "entity", "-outform", "DER", us.cert_path
    )
    canonical = (
        _openssl_canonical(tmp_path, us, head + text)
        if cte == "7bit"
        else (_openssl_canonical(tmp_path, us, head) + text)
    )
    assert canonical != head + text
    (tmp_path / "canonical").write_bytes(canonical)
    want = base64.b64encode(openssl_peer.run("dgst", "-sha256", "-binary", tmp_path / "canonical")).decode()
    headers = {
        "AS2-From": "PARTNER",
        "AS2-To": "ACMEVENDOR",
        "Message-ID": "<enc-only@peer>",
        "Content-Type": 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',
        "Disposition-Notification-To": "peer@example.com",
        "Disposition-Notification-Options": "signed-receipt-protocol=required, pkcs7-signature; "
        "signed-receipt-micalg=required, sha-256",
    }
    lax = profile(them, "PARTNER", require_signed=False)
    mem, res, payload = both(tmp_path, headers, body, identity(us, "ACMEVENDOR"), lax)
    assert mem.error is None, mem.detail
    assert payload == text and (mem.encrypted, mem.signed) == (True, False)
    assert (mem.mic, res.mic, mem.mic_alg) == (want, want, "sha256")
    mdn_headers, mdn_body = codec.build_mdn(res)
    fields = openssl_peer.verify_mdn(tmp_path, mdn_headers, mdn_body, us.cert_path)
    assert fields["received-content-mic"] == f"{want}, sha-256"
    adapter = get_codec("pyas2lib").parse_message(
        headers, body, resolve=lambda f, t: (identity(us, "ACMEVENDOR"), lax), is_duplicate=lambda _m: False
    )
    assert adapter.error is None and adapter.mic == want


def test_native_sender_and_receiver_agree_on_the_encrypted_unsigned_mic(us: Party, them: Party) -> None:
    """Our own sender expects the MIC our receiver computes (canonical, uncompressed entity)."""
    lax = profile(them, "PARTNER", require_signed=False)
    for compress in (False, True):
        out = codec.build_message(
            PAYLOAD.replace(b"\r\n", b"\n"),
            sender=identity(them, "PARTNER"),
            receiver=profile(us, "ACMEVENDOR", sign=None, compress=compress),
            content_type="text/plain",
        )
        res = codec.parse_message(
            out.headers,
            out.body,
            resolve=lambda f, t: (identity(us, "ACMEVENDOR"), lax),
            is_duplicate=lambda _m: False,
        )
        assert res.error is None and res.compressed == compress
        assert res.mic == out.mic
