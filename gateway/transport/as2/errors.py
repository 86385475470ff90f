"""Why an inbound AS2 message failed, each with the MDN disposition modifier it maps to (RFC 4130 7.4.3,
RFC 5402). Raised inside the codecs and turned into result values at their public edge."""

from __future__ import annotations


class As2Error(Exception):
    disposition = "unexpected-processing-error"


class AuthenticationFailed(As2Error):
    disposition = "authentication-failed"


class IntegrityCheckFailed(As2Error):
    disposition = "integrity-check-failed"


class DecryptionFailed(As2Error):
    disposition = "decryption-failed"


class DecompressionFailed(As2Error):
    disposition = "decompression-failed"


class InsufficientSecurity(As2Error):
    disposition = "insufficient-message-security"


class UnknownPartner(As2Error):
    disposition = "unknown-trading-partner"


class MalformedMessage(As2Error):
    disposition = "unexpected-processing-error"
