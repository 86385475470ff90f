"""The native AS2 codec: CMS and MIME read and written here on top of pyca ``cryptography``.

Layers are peeled in the order they come (enveloped, compressed, signed, in any RFC 5402 order), each
with its own failure disposition. MIC per RFC 4130 section 7.3.1: over the signed entity when signed,
over the decrypted entity when only encrypted, over the content when neither.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import structlog

from gateway.transport.as2 import as2headers, certs, cms_envelope, cms_signed, mime
from gateway.transport.as2.algorithms import cipher_for, micalg_token
from gateway.transport.as2.cms_signed import Digestible
from gateway.transport.as2.codec import (
    DEFAULT_MAX_SIZE,
    InboundResult,
    IsDuplicate,
    MdnResult,
    OutboundMessage,
    Resolve,
)
from gateway.transport.as2.errors import (
    As2Error,
    DecryptionFailed,
    InsufficientSecurity,
    MalformedMessage,
    UnknownPartner,
)
from gateway.transport.as2.native_mdn import build_mdn, parse_mdn
from gateway.transport.as2.profiles import LocalIdentity, PartnerProfile, utcnow

log = structlog.get_logger()
Peel = Callable[
    [mime.Headers, LocalIdentity, PartnerProfile, "State", datetime],
    "tuple[mime.Headers, bytes | Digestible]",
]
PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
MAX_LAYERS = 6


def smime_kind(params: dict[str, str], data: bytes) -> str:
    kind = params.get("smime-type", "").lower()
    if kind:
        return kind
    # No smime-type: look at the ContentInfo OID (the second element of the outer SEQUENCE).
    if bytes.fromhex("06092a864886f70d010703") in data[:32]:
        return "enveloped-data"
    if bytes.fromhex("060b2a864886f70d0109100109") in data[:32]:
        return "compressed-data"
    return "unknown"


@dataclass(slots=True)
class State:
    """What peeling the layers found (and what the MIC covers)."""

    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    cipher: str | None = None
    key_enc: str | None = None
    digest: str | None = None
    fingerprint: str | None = None
    mic_content: bytes | Digestible | None = None
    mic_digest: bytes | None = None  # precomputed hash of mic_content under ``digest``
    mic_canon: bool = False  # mic_content is a decrypted entity: hash its canonical form


def _mic_bytes(st: State) -> bytes:
    """What the MIC covers (RFC 4130 7.3.1): the signed entity as signed, the decrypted entity in
    canonical form, or the content."""
    assert isinstance(st.mic_content, bytes)
    if not st.mic_canon:
        return st.mic_content
    try:
        return mime.canonical_entity(st.mic_content)
    except MalformedMessage:  # an entity we could not read: the MDN reports that; hash it as it came
        return st.mic_content


class NativeCodec:
    name = "native"

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size

    # ---- sending ----

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
        msg_id = as2headers.new_message_id(sender.domain)
        heads = [("Content-Type", content_type), ("Content-Transfer-Encoding", "binary")]
        if filename:
            heads.append(("Content-Disposition", f"attachment; filename={mime.quote(filename)}"))
        entity = plain_entity = mime.entity(heads, payload)
        mic_alg = receiver.sign or "sha256"
        mic_content = payload
        if receiver.compress:
            entity = mime.entity(
                [
                    ("Content-Type", 'application/pkcs7-mime; smime-type=compressed-data; name="smime.p7z"'),
                    ("Content-Transfer-Encoding", "binary"),
                    ("Content-Disposition", 'attachment; filename="smime.p7z"'),
                ],
                cms_envelope.compress(entity),
            )
        if receiver.sign:
            mic_content = entity
            signer = certs.newest_key(sender.keys, now)
            sig = cms_signed.sign_detached(entity, signer, receiver.sign, receiver.sig_scheme, now)
            boundary = f"----=_as2_{uuid.uuid4().hex}"
            body = b"".join(
                [
                    f"--{boundary}\r\n".encode(),
                    entity,
                    f"\r\n--{boundary}\r\n".encode(),
                    b'Content-Type: application/pkcs7-signature; name="smime.p7s"; smime-type=signed-data\r\n'
                    b"Content-Transfer-Encoding: base64\r\n"
                    b'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n',
                    mime.wrap64(sig),
                    f"--{boundary}--\r\n".encode(),
                ]
            )
            ctype = (
                f'multipart/signed; protocol="application/pkcs7-signature"; '
                f'micalg={micalg_token(receiver.sign)}; boundary="{boundary}"'
            )
            entity = mime.entity([("Content-Type", ctype)], body)
        elif receiver.encrypt:  # RFC 4130 7.3.1 / RFC 5402 4.2: the canonical, uncompressed entity
            mic_content = mime.canonical_entity(plain_entity)
        cipher = None
        if receiver.encrypt:
            cipher = receiver.encrypt
            cert = certs.newest_cert(receiver.certificates, now)
            data = cms_envelope.envelope(entity, cert, cipher_for(cipher), receiver.key_enc)
            top = mime.Headers(
                {"content-type": 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'}
            )
            top["content-disposition"] = 'attachment; filename="smime.p7m"'
        else:
            top, data = mime.split_entity(entity)
        headers = as2headers.base_headers(sender.as2_id, receiver.as2_id, msg_id, now, sender.user_agent)
        headers["Subject"] = subject
        for k, v in top.items():
            headers["-".join(p.capitalize() for p in k.split("-"))] = v
        if receiver.mdn.mode != "none":
            headers["Disposition-Notification-To"] = sender.as2_id
            if receiver.mdn.signed:
                headers["Disposition-Notification-Options"] = (
                    "signed-receipt-protocol=optional, pkcs7-signature; "
                    f"signed-receipt-micalg=optional, {micalg_token(mic_alg)}"
                )
            if receiver.mdn.mode == "async" and receiver.mdn.url:
                headers["Receipt-Delivery-Option"] = receiver.mdn.url
        mic = base64.b64encode(hashlib.new(mic_alg, mic_content).digest()).decode()
        return OutboundMessage(
            headers,
            data,
            msg_id,
            mic,
            mic_alg,
            bool(receiver.sign),
            bool(receiver.encrypt),
            receiver.compress,
            cipher,
        )

    def parse_mdn(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        outbound: OutboundMessage,
        partner: PartnerProfile,
        now: datetime | None = None,
    ) -> MdnResult:
        return parse_mdn(as2headers.lower(headers), body, outbound, partner, now or utcnow())

    # ---- receiving ----

    def build_mdn(
        self, result: InboundResult, *, now: datetime | None = None
    ) -> tuple[dict[str, str], bytes]:
        return build_mdn(result, now or utcnow())

    def parse_message(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        resolve: Resolve,
        is_duplicate: IsDuplicate,
        now: datetime | None = None,
    ) -> InboundResult:
        return self.parse_with(
            headers,
            lambda h, local, partner, st, now: self._peel(h, body, local, partner, st, now),
            resolve=resolve,
            is_duplicate=is_duplicate,
            now=now,
        )

    def parse_file(
        self,
        headers: Mapping[str, str],
        path: str,
        *,
        resolve: Resolve,
        is_duplicate: IsDuplicate,
        out_dir: str,
        now: datetime | None = None,
    ) -> tuple[InboundResult, str | None]:
        """``parse_message`` for a body in a file, a chunk at a time (``native_file.parse_file``):
        the result without payload, and the path of the payload file written in ``out_dir``."""
        from gateway.transport.as2.native_file import parse_file

        return parse_file(
            self, headers, path, resolve=resolve, is_duplicate=is_duplicate, out_dir=out_dir, now=now
        )

    def parse_with(
        self,
        headers: Mapping[str, str],
        peel: Peel,
        *,
        resolve: Resolve,
        is_duplicate: IsDuplicate,
        now: datetime | None = None,
    ) -> InboundResult:
        """``parse_message`` with the layers peeled by ``peel`` (in memory, or from a file by
        ``native_file``); a payload that is not ``bytes`` stays out of the result."""
        now = now or utcnow()
        h = as2headers.lower(headers)
        msg_id = as2headers.message_id(h)
        as2_from, as2_to = as2headers.as2_ids(h)
        request = as2headers.mdn_request(h)
        st = State()
        local = partner = payload = filename = ctype = warning = error = None
        detail = ""
        try:
            if not as2_from or not as2_to:
                raise MalformedMessage("AS2-From or AS2-To header missing")
            found = resolve(as2_from, as2_to)
            if found is None:
                raise UnknownPartner(f"no partnership from {as2_from!r} to {as2_to!r}")
            local, partner = found
            if not msg_id:
                raise MalformedMessage("Message-ID header missing")
            payload_h, content = peel(h, local, partner, st, now)
            if partner.require_signed and not st.signed:
                raise InsufficientSecurity(
                    "the partner profile requires signed messages; this one is not signed"
                )
            if st.mic_content is None:
                st.mic_content = content
            payload = content if isinstance(content, bytes) else None
            filename, ctype = as2headers.filename_from(payload_h), payload_h.ctype()[0]
            warning = "duplicate-document" if is_duplicate(msg_id) else None
        except As2Error as e:
            error, detail = e.disposition, str(e)
        except Exception as e:  # a bug: still answer with a negative MDN, and say so in the log
            log.exception("as2.native.bug", message_id=msg_id, partner=as2_from)
            error, detail = "unexpected-processing-error", f"internal error: {type(e).__name__}"
        mic = mic_alg = token = None
        if st.mic_content is not None:
            mic_alg, token = as2headers.choose_micalg(request, st.digest)
            if st.mic_digest is not None and mic_alg == st.digest:
                raw = st.mic_digest
            elif isinstance(st.mic_content, bytes):
                raw = hashlib.new(mic_alg, _mic_bytes(st)).digest()
            else:
                raw = st.mic_content.digest(mic_alg)
            mic = base64.b64encode(raw).decode()
        return InboundResult(
            msg_id,
            as2_from,
            as2_to,
            local,
            partner,
            payload=payload,
            filename=filename,
            content_type=ctype,
            signed=st.signed,
            encrypted=st.encrypted,
            compressed=st.compressed,
            cipher=st.cipher,
            key_enc=st.key_enc,
            digest=st.digest,
            signer_fingerprint=st.fingerprint,
            mic=mic,
            mic_alg=mic_alg,
            mic_token=token,
            error=error,
            warning=warning,
            detail=detail,
            mdn=request,
        )

    def _peel(
        self,
        h: mime.Headers,
        body: bytes,
        local: LocalIdentity,
        partner: PartnerProfile,
        st: State,
        now: datetime,
    ) -> tuple[mime.Headers, bytes]:
        ctype, params = h.ctype()
        if partner.require_encrypted and ctype not in PKCS7_MIME:
            raise InsufficientSecurity(
                "the partner profile requires encrypted messages; this one is not encrypted"
            )
        for _ in range(MAX_LAYERS):
            ctype, params = h.ctype()
            if ctype in PKCS7_MIME:
                data = mime.decode_body(h, body)
                kind = smime_kind(params, data)
                if kind == "enveloped-data" and not (st.encrypted or st.signed):
                    keys = certs.valid_keys(local.keys, now)
                    if not keys:
                        raise DecryptionFailed("none of our certificates is valid now")
                    opened = cms_envelope.open_envelope(data, keys)
                    st.encrypted, st.cipher, st.key_enc = True, opened.cipher, opened.key_enc
                    st.mic_content, st.mic_canon = opened.content, True
                    h, body = mime.split_entity(opened.content)
                elif kind == "compressed-data" and not st.compressed:
                    content = cms_envelope.decompress(data, self.max_size)
                    st.compressed = True
                    if st.encrypted and not st.signed:  # RFC 5402 4.2: MIC over the uncompressed entity
                        st.mic_content, st.mic_canon = content, True
                    h, body = mime.split_entity(content)
                else:
                    raise MalformedMessage(f"unexpected S/MIME layer {kind!r}")
            elif ctype == "multipart/signed":
                if st.signed:
                    raise MalformedMessage("message is signed twice")
                first, sig_part = mime.split_signed(body, params.get("boundary", ""))
                sh, sb = mime.split_entity(sig_part)
                if sh.ctype()[0] not in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
                    raise MalformedMessage("second part of multipart/signed is not a PKCS#7 signature")
                canon = mime.canonical(first)
                candidates = [first] if canon == first else [first, canon]
                v = cms_signed.verify_detached(
                    mime.decode_body(sh, sb), candidates, partner.certificates, now
                )
                st.signed, st.digest, st.fingerprint = True, v.digest, certs.fingerprint(v.cert)
                signed = cast(bytes, v.content)
                st.mic_content, st.mic_digest, st.mic_canon = signed, v.content_digest, False
                h, body = mime.split_entity(signed)
            else:
                return h, mime.decode_body(h, body)
        raise MalformedMessage("too many nested S/MIME layers")
