"""AS2 (RFC 4130) codecs: build and parse messages and MDNs, natively on pyca ``cryptography`` or
through pyas2lib. No Twisted here; ``pool`` runs the codecs off the reactor."""

from gateway.transport.as2.codec import (
    AS2Codec,
    InboundResult,
    MdnRequest,
    MdnResult,
    OutboundMessage,
    get_codec,
)
from gateway.transport.as2.profiles import KeyPair, LocalIdentity, MdnOptions, PartnerProfile

__all__ = [
    "AS2Codec",
    "InboundResult",
    "KeyPair",
    "LocalIdentity",
    "MdnOptions",
    "MdnRequest",
    "MdnResult",
    "OutboundMessage",
    "PartnerProfile",
    "get_codec",
]
