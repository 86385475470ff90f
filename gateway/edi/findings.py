"""Findings: problems in a document, as values (not exceptions).

Every layer that judges a document (envelope checks in ``edi/``, structure and business rules in
``rules/``) reports ``Finding`` objects. Acknowledgement writers (997/999/TA1/CONTRL) and the CLI read
them; so the position fields and the standard codes live here, once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]
Level = Literal["interchange", "group", "transaction", "segment", "element", "business"]


@dataclass(frozen=True, slots=True)
class Finding:
    code: str  # stable machine name, e.g. "se01_count_mismatch", "element_too_long", "invoice_total"
    message: str  # plain words, naming the values involved
    level: Level = "transaction"
    severity: Severity = "error"
    # Position. Indexes are 0-based into the parse result; segment_position is 1-based within the
    # transaction counting ST/UNH as 1 (what AK3-02/IK3-02 and UCS carry); element is 1-based.
    interchange: int | None = None
    group: int | None = None
    transaction: int | None = None
    segment_position: int | None = None
    segment_id: str | None = None
    element: int | None = None
    component: int | None = None
    offset: int | None = None  # byte offset into the input, when known
    loop_id: str | None = None
    # Standard codes for acknowledgements, when they apply.
    x12_ta1: str | None = None  # TA105 interchange note code ("001".."031")
    x12_segment: str | None = None  # AK304 / IK304 ("1".."8")
    x12_element: str | None = None  # AK403 / IK403 ("1".."10", 999 adds "12", "13", "I6", ...)
    x12_transaction: str | None = None  # AK502 / IK502 ("1".."27")
    x12_group: str | None = None  # AK905 ("1".."27")
    edifact: str | None = None  # CONTRL action/syntax error code (0085 / 0083 list), e.g. "13", "29"
    rule_id: str | None = None  # business rule id
    path: str | None = None  # JSON path in a canonical document (business findings)
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def where(self) -> str:
        """A short human position: 'interchange 1, group 1, transaction 2, segment 7 (PO1), element 4'."""
        parts = []
        if self.interchange is not None:
            parts.append(f"interchange {self.interchange + 1}")
        if self.group is not None:
            parts.append(f"group {self.group + 1}")
        if self.transaction is not None:
            parts.append(f"transaction {self.transaction + 1}")
        if self.segment_position is not None:
            parts.append(f"segment {self.segment_position}" + (f" ({self.segment_id})" if self.segment_id else ""))
        elif self.segment_id:
            parts.append(f"segment {self.segment_id}")
        if self.element is not None:
            parts.append(f"element {self.element}" + (f".{self.component}" if self.component else ""))
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        if self.path:
            parts.append(self.path)
        return ", ".join(parts)

    def line(self) -> str:
        return f"{self.severity}: {self.code}: {self.message} [{self.where()}]"
