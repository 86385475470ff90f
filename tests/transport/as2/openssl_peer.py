"""An AS2 station made of the ``openssl cms`` CLI only (no pyas2lib, no code of ours on its side):
it builds the messages our codecs receive and checks the MDNs they return."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path

CIPHER_FLAGS = {
    "tripledes_192_cbc": "-des3",
    "aes_128_cbc": "-aes128",
    "aes_192_cbc": "-aes192",
    "aes_256_cbc": "-aes256",
}


def run(*args: str | Path, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(
        ["openssl", *map(str, args)],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=30,
    )
    if proc.returncode:
        raise RuntimeError(f"openssl {args[:2]} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def build(
    work: Path,
    payload: bytes,
    *,
    signer_key: Path | None,
    signer_cert: Path | None,
    recipient_cert: Path | None,
    digest: str = "sha256",
    cipher: str = "aes_128_cbc",
    message_id: str = "openssl-1@peer.example",
    as2_from: str = "PARTNER",
    as2_to: str = "ACMEVENDOR",
    micalg_request: str | None = None,
) -> tuple[dict[str, str], bytes, str]:
    """(HTTP headers, body, expected base64 MIC) as curl would POST them."""
    entity = (
        b"Content-Type: application/edi-x12\r\nContent-Transfer-Encoding: binary\r\n"
        b'Content-Disposition: attachment; filename="po-openssl.x12"\r\n\r\n' + payload
    )
    mic = base64.b64encode(hashlib.new(digest, entity).digest()).decode()
    src = work / "entity.bin"
    src.write_bytes(entity)
    if signer_key is not None:
        signed = work / "signed.eml"
        run(
            "cms",
            "-sign",
            "-binary",
            "-crlfeol",
            "-in",
            src,
            "-signer",
            signer_cert,
            "-inkey",
            signer_key,
            "-md",
            digest,
            "-out",
            signed,
        )
        src = signed
    headers = {
        "AS2-Version": "1.1",
        "AS2-From": as2_from,
        "AS2-To": as2_to,
        "Message-ID": f"<{message_id}>",
        "Subject": "openssl test",
        "Date": "Fri, 27 Nov 2026 06:00:00 +0000",
        "Disposition-Notification-To": "peer@example.com",
        "Disposition-Notification-Options": "signed-receipt-protocol=required, pkcs7-signature; "
        f"signed-receipt-micalg=required, {micalg_request or digest}",
    }
    if recipient_cert is not None:
        out = work / "enc.der"
        run(
            "cms",
            "-encrypt",
            "-binary",
            CIPHER_FLAGS[cipher],
            "-in",
            src,
            "-outform",
            "DER",
            "-out",
            out,
            recipient_cert,
        )
        headers["Content-Type"] = 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'
        return headers, out.read_bytes(), mic
    data = src.read_bytes()
    if signer_key is None:
        headers["Content-Type"] = "application/edi-x12"
        headers["Content-Disposition"] = 'attachment; filename="po-openssl.x12"'
        return headers, payload, mic
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.decode().replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n"):
        k, _, v = line.partition(":")
        if k.lower() == "content-type":
            headers["Content-Type"] = v.strip()
    return headers, body, mic


def verify_mdn(work: Path, headers: dict[str, str], body: bytes, signer_cert: Path) -> dict[str, str]:
    """Verify a signed MDN with ``openssl cms -verify`` (text mode, as the notes found necessary)
    and return the disposition-notification fields."""
    eml = work / "mdn.eml"
    eml.write_bytes(f"Content-Type: {headers['Content-Type']}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body)
    out = work / "mdn.out"
    run("cms", "-verify", "-in", eml, "-CAfile", signer_cert, "-purpose", "any", "-out", out)
    text = out.read_bytes().decode("latin-1")
    fields = {}
    for m in re.finditer(r"^([A-Za-z-]+):\s*(.*?)\r?$", text, re.M):
        fields[m.group(1).lower()] = m.group(2).strip()
    return fields
