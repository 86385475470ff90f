"""A compiled mapping: what the pipeline calls per document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.edi.findings import Finding
from gateway.edi.model import Segment, Transaction
from gateway.mapping.convert import Runtime
from gateway.mapping.fields import MISSING, Explained
from gateway.mapping.treebuild import build_from_hints, build_loops
from gateway.rules.spec import Spec
from gateway.rules.specload import load_spec_for
from gateway.rules.tree import Loop

Direction = str  # "inbound" | "outbound" | "reshape"


@dataclass(eq=False)
class Mapping:
    name: str
    file: Path
    direction: Direction
    document: str
    standard: str | None = None
    version: str | None = None
    transaction_type: str | None = None
    association: str | None = None
    output: str = "json"
    explained: list[Explained] = field(default_factory=list)
    spec: Spec | None = None
    _fields: Callable[[Any, Runtime, str], Any] | None = None
    _segments: list[Callable[[Any, Runtime, list[Segment]], None]] = field(default_factory=list)
    _xml: Any = None
    used_tags: frozenset[str] = frozenset()
    deps: list[tuple[Path, float]] = field(default_factory=list)
    derived: list[tuple[str, Any]] = field(default_factory=list)
    hints: tuple[dict[str, tuple[str, ...]], dict[str, set[tuple[str, ...]]]] = ({}, {})

    # ------------------------------------------------------------------ inbound
    def tree(self, transaction: Transaction) -> tuple[Loop, list[Finding]]:
        spec = self.spec_for(transaction)
        if spec is None:
            return build_from_hints(transaction.segments, self.hints[0], self.hints[1],
                                    "ST" if self.standard == "x12" else "UNH"), []
        return build_loops(transaction.segments, spec), []

    def spec_for(self, transaction: Transaction) -> Spec | None:
        if self.spec is not None and (not transaction.version or transaction.version == self.version):
            return self.spec
        if self.standard is None:
            return None
        return load_spec_for(self.standard, transaction.version or self.version or "", transaction.type) or self.spec

    def to_canonical(self, transaction: Transaction, *, partner_id: str, partner_tz: str = "UTC",
                     source: dict[str, Any] | None = None,
                     seen: set[tuple[int, int]] | None = None) -> tuple[dict[str, Any], list[Finding]]:
        """EDI transaction -> canonical document; problems are findings with the output path."""
        if self.direction != "inbound" or self._fields is None:
            raise TypeError(f"mapping {self.name} is {self.direction}, not inbound")
        tree, _ = self.tree(transaction)
        rt = Runtime(partner_tz, seen)
        body = self._fields(tree, rt, "")
        doc: dict[str, Any] = {"document": self.document, "partner": partner_id}
        if body is not MISSING:
            doc.update(body)
        doc["source"] = dict(source or {})
        if self.derived:
            self._derive(doc, rt)
        return doc, rt.findings

    def _derive(self, doc: dict[str, Any], rt: Runtime) -> None:
        from gateway.mapping.expr import frozen, plain

        for name, fn in self.derived:
            try:
                v = plain(fn(frozen(doc), None, rt.tzname))
            except (ArithmeticError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
                rt.problem("mapping_expression_failed", f"{name}: {exc}", name)
                continue
            if v is not None:
                doc[name] = v

    def coverage(self, transaction: Transaction, *, partner_tz: str = "UTC") -> list[dict[str, Any]]:
        """Input segments and elements that no rule of this mapping read (what would be dropped)."""
        seen: set[tuple[int, int]] = set()
        self.to_canonical(transaction, partner_id="-", partner_tz=partner_tz, seen=seen)
        out = []
        envelope = {"ST", "SE", "UNH", "UNT"}
        for pos, seg in enumerate(transaction.segments, start=1):
            if seg[0] in envelope:
                continue
            unread = [i for i in range(1, len(seg)) if seg[i] not in ("", []) and (id(seg), i) not in seen]
            if unread:
                out.append({"position": pos, "segment": seg[0], "elements": unread,
                            "whole_segment": len(unread) == len([v for v in seg[1:] if v not in ("", [])])})
        return out

    # ------------------------------------------------------------------ outbound
    def to_edi(self, doc: dict[str, Any], *, partner_tz: str = "UTC") -> tuple[list[Segment], list[Finding]]:
        """Canonical document -> one transaction (ST..SE / UNH..UNT) with counts; control numbers are
        placeholders that the envelope replaces."""
        if self.direction != "outbound":
            raise TypeError(f"mapping {self.name} is {self.direction}, not outbound")
        rt = Runtime(partner_tz)
        rt.root = doc
        if self.standard == "x12":
            out: list[Segment] = [["ST", self.transaction_type, "0001"]]
        else:
            s009 = [self.transaction_type or "", *(self.version or "D:96A:UN").split(":")]
            if self.association:
                s009.append(self.association)
            out = [["UNH", "1", s009]]
        for emit in self._segments:
            emit(doc, rt, out)
        if self.standard == "x12":
            out.append(["SE", str(len(out) + 1), "0001"])
        else:
            out.append(["UNT", str(len(out) + 1), "1"])
        return out, rt.findings

    # ------------------------------------------------------------------ reshape
    def reshape(self, doc: dict[str, Any], *, partner_tz: str = "UTC") -> tuple[Any, list[Finding]]:
        """Canonical JSON -> the destination's JSON (a dict) or XML (bytes)."""
        if self.direction != "reshape" or self._fields is None:
            raise TypeError(f"mapping {self.name} is {self.direction}, not reshape")
        rt = Runtime(partner_tz)
        rt.root = doc
        body = self._fields(doc, rt, "")
        out = {} if body is MISSING else body
        if self.output == "xml":
            from gateway.mapping.xmlio import to_xml

            return to_xml(out, self._xml or {}), rt.findings
        return out, rt.findings
