"""The loop tree of a transaction, as the structure spec groups its flat segments.

``Loop.items`` keeps segments (plain ``list`` as in ``gateway.edi.model``) and child loops in the order
they were read. The root loop has id ``"ST"`` (X12) or ``"UNH"`` (EDIFACT). In an 856 (and any set with
an HL loop) HL loops are nested by HL02 (parent id) whatever the order the levels came in, so a ship
notice reads shipment -> order -> tare -> pack -> item whatever the sender's layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class Loop:
    id: str
    position: int = 0  # 1-based position of the trigger segment in the transaction (ST = 1)
    items: list[Any] = field(default_factory=list)  # list[Segment | Loop]
    hl_id: str | None = None
    hl_parent: str | None = None
    hl_level: str | None = None  # HL03: S shipment, O order, T tare, P pack, I item

    def segments(self, tag: str | None = None) -> list[list[Any]]:
        return [s for s in self.items if type(s) is not Loop and (tag is None or s[0] == tag)]

    def segment(self, tag: str) -> list[Any] | None:
        for s in self.items:
            if type(s) is not Loop and s[0] == tag:
                return s
        return None

    def loops(self, id: str | None = None) -> list[Loop]:
        return [s for s in self.items if type(s) is Loop and (id is None or s.id == id)]

    @property
    def trigger(self) -> list[Any] | None:
        return self.items[0] if self.items and type(self.items[0]) is not Loop else None

    def walk(self) -> Iterator[Loop]:
        yield self
        for child in self.loops():
            yield from child.walk()

    def hl_levels(self, level: str) -> list[Loop]:
        """Every HL loop of the given HL03 level code below this loop, depth first."""
        return [lp for lp in self.walk() if lp.hl_level == level and lp is not self]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"loop": self.id, "position": self.position}
        if self.hl_id is not None:
            out.update(hl_id=self.hl_id, hl_parent=self.hl_parent, hl_level=self.hl_level)
        out["items"] = [i.to_dict() if type(i) is Loop else list(i) for i in self.items]
        return out


def _elem(seg: list[Any], i: int) -> str:
    v = seg[i] if len(seg) > i else ""
    return v if isinstance(v, str) else (v[0] if v and isinstance(v[0], str) else "")


def nest_hl(root: Loop, loop_id: str = "HL") -> list[tuple[Loop, str, str]]:
    """Re-parent HL loops (anywhere among ``root``'s direct loops) by HL02.

    Returns problems as (loop, code, message): code ``hl_id_duplicate`` or ``hl_parent_unknown``.
    """
    hls = [lp for lp in root.items if type(lp) is Loop and lp.id == loop_id]
    if not hls:
        return []
    problems: list[tuple[Loop, str, str]] = []
    by_id: dict[str, Loop] = {}
    for lp in hls:
        seg = lp.trigger or ["HL"]
        lp.hl_id, lp.hl_parent, lp.hl_level = _elem(seg, 1), _elem(seg, 2) or None, _elem(seg, 3) or None
        if lp.hl_id in by_id:
            problems.append((lp, "hl_id_duplicate", f"HL01 id '{lp.hl_id}' is used twice"))
        else:
            by_id[lp.hl_id] = lp
    keep: list[Any] = []
    for item in root.items:
        if type(item) is Loop and item.id == loop_id and item.hl_parent:
            parent = by_id.get(item.hl_parent)
            if parent is not None and parent is not item and not _is_descendant(parent, item):
                parent.items.append(item)
                continue
            problems.append((item, "hl_parent_unknown", f"HL02 parent id '{item.hl_parent}' names no earlier HL"))
        keep.append(item)
    root.items[:] = keep
    return problems


def _is_descendant(node: Loop, ancestor: Loop) -> bool:
    return any(lp is node for lp in ancestor.walk())
