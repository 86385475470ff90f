"""What the ack writers share: choosing findings for a position, and the reply's envelope parties."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.edi.findings import Finding
from gateway.edi.parser import ParseResult

X12_CODES = ("x12_transaction", "x12_segment", "x12_element", "x12_group")


@dataclass(slots=True)
class AckStatus:
    """What an inbound acknowledgement says about one of our interchanges, groups or transactions."""

    kind: str  # "997", "999", "TA1", "CONTRL"
    level: str  # "interchange", "group", "transaction"
    status: str  # "accepted", "accepted_with_errors", "partially_accepted", "rejected", "received"
    code: str  # the raw status code (AK501 "A", TA104 "R", 0083 "7", ...)
    interchange_control: str = ""
    group_control: str = ""
    functional_id: str = ""
    transaction_type: str = ""
    transaction_control: str = ""
    codes: list[str] = field(default_factory=list)  # error codes (AK502.., AK905.., TA105, 0085)
    errors: list[dict[str, str]] = field(default_factory=list)  # segment/element details

    @property
    def accepted(self) -> bool:
        return self.status in ("accepted", "accepted_with_errors", "received")


def all_findings(result: ParseResult, extra: Iterable[Finding], interchange: int) -> list[Finding]:
    """The parse's findings plus the extra ones (an extra finding without an interchange index is ours)."""
    out = [f for f in result.findings if f.interchange == interchange]
    for f in extra:
        if f.interchange is None or f.interchange == interchange:
            out.append(f)
    return out


def x12_relevant(f: Finding) -> bool:
    return f.severity == "error" and any(getattr(f, name) for name in X12_CODES)


def at(findings: Sequence[Finding], group: int | None, transaction: int | None) -> list[Finding]:
    return [f for f in findings if f.group == group and f.transaction == transaction]


def unique(codes: Iterable[str | None], limit: int = 5) -> list[str]:
    out: list[str] = []
    for c in codes:
        if c and c not in out:
            out.append(c)
    return out[:limit]
