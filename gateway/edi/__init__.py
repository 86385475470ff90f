"""EDI syntax: X12 and EDIFACT readers and writers, envelopes, acknowledgements. Pure; no I/O."""

from gateway.edi.parser import ParseResult, detect, parse

__all__ = ["ParseResult", "detect", "parse"]
