"""The interface both AS2 codecs implement, and the values they exchange.

A codec is stateless and picklable, so the receive path can run in a process pool
(``pool``). Failures of an inbound message are values (``InboundResult.error`` is the MDN
disposition modifier), never exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gateway.transport.as2.profiles import LocalIdentity, PartnerProfile

Resolve = Callable[[str, str], "tuple[LocalIdentity, PartnerProfile] | None"]
IsDuplicate = Callable[[str], bool]
DEFAULT_MAX_SIZE = 512 * 1024 * 1024  # largest payload we inflate or decrypt into


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    headers: dict[str, str]  # HTTP headers to send (AS2 and MIME)
    body: bytes
    message_id: str  # without angle brackets
    mic: str | None  # base64 MIC we expect back in the MDN
    mic_alg: str | None  # canonical digest name ("sha256")
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    cipher: str | None = None


@dataclass(frozen=True, slots=True)
class MdnRequest:
    """What the sender asked for in Disposition-Notification-To / -Options / Receipt-Delivery-Option."""

    wanted: bool = False
    signed: bool = False  # a signed receipt was asked for (optional or required)
    micalgs: tuple[str, ...] = ()  # as requested, in order of preference (raw tokens)
    url: str | None = None  # async MDN URL; None = synchronous


@dataclass(frozen=True, slots=True)
class InboundResult:
    message_id: str | None
    as2_from: str | None
    as2_to: str | None
    local: LocalIdentity | None = None
    partner: PartnerProfile | None = None
    payload: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    cipher: str | None = None  # content cipher actually used ("aes_256_cbc")
    key_enc: str | None = None  # key transport actually used
    digest: str | None = None  # digest of the partner's signature
    signer_fingerprint: str | None = None  # SHA-256 of the certificate that verified
    mic: str | None = None  # base64
    mic_alg: str | None = None  # canonical name, chosen as RFC 4130 says
    mic_token: str | None = None  # the algorithm as the sender spelled it, echoed in the MDN
    error: str | None = None  # disposition modifier ("decryption-failed"); None when processed
    warning: str | None = None  # "duplicate-document"
    detail: str = ""
    mdn: MdnRequest = field(default_factory=MdnRequest)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def disposition(self) -> str:
        if self.error:
            return f"processed/Error: {self.error}"
        if self.warning:
            return f"processed/Warning: {self.warning}"
        return "processed"


@dataclass(frozen=True, slots=True)
class MdnResult:
    ok: bool  # signature valid (when required), disposition processed, MIC equal
    disposition: str | None  # e.g. "processed" or "processed/Error: decryption-failed"
    mic_ok: bool
    signed: bool
    original_message_id: str | None = None
    mic: str | None = None
    mic_alg: str | None = None
    warning: str | None = None
    error: str | None = None  # why ``ok`` is False


class AS2Codec(Protocol):
    name: str

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
    ) -> OutboundMessage: ...

    def parse_message(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        resolve: Resolve,
        is_duplicate: IsDuplicate,
        now: datetime | None = None,
    ) -> InboundResult: ...

    def build_mdn(
        self, result: InboundResult, *, now: datetime | None = None
    ) -> tuple[dict[str, str], bytes]: ...

    def parse_mdn(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        outbound: OutboundMessage,
        partner: PartnerProfile,
        now: datetime | None = None,
    ) -> MdnResult: ...


def get_codec(name: str) -> AS2Codec:
    """The codec named ``native`` (default) or ``pyas2lib``."""
    if name == "native":
        from gateway.transport.as2.native import NativeCodec

        return NativeCodec()
    if name == "pyas2lib":
        from gateway.transport.as2.pyas2lib_codec import Pyas2libCodec

        return Pyas2libCodec()
    raise ValueError(f"unknown AS2 codec {name!r} (use native or pyas2lib)")
