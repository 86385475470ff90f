"""Transaction-set structure specs: the data model and the compact YAML notation.

A segment dictionary (``segments.yaml`` beside the specs of one standard version) defines segments::

    BEG:
      name: Beginning Segment for Purchase Order
      elements:
        - 353 M ID 2/2 Transaction Set Purpose Code      # ref, requirement, type, min/max, name
        - C040 O Reference Identifier                     # a composite named in `composites:`
        - {def: 92 M ID 2/2 Purchase Order Type Code, codes: [NE, CN, NP, RO]}
      syntax: [P0405, C0706]                               # X12 syntax notes (P R E C L)

EDIFACT elements use their own notation: ``3039 C an..35 Party identifier``, ``6060 M n..15 Quantity``.

A transaction spec lists the segments in order; a mapping item is a loop (X12) or segment group
(EDIFACT) whose first segment is its trigger::

    structure:
      - ST M 1
      - REF O >1
      - N1 loop O 200:
          - N1 M 1
          - N3 O 2
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace

UNBOUNDED = sys.maxsize
REQS = {"M", "O", "X", "C", "N"}  # X (X12) / C (EDIFACT): conditional; N: not used here
X12_TYPES = {"AN", "ID", "R", "DT", "TM", "B"} | {f"N{i}" for i in range(10)}
EDI_TYPES = {"an", "a", "n"}


@dataclass(frozen=True, slots=True)
class ElementDef:
    ref: str
    name: str
    req: str  # M mandatory; O optional; X (X12) or C (EDIFACT) conditional; N not used
    type: str  # AN ID R DT TM Nn (X12); an a n (EDIFACT); "" for a composite
    min: int = 0
    max: int = 0
    codes: frozenset[str] | None = None
    components: tuple[ElementDef, ...] | None = None
    repeat: int = 1

    @property
    def mandatory(self) -> bool:
        return self.req == "M"

    @property
    def not_used(self) -> bool:
        return self.req == "N"


@dataclass(frozen=True, slots=True)
class SyntaxNote:
    kind: str  # P paired, R required, E exclusion, C conditional, L list conditional
    positions: tuple[int, ...]

    def __str__(self) -> str:
        return self.kind + "".join(f"{p:02d}" for p in self.positions)


@dataclass(frozen=True, slots=True)
class SegmentDef:
    tag: str
    name: str
    elements: tuple[ElementDef, ...]
    syntax: tuple[SyntaxNote, ...] = ()


@dataclass(slots=True)
class SegNode:
    tag: str
    usage: str  # M mandatory, O optional (C in EDIFACT), N not used
    max: int
    line: int | None = None


@dataclass(slots=True)
class LoopNode:
    id: str
    usage: str
    max: int
    body: list[SegNode | LoopNode] = field(default_factory=list)
    line: int | None = None

    @property
    def trigger(self) -> str:
        first = self.body[0]
        return first.tag if isinstance(first, SegNode) else first.trigger


@dataclass(slots=True)
class Spec:
    standard: str  # x12 | edifact
    version: str  # 004010, 005010, D96A
    transaction: str  # 850, ORDERS
    name: str
    structure: list[SegNode | LoopNode]
    segments: dict[str, SegmentDef]  # every segment the structure uses, with this spec's overrides
    known_tags: frozenset[str] = frozenset()  # every tag of the dictionary (for "not in this set")
    source: str = ""
    _compiled: object | None = None

    @property
    def is_x12(self) -> bool:
        return self.standard == "x12"


_X12_SIZE = re.compile(r"^(\d+)/(\d+)$")
_EDI_TYPE = re.compile(r"^(an|a|n)(\.\.)?(\d+)$")
_SYNTAX = re.compile(r"^([PRECL])((?:\d\d){2,})$")
_NODE = re.compile(r"^([A-Z0-9]{2,3})\s+([MOXCN])\s+(>1|\d+)$")
_LOOP = re.compile(r"^([A-Za-z0-9_]+)\s+(loop|group)\s+([MOXCN])\s+(>1|\d+)$")


def parse_max(text: str) -> int:
    return UNBOUNDED if text == ">1" else int(text)


def parse_element(
    text: str, composites: dict[str, tuple[str, tuple[ElementDef, ...]]], codes: list[str] | None = None
) -> ElementDef:
    """Parse ``"353 M ID 2/2 Name"`` / ``"3039 C an..35 Name"`` / ``"C040 O Name"``; ValueError on mistakes."""
    parts = text.split()
    if len(parts) < 2:
        raise ValueError(f"element '{text}': expected 'REF REQ TYPE MIN/MAX NAME'")
    ref, req = parts[0], parts[1]
    if req not in REQS:
        raise ValueError(f"element '{text}': requirement '{req}' is not one of M O C X N")
    rest = parts[2:]
    repeat = 1
    if rest and rest[0].startswith("rep="):
        repeat = parse_max(rest[0][4:])
        rest = rest[1:]
    if ref in composites and (not rest or rest[0] not in X12_TYPES and not _EDI_TYPE.match(rest[0])):
        cname, comps = composites[ref]
        return ElementDef(ref, " ".join(rest) or cname, req, "", components=comps, repeat=repeat)
    if not rest:
        raise ValueError(f"element '{text}': missing type")
    typ = rest[0]
    m = _EDI_TYPE.match(typ)
    if m:
        size = int(m.group(3))
        lo = 1 if m.group(2) else size
        name = " ".join(rest[1:])
        typ = m.group(1)
        return ElementDef(ref, name, req, typ, lo, size, frozenset(codes) if codes else None, repeat=repeat)
    if typ not in X12_TYPES:
        raise ValueError(f"element '{text}': unknown type '{typ}' (X12: AN ID R DT TM N0-N9; EDIFACT: an..35, n3)")
    if len(rest) < 2 or not _X12_SIZE.match(rest[1]):
        raise ValueError(f"element '{text}': expected MIN/MAX after the type, e.g. 1/30")
    lo_s, hi_s = rest[1].split("/")
    lo, hi = int(lo_s), int(hi_s)
    if lo > hi or hi == 0:
        raise ValueError(f"element '{text}': min {lo} greater than max {hi}")
    return ElementDef(ref, " ".join(rest[2:]), req, typ, lo, hi, frozenset(codes) if codes else None, repeat=repeat)


def parse_syntax(text: str) -> SyntaxNote:
    m = _SYNTAX.match(str(text))
    if not m:
        raise ValueError(f"syntax note '{text}': expected e.g. P0102, R0203, E0104, C0302, L010203")
    digits = m.group(2)
    return SyntaxNote(m.group(1), tuple(int(digits[i : i + 2]) for i in range(0, len(digits), 2)))


def with_element_change(seg: SegmentDef, pos: int, **changes: object) -> SegmentDef:
    """A copy of ``seg`` whose element ``pos`` (1-based) has ``changes`` applied."""
    elements = list(seg.elements)
    elements[pos - 1] = replace(elements[pos - 1], **changes)  # type: ignore[arg-type]
    return replace(seg, elements=tuple(elements))


def iter_nodes(body: list[SegNode | LoopNode]):  # type: ignore[no-untyped-def]
    for node in body:
        yield node
        if isinstance(node, LoopNode):
            yield from iter_nodes(node.body)
