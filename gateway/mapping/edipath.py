"""Selectors over the loop tree of one transaction, compiled once into closures.

Notation (what an EDI admin writes in a mapping)::

    BEG03                 element 3 of the BEG segment in the current loop
    DTM[01=064]02         element 2 of the DTM whose DTM01 is 064
    N1[01=ST]04           the N1 loop whose N101 is ST: its N104
    N1[01=ST|SF]/N3/01    ... steps through loops; the last step names the segment
    NAD[01.1=DP]02.1      component 1 of element 2 (components are 1-based)
    PO106@UP              the value that follows the qualifier UP in PO106, PO108, ... PO124
    PO1                   (in ``each:``) every PO1 loop (or PO1 segment) of the current loop
    HL[03=O]              HL loops of level O (HL loops are nested by parent, so step through them)

A step matches child loops by loop id or by the tag of their first segment, and segments by tag.
Conditions read elements of the matched segment (of a loop: its first segment). ``!=`` negates; a bare
``[05]`` means "element 5 present".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.rules.tree import Loop

_STEP = re.compile(r"^(\*\*|[A-Z][A-Z0-9]{1,2})(\[[^\]]*\])?(?:(\d{2})(?:\.(\d{1,2}))?(?:@([A-Za-z0-9]+))?)?$")
_COND = re.compile(r"^(\d{2})(?:\.(\d{1,2}))?\s*(?:(!=|=)\s*(.+))?$")


class SelectorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ElementRef:
    element: int
    component: int | None = None  # 1-based
    after: str | None = None  # qualifier: the value following it in element, element+2, ...

    def text(self) -> str:
        return f"{self.element:02d}" + (f".{self.component}" if self.component else "") + \
            (f"@{self.after}" if self.after else "")


def element_value(seg: list[Any], ref: ElementRef, seen: set[tuple[int, int]] | None) -> str | None:
    i = ref.element
    if ref.after is not None:
        n = len(seg)
        while i + 1 < n:
            v = seg[i]
            if (v if v.__class__ is str else _first(v)) == ref.after:
                if seen is not None:
                    seen.add((id(seg), i))
                    seen.add((id(seg), i + 1))
                out = seg[i + 1]
                return out if out.__class__ is str else _first(out)
            i += 2
        return None
    if i >= len(seg):
        return None
    v = seg[i]
    if seen is not None:
        seen.add((id(seg), i))
    if v.__class__ is not str:
        if not v:
            return None
        if ref.component is not None:
            first = v[0]
            if first.__class__ is not str:  # repeated composite: first repeat
                v = first
            if ref.component > len(v):
                return None
            part = v[ref.component - 1]
            if part.__class__ is not str:  # a repeat inside a component (malformed input): its first value
                part = _first(part)
            return part if part != "" else None
        v = _first(v)
    elif ref.component is not None and ref.component > 1:
        return None
    return v if v != "" else None


def _first(v: Any) -> str:
    while v.__class__ is not str:
        if not v:
            return ""
        v = v[0]
    return v


def _compile_conds(text: str, sel: str) -> Callable[[list[Any], Any], bool] | None:
    if not text:
        return None
    tests: list[tuple[ElementRef, frozenset[str] | None, bool]] = []
    for part in text[1:-1].split(","):
        m = _COND.match(part.strip())
        if not m:
            raise SelectorError(f"condition '{part.strip()}' in '{sel}': expected e.g. 01=ST or 01.1=DP|BY or 05")
        ref = ElementRef(int(m.group(1)), int(m.group(2)) if m.group(2) else None)
        vals = frozenset(v.strip() for v in m.group(4).split("|")) if m.group(4) is not None else None
        tests.append((ref, vals, m.group(3) == "!="))

    def check(seg: list[Any], seen: Any) -> bool:
        for ref, vals, neg in tests:
            v = element_value(seg, ref, seen)
            ok = v is not None if vals is None else (v in vals)
            if ok == neg:
                return False
        return True

    return check


@dataclass(frozen=True, slots=True)
class Step:
    tag: str
    cond: Callable[[list[Any], Any], bool] | None
    text: str

    def children(self, scope: Loop, seen: Any) -> list[Any]:
        """Loops and segments of ``scope`` this step selects (a loop for a loop, a segment for a segment)."""
        tag, cond, out = self.tag, self.cond, []
        if tag == "**":
            return [lp for lp in scope.walk() if lp is not scope]
        for item in scope.items:
            if item.__class__ is Loop:
                trig = item.items[0] if item.items and item.items[0].__class__ is not Loop else None
                if item.id == tag or (trig is not None and trig[0] == tag):
                    if cond is None or (trig is not None and cond(trig, seen)):
                        out.append(item)
            elif item[0] == tag and (cond is None or cond(item, seen)):
                out.append(item)
        return out

    def first_segment(self, scope: Loop, seen: Any) -> list[Any] | None:
        tag, cond = self.tag, self.cond
        for item in scope.items:
            if item.__class__ is Loop:
                trig = item.items[0] if item.items and item.items[0].__class__ is not Loop else None
                if trig is not None and trig[0] == tag and (cond is None or cond(trig, seen)):
                    return trig
            elif item[0] == tag and (cond is None or cond(item, seen)):
                return item
        return None


def as_scope(item: Any) -> Loop:
    """A segment selected by ``each:`` becomes a one-segment loop, so selectors work the same in it."""
    return item if item.__class__ is Loop else Loop(item[0], 0, [item])


@dataclass(frozen=True, slots=True)
class Selector:
    text: str
    steps: tuple[Step, ...]
    element: ElementRef | None

    @property
    def tags(self) -> list[str]:
        return [s.tag for s in self.steps]


def parse_selector(text: str, *, need_element: bool) -> Selector:
    raw = text.strip()
    if not raw:
        raise SelectorError("empty selector")
    parts = raw.split("/")
    steps: list[Step] = []
    element: ElementRef | None = None
    for k, part in enumerate(parts):
        part = part.strip()
        last = k == len(parts) - 1
        if last and part.isdigit() and len(part) == 2 and steps:  # 'N1[01=ST]/N3/01' style
            element = ElementRef(int(part))
            break
        m = _STEP.match(part)
        if not m:
            raise SelectorError(f"'{part}' in '{raw}' is not a segment or loop step (e.g. BEG03, N1[01=ST], "
                                f"PO106@UP)")
        tag, cond, el, comp, after = m.groups()
        if el is not None:
            if not last:
                raise SelectorError(f"'{part}' in '{raw}': only the last step may name an element")
            element = ElementRef(int(el), int(comp) if comp else None, after)
        steps.append(Step(tag, _compile_conds(cond or "", raw), part))
    if need_element and element is None:
        raise SelectorError(f"'{raw}' names no element: add its position, e.g. {raw}01")
    if not need_element and element is not None:
        raise SelectorError(f"'{raw}' selects segments or loops here: drop the element position")
    return Selector(raw, tuple(steps), element)


def compile_value(sel: Selector) -> Callable[[Loop, Any], str | None]:
    """scope -> the first value the selector reaches, or None."""
    *walk, last = sel.steps
    ref = sel.element
    assert ref is not None

    if not walk:
        def value(scope: Loop, seen: Any) -> str | None:
            seg = last.first_segment(scope, seen)
            return None if seg is None else element_value(seg, ref, seen)
        return value

    def value_deep(scope: Loop, seen: Any) -> str | None:
        scopes = [scope]
        for step in walk:
            nxt: list[Loop] = []
            for s in scopes:
                nxt.extend(as_scope(x) for x in step.children(s, seen))
            scopes = nxt
        for s in scopes:
            seg = last.first_segment(s, seen)
            if seg is not None:
                v = element_value(seg, ref, seen)
                if v is not None:
                    return v
        return None

    return value_deep


def compile_each(sel: Selector) -> Callable[[Loop, Any], list[Loop]]:
    """scope -> every loop (or segment, as a one-segment loop) the selector reaches, in order."""
    steps = sel.steps

    def each(scope: Loop, seen: Any) -> list[Loop]:
        scopes = [scope]
        for step in steps:
            nxt: list[Loop] = []
            for s in scopes:
                nxt.extend(as_scope(x) for x in step.children(s, seen))
            scopes = nxt
        return scopes

    return each
