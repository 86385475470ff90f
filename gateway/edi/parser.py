"""``parse`` and ``detect``: bytes in, interchanges and findings out. Never raises on bad input."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Literal

from gateway.edi.codes import finding
from gateway.edi.edifact_parse import read_edifact
from gateway.edi.edifact_una import syntax_id
from gateway.edi.findings import Finding
from gateway.edi.model import Group, Interchange, Transaction
from gateway.edi.text import EBCDIC_ISA, byte_offsets, decode_edifact, decode_x12, skip_prefix
from gateway.edi.x12_parse import read_x12
from gateway.edi.x12_reader import MAX_FINDINGS

Standard = Literal["x12", "edifact"]


@dataclass(slots=True)
class ParseResult:
    """The interchanges read from one input and every envelope finding, with positions."""

    interchanges: list[Interchange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    standard: Standard | None = None
    encoding: str = ""
    size: int = 0

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def transactions(self) -> list[tuple[Interchange, Group, Transaction]]:
        return [(ic, g, t) for ic in self.interchanges for g in ic.groups for t in g.transactions]

    def findings_for(self, interchange: int, group: int | None = None,
                     transaction: int | None = None) -> list[Finding]:
        """Findings at exactly this position (transaction None = the group's own findings, etc.)."""
        return [f for f in self.findings
                if f.interchange == interchange and f.group == group and f.transaction == transaction]


def detect(data: bytes) -> Standard | None:
    """Which syntax the bytes are in, judged from their first segment (after BOM / whitespace)."""
    head = data[skip_prefix(data):][:4]
    if head[:3] == b"ISA" or head.startswith(EBCDIC_ISA):
        return "x12"
    if head[:3] in (b"UNA", b"UNB"):
        return "edifact"
    return None


def parse(data: bytes) -> ParseResult:
    """Read every interchange in ``data``; problems become findings, never exceptions."""
    enabled = gc.isenabled()
    gc.disable()  # the reader allocates many small lists; cyclic GC would rescan them for nothing
    try:
        return _parse(bytes(data))
    finally:
        if enabled:
            gc.enable()


def _parse(data: bytes) -> ParseResult:
    result = ParseResult(size=len(data))
    start = skip_prefix(data)
    standard = detect(data)
    result.standard = standard
    if standard is None:
        what = "empty input" if start >= len(data) else f"no ISA, UNA or UNB at the start: {data[start:start + 12]!r}"
        result.findings.append(finding("no_interchange", what, offset=start))
        return result
    body = data[start:]
    if standard == "x12":
        text, encoding = decode_x12(body)
        reader = read_x12(text, 0, byte_offsets(text, encoding, start), encoding)
    else:
        sid = syntax_id(body)
        text, encoding, exact = decode_edifact(body, sid)
        if not exact:
            result.findings.append(finding(
                "invalid_characters", f"the bytes are not valid {sid or 'UNOA'}; read as {encoding}",
                severity="warning", offset=start))
        reader = read_edifact(text, 0, byte_offsets(text, encoding, start), encoding)
    result.encoding = encoding
    result.interchanges = reader.interchanges
    result.findings.extend(reader.findings)
    if len(result.findings) > MAX_FINDINGS + 1:  # the decoder's warning before a reader at its cap
        del result.findings[MAX_FINDINGS:-1]  # the first ones, and the reader's "too many" last
    return result
