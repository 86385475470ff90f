"""MDNs (RFC 3798 / RFC 4130 section 7): building ours, signed when asked, and checking a partner's."""

from __future__ import annotations

import uuid
from datetime import datetime

from gateway.transport.as2 import as2headers, certs, cms_signed, mime
from gateway.transport.as2.algorithms import digest_name, micalg_token
from gateway.transport.as2.codec import InboundResult, MdnResult, OutboundMessage
from gateway.transport.as2.errors import As2Error, MalformedMessage
from gateway.transport.as2.profiles import PartnerProfile

OK_TEXT = "The AS2 message has been received and stored."
FAIL_TEXT = "The AS2 message could not be processed; the disposition-notification report says why."
MAX_MDN = 1024 * 1024


def _report(result: InboundResult, ua: str) -> bytes:
    to = result.as2_to or "unknown"
    lines = [
        f"Reporting-UA: {ua}",
        f"Original-Recipient: rfc822; {to}",
        f"Final-Recipient: rfc822; {to}",
        f"Original-Message-ID: <{result.message_id or ''}>",
        f"Disposition: automatic-action/MDN-sent-automatically; {result.disposition}",
    ]
    if result.mic:
        lines.append(f"Received-Content-MIC: {result.mic}, {result.mic_token or result.mic_alg}")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1", "replace")


def build_mdn(result: InboundResult, now: datetime) -> tuple[dict[str, str], bytes]:
    """HTTP headers and body of the MDN for ``result``; signed when the sender asked for a signed
    receipt and we know which identity of ours it was sent to."""
    local = result.local
    ua = local.user_agent if local else "Acorn EDI Gateway"
    text = OK_TEXT if result.ok else f"{FAIL_TEXT}\r\n{result.detail}"
    boundary = f"----=_mdn_{uuid.uuid4().hex}"
    report = b"".join(
        [
            f"--{boundary}\r\n".encode(),
            b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
            text.encode("ascii", "replace") + b"\r\n",
            f"--{boundary}\r\n".encode(),
            b"Content-Type: message/disposition-notification\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
            _report(result, ua),
            f"--{boundary}--\r\n".encode(),
        ]
    )
    report_ct = f'multipart/report; report-type=disposition-notification; boundary="{boundary}"'
    ctype, body = report_ct, report
    signer = None
    if local and result.mdn.signed:
        try:
            signer = certs.newest_key(local.keys, now)
        except certs.NoValidCertificate:
            signer = None
    if signer is not None:
        digest = result.mic_alg or "sha256"
        scheme = result.partner.sig_scheme if result.partner else "pkcs1v15"
        entity = mime.entity([("Content-Type", report_ct)], report)
        sig = cms_signed.sign_detached(entity, signer, digest, scheme, now)
        outer = f"----=_mdns_{uuid.uuid4().hex}"
        body = b"".join(
            [
                f"--{outer}\r\n".encode(),
                entity,
                f"\r\n--{outer}\r\n".encode(),
                b'Content-Type: application/pkcs7-signature; name="smime.p7s"; smime-type=signed-data\r\n'
                b"Content-Transfer-Encoding: base64\r\n"
                b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n',
                mime.wrap64(sig),
                f"--{outer}--\r\n".encode(),
            ]
        )
        ctype = (
            f'multipart/signed; protocol="application/pkcs7-signature"; '
            f'micalg={micalg_token(digest)}; boundary="{outer}"'
        )
    msg_id = as2headers.new_message_id(local.domain if local else "acorn-gateway.local")
    headers = as2headers.base_headers(result.as2_to or "", result.as2_from or "", msg_id, now, ua)
    headers["Subject"] = "AS2 MDN"
    headers["Content-Type"] = ctype
    return headers, body


def _fields(block: bytes) -> mime.Headers:
    h, _ = mime.split_entity(block.rstrip(b"\r\n") + b"\r\n\r\n")
    return h


def parse_mdn(
    h: mime.Headers, body: bytes, outbound: OutboundMessage, partner: PartnerProfile, now: datetime
) -> MdnResult:
    signed = False
    try:
        if len(body) > MAX_MDN:
            raise MalformedMessage("MDN larger than 1 MiB")
        ctype, params = h.ctype()
        if ctype == "multipart/signed":
            first, sig_part = mime.split_signed(body, params.get("boundary", ""))
            sh, sb = mime.split_entity(sig_part)
            canon = mime.canonical(first)
            v = cms_signed.verify_detached(
                mime.decode_body(sh, sb),
                [first] if canon == first else [first, canon],
                partner.certificates,
                now,
            )
            signed = True
            h, body = mime.split_entity(v.content)  # type: ignore[arg-type]  # the candidates passed in are bytes
            ctype, params = h.ctype()
        elif partner.mdn.signed:
            return MdnResult(
                False, None, False, False, error="an unsigned MDN came back; a signed one was requested"
            )
        if ctype != "multipart/report":
            raise MalformedMessage(f"MDN is {ctype}, not multipart/report")
        fields = None
        for part in mime.split_multipart(body, params.get("boundary", "")):
            ph, pb = mime.split_entity(part)
            if ph.ctype()[0] == "message/disposition-notification":
                fields = _fields(mime.decode_body(ph, pb))
        if fields is None:
            raise MalformedMessage("MDN has no message/disposition-notification part")
    except As2Error as e:
        return MdnResult(False, None, False, signed, error=f"{e.disposition}: {e}")
    orig = fields.get("original-message-id", "").strip().strip("<>") or None
    disposition = fields.get("disposition", "").partition(";")[2].strip() or None
    mic: str | None
    mic, _, alg_token = fields.get("received-content-mic", "").partition(",")
    mic, alg = mic.strip() or None, digest_name(alg_token) if alg_token.strip() else None
    status = (disposition or "").lower().replace(" ", "")
    warning = status.split("warning:", 1)[1] if "/warning:" in status else None
    mic_ok = mic is not None and mic == outbound.mic and alg == outbound.mic_alg
    error = None
    if orig is not None and orig != outbound.message_id:
        error = f"MDN is for message {orig}, not {outbound.message_id}"
    elif not status.startswith("processed") or "/error" in status or "/failure" in status:
        error = f"partner reports: {disposition}"
    elif mic is None:
        error = "MDN carries no Received-Content-MIC"
    elif not mic_ok:
        error = f"Received-Content-MIC {mic} ({alg_token.strip()}) differs from ours {outbound.mic} ({outbound.mic_alg})"
    return MdnResult(error is None, disposition, mic_ok, signed, orig, mic, alg, warning, error)
