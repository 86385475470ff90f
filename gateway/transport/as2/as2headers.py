"""Reading the AS2 header fields both codecs need: identities, Message-ID, the MDN request and the
MIC algorithm negotiation (RFC 4130 section 7.3: the first requested algorithm we support)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from pathlib import PurePosixPath

from gateway.transport.as2.algorithms import MIC_ALGS, digest_name
from gateway.transport.as2.codec import MdnRequest
from gateway.transport.as2.mime import Headers, headers_from, parse_params, quote, unquote_id

AS2_VERSION = "1.1"  # compression (RFC 5402); no multiple attachments, so not 1.2


def lower(headers: Mapping[str, str]) -> Headers:
    return headers if isinstance(headers, Headers) else headers_from(headers.items())


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(v: str) -> str:
    return _CONTROL.sub("", v) if _CONTROL.search(v) else v


def message_id(h: Headers) -> str | None:
    v = _clean(h.get("message-id", "")).strip()
    v = v[1:-1] if v.startswith("<") and v.endswith(">") else v
    return v or None


def as2_ids(h: Headers) -> tuple[str | None, str | None]:
    f = _clean(unquote_id(h.get("as2-from", "")))
    t = _clean(unquote_id(h.get("as2-to", "")))
    return f or None, t or None


def mdn_request(h: Headers) -> MdnRequest:
    if not h.get("disposition-notification-to"):
        return MdnRequest()
    micalgs: tuple[str, ...]
    signed, micalgs = False, ()
    for item in h.get("disposition-notification-options", "").split(";"):
        name, _, values = item.partition("=")
        vals = [v.strip() for v in values.split(",")]
        if name.strip().lower() == "signed-receipt-protocol":
            signed = any(v.lower() == "pkcs7-signature" for v in vals[1:])
        elif name.strip().lower() == "signed-receipt-micalg":
            micalgs = tuple(v for v in vals[1:] if v)
    return MdnRequest(True, signed, micalgs, h.get("receipt-delivery-option") or None)


def choose_micalg(request: MdnRequest, fallback: str | None) -> tuple[str, str]:
    """(canonical name, token to echo): the first requested algorithm we support."""
    for token in request.micalgs:
        name = digest_name(token)
        if name in MIC_ALGS:
            return name, token.lower()
    name = fallback if fallback in MIC_ALGS else "sha256"
    return name, name


def filename_from(h: Headers) -> str | None:
    """The file name in Content-Disposition, reduced to its last path component."""
    cd = h.get("content-disposition")
    if not cd:
        return None
    _, params = parse_params(cd)
    raw = params.get("filename")
    if raw is None and "filename*" in params:
        raw = params["filename*"].split("''", 1)[-1]
    if not raw:
        return None
    name = PurePosixPath(raw.replace("\\", "/")).name
    name = re.sub(r"[\x00-\x1f]", "", name)
    return name if name not in ("", ".", "..") else None


def new_message_id(domain: str) -> str:
    return f"{uuid.uuid4().hex}@{domain}"


def base_headers(as2_from: str, as2_to: str, msg_id: str, now: datetime, user_agent: str) -> dict[str, str]:
    return {
        "AS2-Version": AS2_VERSION,
        "AS2-From": quote(as2_from),
        "AS2-To": quote(as2_to),
        "Message-ID": f"<{msg_id}>",
        "Date": format_datetime(now),
        "MIME-Version": "1.0",
        "User-Agent": user_agent,
    }
