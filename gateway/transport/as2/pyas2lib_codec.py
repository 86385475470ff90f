"""The reference codec: pyas2lib 1.4.4 behind our interface, as a per-partner fallback.

Where pyas2lib falls short we correct it here: several certificates (tried in turn), the MDN micalg
(first supported, not last), the cipher actually used (read from the EnvelopedData), duplicates (checked
after decryption so the MDN still carries the MIC), and the MDN MIC check (missing or different fails).
``import gateway`` must run before pyas2lib is imported (oscrypto on OpenSSL 3).

Every call runs with the cyclic garbage collector paused: oscrypto objects have ``__del__`` methods
that call into cffi, and when a collection fires while cffi is parsing a C type for the first time
(it holds a non-reentrant lock then), the process deadlocks. Seen here in the test suite.
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from pyas2lib import as2 as p2
from pyas2lib import cms as p2cms

import gateway  # noqa: F401  (installs the oscrypto import fix before pyas2lib loads)
from gateway.transport.as2 import as2headers, certs, cms_envelope, der, mime
from gateway.transport.as2.algorithms import digest_name
from gateway.transport.as2.codec import InboundResult, IsDuplicate, MdnResult, OutboundMessage, Resolve
from gateway.transport.as2.errors import As2Error, MalformedMessage
from gateway.transport.as2.profiles import KeyPair, LocalIdentity, PartnerProfile, utcnow

T = TypeVar("T")


def _no_gc(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return wrapper


_RETRY = {"decryption-failed", "authentication-failed", "integrity-check-failed"}


def _pem_cert(cert: Any) -> bytes:
    return bytes(cert.public_bytes(serialization.Encoding.PEM))


@lru_cache(maxsize=64)
def _org(as2_id: str, domain: str, key_pem: bytes) -> p2.Organization:
    return p2.Organization(as2_name=as2_id, sign_key=key_pem, decrypt_key=key_pem, domain=domain)


def _organization(local: LocalIdentity, pair: KeyPair) -> p2.Organization:
    pem = pair.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return _org(local.as2_id, local.domain, pem + _pem_cert(pair.cert))


def _partner(profile: PartnerProfile, cert_pem: bytes | None, inbound: bool) -> p2.Partner:
    mdn_mode = {"sync": "SYNC", "async": "ASYNC"}.get(profile.mdn.mode)
    return p2.Partner(
        as2_name=profile.as2_id,
        verify_cert=cert_pem,
        encrypt_cert=cert_pem,
        validate_certs=False,
        compress=profile.compress,
        sign=profile.require_signed if inbound else bool(profile.sign),
        digest_alg=profile.sign or "sha256",
        encrypt=profile.require_encrypted if inbound else bool(profile.encrypt),
        enc_alg=profile.encrypt or "aes_128_cbc",
        mdn_mode=mdn_mode,
        mdn_digest_alg=(profile.sign or "sha256") if profile.mdn.signed else None,
        sign_alg="rsassa_pss" if profile.sig_scheme == "pss" else "rsassa_pkcs1v15",
        key_enc_alg=profile.key_enc,
    )


def _cipher_of(data: bytes) -> tuple[str | None, str | None]:
    """(cipher, key transport) named in an EnvelopedData: pyas2lib reports None for AES."""
    try:
        return cms_envelope.describe(data)
    except (der.DerError, ValueError, As2Error):
        return None, None


class Pyas2libCodec:
    name = "pyas2lib"

    @_no_gc
    def build_message(
        self,
        payload: bytes,
        *,
        sender: LocalIdentity,
        receiver: PartnerProfile,
        filename: str | None = None,
        content_type: str = "application/edi-x12",
        subject: str = "AS2 message",
        now: datetime | None = None,
    ) -> OutboundMessage:
        now = now or utcnow()
        cert = _pem_cert(certs.newest_cert(receiver.certificates, now)) if receiver.encrypt else None
        p_partner = _partner(receiver, cert, False)
        oaep = bool(receiver.encrypt) and receiver.key_enc == "rsaes_oaep"
        if oaep:  # pyas2lib 1.4.4's Message.build ignores key_enc_alg: encrypt with its cms module here
            p_partner.encrypt = False
        msg = p2.Message(_organization(sender, certs.newest_key(sender.keys, now)), p_partner)
        msg.build(
            payload,
            filename=filename,
            subject=subject,
            content_type=content_type,
            disposition_notification_to=sender.as2_id,
        )
        headers = {k: str(v) for k, v in msg.headers.items()}
        content = msg.content
        if oaep:
            inner = mime.entity([("Content-Type", headers.pop("Content-Type"))], content)
            p_partner.encrypt = True
            content = p2cms.encrypt_message(
                inner, receiver.encrypt, p_partner.load_encrypt_cert(), "rsaes_oaep"
            )
            headers["Content-Type"] = 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'
            headers["Content-Disposition"] = 'attachment; filename="smime.p7m"'
        if receiver.mdn.signed and receiver.mdn.mode != "none":
            headers["disposition-notification-options"] = (
                "signed-receipt-protocol=optional, pkcs7-signature; "
                f"signed-receipt-micalg=optional, {receiver.sign or 'sha256'}"
            )
        mic = msg.mic.decode() if msg.mic else None
        return OutboundMessage(
            headers,
            content,
            msg.message_id,
            mic,
            msg.digest_alg if mic else None,
            bool(receiver.sign),
            bool(receiver.encrypt),
            receiver.compress,
            receiver.encrypt,
        )

    @_no_gc
    def parse_message(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        resolve: Resolve,
        is_duplicate: IsDuplicate,
        now: datetime | None = None,
    ) -> InboundResult:
        now = now or utcnow()
        h = as2headers.lower(headers)
        msg_id = as2headers.message_id(h)
        as2_from, as2_to = as2headers.as2_ids(h)
        request = as2headers.mdn_request(h)
        result = InboundResult(msg_id, as2_from, as2_to, mdn=request)
        found = resolve(as2_from or "", as2_to or "") if as2_from and as2_to else None
        if found is None:
            return InboundResult(
                msg_id,
                as2_from,
                as2_to,
                mdn=request,
                error="unknown-trading-partner",
                detail=f"no partnership from {as2_from!r} to {as2_to!r}",
            )
        local, partner = found
        if not msg_id:
            return InboundResult(
                msg_id,
                as2_from,
                as2_to,
                local,
                partner,
                mdn=request,
                error="unexpected-processing-error",
                detail="Message-ID header missing",
            )
        enveloped = "enveloped-data" in h.get("content-type", "").lower()
        raw = mime.entity(
            ((k, v) for k, v in h.items() if not k.startswith("disposition-notification")), body
        )
        keys = certs.valid_keys(local.keys, now) or list(local.keys)
        verify = [c for c in partner.certificates if c.not_valid_before_utc <= now <= c.not_valid_after_utc]
        attempts = [(k, c) for k in keys for c in (verify or [None])]  # type: ignore[list-item]  # None: try without a partner certificate
        msg, error, detail = None, None, ""
        for pair, cert in attempts:
            msg = p2.Message()
            p_partner = _partner(partner, _pem_cert(cert) if cert is not None else None, True)
            status, (exc, _), _ = msg.parse(
                raw, find_org_partner_cb=lambda _t, _f, o=_organization(local, pair), p=p_partner: (o, p)
            )
            if exc is None:
                error = None
                break
            error = getattr(exc, "disposition_modifier", "") or "unexpected-processing-error"
            detail = str(exc)
            if "Message Digest does not match" in detail:
                error = "integrity-check-failed"
            still_sealed = msg.payload is not None and msg.payload.get_param("smime-type") == "enveloped-data"
            if error == "unexpected-processing-error" and enveloped and still_sealed:
                error = "decryption-failed"  # pyas2lib fails on malformed CMS before it decrypts
            if error not in _RETRY:
                break
        result = InboundResult(
            msg_id, as2_from, as2_to, local, partner, mdn=request, error=error, detail=detail
        )
        if msg is None:
            return result
        cipher = key_enc = None
        if msg.encrypted:
            try:
                cipher, key_enc = _cipher_of(mime.decode_body(h, body))
            except MalformedMessage:
                cipher = key_enc = None
        digest = digest_name(msg.digest_alg) if msg.digest_alg else None
        mic = msg.mic.decode() if msg.mic else None
        mic_alg, token = as2headers.choose_micalg(request, digest)
        if mic is None and msg.encrypted and error is None:
            # pyas2lib gives no MIC for unsigned messages; encrypted ones need the canonical decrypted
            # entity (RFC 4130 7.3.1), which the native reader computes
            from gateway.transport.as2.native import NativeCodec

            again = NativeCodec().parse_message(
                headers, body, resolve=lambda _f, _t: found, is_duplicate=lambda _m: False, now=now
            )
            mic = again.mic if again.mic_alg == mic_alg else None
        if mic is None:  # unsigned, unencrypted: the content
            content = msg.content if isinstance(msg.content, bytes) else b""
            mic = base64.b64encode(hashlib.new(mic_alg, content).digest()).decode() if error is None else None
        elif mic_alg != digest and msg.signed:  # pyas2lib hashes with the signature's digest only
            from gateway.transport.as2.native import NativeCodec

            again = NativeCodec().parse_message(
                headers, body, resolve=lambda _f, _t: found, is_duplicate=lambda _m: False, now=now
            )
            if again.mic_alg == mic_alg and again.mic:
                mic = again.mic
            else:
                mic_alg, token = digest or mic_alg, (digest or mic_alg)
        payload = None
        if error is None:
            payload = msg.content if isinstance(msg.content, bytes) else str(msg.content).encode()
        return InboundResult(
            msg_id,
            as2_from,
            as2_to,
            local,
            partner,
            payload=payload,
            filename=msg.payload.get_filename() if error is None and msg.payload is not None else None,
            content_type=msg.payload.get_content_type()
            if error is None and msg.payload is not None
            else None,
            signed=bool(msg.signed),
            encrypted=bool(msg.encrypted),
            compressed=bool(msg.compressed),
            cipher=cipher,
            key_enc=key_enc,
            digest=digest,
            mic=mic,
            mic_alg=mic_alg,
            mic_token=token,
            error=error,
            warning="duplicate-document" if error is None and msg_id and is_duplicate(msg_id) else None,
            detail=detail,
            mdn=request,
        )

    @_no_gc
    def build_mdn(
        self, result: InboundResult, *, now: datetime | None = None
    ) -> tuple[dict[str, str], bytes]:
        now = now or utcnow()
        local, partner = result.local, result.partner
        receiver = None
        if local is not None:
            try:
                receiver = _organization(local, certs.newest_key(local.keys, now))
            except certs.NoValidCertificate:
                receiver = None
        headers = {"as2-to": result.as2_to or "", "as2-from": result.as2_from or ""}
        if result.mdn.signed and receiver is not None:
            headers["disposition-notification-options"] = (
                f"signed-receipt-protocol=required, pkcs7-signature; signed-receipt-micalg=required, "
                f"{result.mic_alg or 'sha256'}"
            )
        message = SimpleNamespace(
            receiver=receiver,
            sender=_partner(partner, None, True) if partner else None,
            headers=headers,
            message_id=result.message_id or "",
            mic=result.mic.encode() if result.mic else None,
            digest_alg=result.mic_token or result.mic_alg,
        )
        status = (
            "processed"
            if result.ok and not result.warning
            else ("processed/Warning" if result.ok else "processed/Error")
        )
        mdn = p2.Mdn(mdn_mode="SYNC")
        mdn.build(message=message, status=status, detailed_status=result.warning or result.error)
        return {k: str(v) for k, v in mdn.headers.items()}, mdn.content

    @_no_gc
    def parse_mdn(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        outbound: OutboundMessage,
        partner: PartnerProfile,
        now: datetime | None = None,
    ) -> MdnResult:
        now = now or utcnow()
        raw = mime.entity(as2headers.lower(headers).items(), body)
        verify = [c for c in partner.certificates if c.not_valid_before_utc <= now <= c.not_valid_after_utc]
        status = detail = None
        mdn = p2.Mdn()
        for cert in verify or [None]:  # type: ignore[list-item]  # None: try without a partner certificate
            orig = p2.Message(None, _partner(partner, _pem_cert(cert) if cert is not None else None, False))
            orig.message_id, orig.mic = outbound.message_id, (outbound.mic or "").encode()
            mdn = p2.Mdn()
            status, detail = mdn.parse(raw, lambda _m, _r, o=orig: o)
            if status and not status.startswith("failed"):
                break
        signed = mime.parse_params(as2headers.lower(headers).get("content-type", ""))[0] == "multipart/signed"
        if not status or status.startswith("failed"):
            return MdnResult(False, None, False, signed, error=f"{status}: {detail}")
        fields: Any = None
        for part in mdn.payload.walk():
            if part.get_content_type() == "message/disposition-notification":
                fields = part.get_payload()[-1]
        disposition = fields["Disposition"].partition(";")[2].strip() if fields is not None else status
        mic, _, alg = (fields.get("Received-Content-MIC", "") if fields is not None else "").partition(",")
        mic_ok = bool(mic.strip()) and mic.strip() == outbound.mic and digest_name(alg) == outbound.mic_alg
        error = None
        if not status.lower().startswith("processed"):
            error = f"partner reports: {disposition} {detail or ''}".strip()
        elif not mic_ok:
            error = f"Received-Content-MIC {mic.strip() or '(none)'} does not match ours {outbound.mic}"
        low = disposition.lower().replace(" ", "")
        warning = low.split("/warning:", 1)[1] if "/warning:" in low else None
        return MdnResult(
            error is None,
            disposition,
            mic_ok,
            signed,
            mdn.orig_message_id,
            mic.strip() or None,
            digest_name(alg) if alg else None,
            warning,
            error,
        )
