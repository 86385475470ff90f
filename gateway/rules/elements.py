"""Element checks: type, length, code list, presence and syntax notes, compiled once per segment.

``compile_segment(defn, x12)`` returns a function ``check(segment) -> list[ElementError] | None`` that is
called for every segment of a transaction, so it does as little as possible when the segment is fine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import NamedTuple

from gateway.edi.model import Repeats
from gateway.rules.spec import ElementDef, SegmentDef


class ElementError(NamedTuple):
    code: str  # a name from gateway.rules.codes.ELEMENT_CODES
    element: int  # 1-based
    component: int | None  # 1-based
    message: str
    value: object = None


_X12_NUM = re.compile(r"-?\d+")
_X12_REAL = re.compile(r"-?(\d+\.?\d*|\.\d+)(E-?\d+)?")
_EDI_NUM = re.compile(r"-?(\d+([.,]\d*)?|[.,]\d+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGIT = re.compile(r"\d")

Checker = Callable[[str], "tuple[str, str] | None"]


def _valid_date(v: str) -> bool:
    if not (v.isascii() and v.isdigit()) or len(v) not in (6, 8):
        return False
    if len(v) == 6:
        y = int(v[:2])
        v = ("20" if y < 50 else "19") + v
    try:
        date(int(v[:4]), int(v[4:6]), int(v[6:8]))
    except ValueError:
        return False
    return True


def _valid_time(v: str) -> bool:
    if not (v.isascii() and v.isdigit()) or len(v) < 4:
        return False
    hh, mm = int(v[:2]), int(v[2:4])
    ss = int(v[4:6]) if len(v) >= 6 else 0
    return hh < 24 and mm < 60 and ss < 60


def value_checker(ed: ElementDef, label: str) -> Checker:
    """A function returning (code, message) for a bad non-empty value, else None."""
    typ, lo, hi, codes = ed.type, ed.min, ed.max, ed.codes
    numeric = None
    if typ.startswith("N") and typ != "N" or typ == "B":
        numeric = _X12_NUM
    elif typ == "R":
        numeric = _X12_REAL
    elif typ == "n":
        numeric = _EDI_NUM
    fast_digits = numeric is not None or typ in ("AN", "ID", "an")

    def check(v: str) -> tuple[str, str] | None:
        if fast_digits and v.isascii() and v.isdigit() and lo <= len(v) <= hi and (codes is None or v in codes):
            return None  # the common case of a plain number
        if numeric is not None:
            if numeric.fullmatch(v) is None:
                return "element_bad_character", f"{label} '{v}' is not a number"
            size = len(v) - v.count("-") - v.count(".") - v.count(",")
        else:
            if _CONTROL.search(v):
                return "element_bad_character", f"{label} contains a control character"
            if typ == "a" and _DIGIT.search(v):
                return "element_bad_character", f"{label} '{v}' must be alphabetic"
            size = len(v)
        if typ == "DT" and not _valid_date(v):
            return "element_bad_date", f"{label} '{v}' is not a valid date"
        if typ == "TM" and not _valid_time(v):
            return "element_bad_time", f"{label} '{v}' is not a valid time"
        if size < lo:
            return "element_too_short", f"{label} '{v}' is shorter than {lo}"
        if size > hi:
            return "element_too_long", f"{label} '{v}' is longer than {hi}"
        if codes is not None and v not in codes:
            shown = ", ".join(sorted(codes)[:12]) + (", ..." if len(codes) > 12 else "")
            return "element_bad_code", f"{label} '{v}' is not an allowed code ({shown})"
        return None

    return check


def _present(v: object) -> bool:
    if isinstance(v, str):
        return v != ""
    return any(_present(x) for x in v)  # type: ignore[attr-defined]


def compile_segment(defn: SegmentDef, x12: bool) -> Callable[[list], list[ElementError] | None]:
    tag = defn.tag
    defs = defn.elements
    nd = len(defs)
    labels = [f"{tag}{i:02d}" + (f" ({d.name})" if d.name else "") for i, d in enumerate(defs, 1)]
    simple: list[Checker | None] = []
    comps: list[list[tuple[ElementDef, Checker]] | None] = []
    for i, d in enumerate(defs):
        if d.components is not None:
            simple.append(None)
            comps.append([(c, value_checker(c, f"{tag}{i + 1:02d}-{j:02d}" + (f" ({c.name})" if c.name else "")))
                          for j, c in enumerate(d.components, 1)])
        else:
            simple.append(value_checker(d, labels[i]))
            comps.append(None)
    mandatory = [i for i, d in enumerate(defs, 1) if d.mandatory]
    notes = [(note.kind, note.positions, note) for note in defn.syntax]
    unused = [d.not_used for d in defs]

    def check_composite(i: int, value: list, out: list[ElementError]) -> None:
        parts = comps[i - 1] or []
        if len(value) > len(parts):
            out.append(ElementError("element_too_many_components", i, len(parts) + 1,
                                    f"{labels[i - 1]} has {len(value)} components, at most {len(parts)}"))
        for j, (cd, cf) in enumerate(parts, 1):
            cv = value[j - 1] if j <= len(value) else ""
            if cv == "":
                if cd.mandatory and _present(value):
                    out.append(ElementError("element_missing", i, j, f"{tag}{i:02d}-{j:02d} ({cd.name}) is required"))
                continue
            r = cf(cv) if isinstance(cv, str) else ("element_too_many_components", f"{labels[i - 1]} is nested")
            if r is not None:
                out.append(ElementError(r[0], i, j, r[1], cv))

    def check(seg: list) -> list[ElementError] | None:
        out: list[ElementError] | None = None
        n = len(seg) - 1
        if n > nd:
            out = [ElementError("element_too_many", nd + 1, None, f"{tag} has {n} elements, at most {nd}")]
        for i in range(1, min(n, nd) + 1):
            v = seg[i]
            if v == "" or v == []:
                continue
            if unused[i - 1]:
                out = out or []
                out.append(ElementError("element_not_used", i, None, f"{labels[i - 1]} is not used here", v))
                continue
            if type(v) is str:
                f = simple[i - 1]
                if f is None:
                    out = out or []
                    check_composite(i, [v], out)
                    continue
                r = f(v)
                if r is not None:
                    out = out or []
                    out.append(ElementError(r[0], i, None, r[1], v))
            elif isinstance(v, Repeats):
                out = out or []
                d = defs[i - 1]
                if len(v) > d.repeat:
                    out.append(ElementError("element_too_many_repetitions", i, None,
                                            f"{labels[i - 1]} repeats {len(v)} times, at most {d.repeat}"))
                for rv in v:
                    if isinstance(rv, str) and simple[i - 1] is not None:
                        r = simple[i - 1](rv)  # type: ignore[misc]
                        if r is not None:
                            out.append(ElementError(r[0], i, None, r[1], rv))
                    else:
                        check_composite(i, rv if isinstance(rv, list) else [rv], out)
            else:
                out = out or []
                if comps[i - 1] is None:
                    if len(v) > 1 or not x12:
                        out.append(ElementError("element_too_many_components", i, 2,
                                                f"{labels[i - 1]} is a simple element but has {len(v)} components"))
                    else:
                        r = simple[i - 1](v[0])  # type: ignore[misc]
                        if r is not None:
                            out.append(ElementError(r[0], i, None, r[1], v[0]))
                else:
                    check_composite(i, v, out)
        for i in mandatory:
            if i > n or not _present(seg[i]):
                out = out or []
                out.append(ElementError("element_missing", i, None, f"{labels[i - 1]} is required"))
        for kind, pos, note in notes:
            cnt = 0
            for p in pos:
                if p <= n and seg[p]:
                    cnt += 1
            if kind == "P":
                bad = 0 < cnt < len(pos)
            elif kind == "R":
                bad = cnt == 0
            elif kind == "E":
                bad = cnt > 1
            else:
                first = pos[0] <= n and bool(seg[pos[0]])
                bad = first and (cnt < len(pos) if kind == "C" else cnt == 1)
            if bad:
                err = _syntax(note, seg, n, tag)
                if err is not None:
                    out = out or []
                    out.append(err)
        if out:
            out.sort(key=lambda e: (e.element, e.component or 0))
        return out

    return check


def _syntax(note, seg: list, n: int, tag: str) -> ElementError | None:  # type: ignore[no-untyped-def]
    pos = note.positions
    have = [p <= n and _present(seg[p]) for p in pos]
    names = ", ".join(f"{tag}{p:02d}" for p in pos)
    kind = note.kind
    if kind == "P" and any(have) and not all(have):
        missing = next(p for p, h in zip(pos, have, strict=True) if not h)
        return ElementError("element_conditional_missing", missing, None,
                            f"{tag}{missing:02d} is required when any of {names} is present (syntax {note})")
    if kind == "R" and not any(have):
        return ElementError("element_conditional_missing", pos[0], None,
                            f"at least one of {names} is required (syntax {note})")
    if kind == "E" and sum(have) > 1:
        second = [p for p, h in zip(pos, have, strict=True) if h][1]
        return ElementError("element_exclusion", second, None, f"only one of {names} may be present (syntax {note})")
    if kind == "C" and have[0] and not all(have[1:]):
        missing = next(p for p, h in zip(pos[1:], have[1:], strict=True) if not h)
        return ElementError("element_conditional_missing", missing, None,
                            f"{tag}{missing:02d} is required when {tag}{pos[0]:02d} is present (syntax {note})")
    if kind == "L" and have[0] and not any(have[1:]):
        return ElementError("element_conditional_missing", pos[1], None,
                            f"one of {', '.join(f'{tag}{p:02d}' for p in pos[1:])} is required when "
                            f"{tag}{pos[0]:02d} is present (syntax {note})")
    return None
