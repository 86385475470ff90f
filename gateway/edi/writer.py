"""Writers: an Interchange back to bytes, with the partner's delimiters and counts computed here.

``parse(write(tree))`` gives back ``tree`` (positions aside) for every tree the readers make from a valid
input. X12 has no escape character, so a value holding a delimiter is a bug in the caller and raises
ValueError; EDIFACT values are escaped with the release character.
"""

from __future__ import annotations

from typing import Any

from gateway.edi.edifact_una import default_delimiters
from gateway.edi.model import Delimiters, Interchange, Repeats, Segment
from gateway.edi.text import EDIFACT_CHARSETS


class _Writer:
    def __init__(self, d: Delimiters, escape: bool):
        self.d = d
        self.e, self.c, self.r = d.element, d.component, d.repetition or ""
        self.end = d.segment + d.suffix
        self.escape = escape
        self.table = {ord(ch): d.release + ch for ch in (d.release, d.element, d.component, d.segment,
                                                          d.repetition) if ch} if escape and d.release else None
        self.expect = {"c": 0, "r": 0}

    def value(self, v: Any) -> str:
        t = self.table
        if v.__class__ is str:
            return v.translate(t) if t else v
        if isinstance(v, Repeats):
            if not self.r:
                raise ValueError(f"a repeated element {v!r} but the delimiters have no repetition separator")
            self.expect["r"] += len(v) - 1
            return self.r.join(self.value(x) for x in v)
        if isinstance(v, list):
            self.expect["c"] += len(v) - 1
            return self.c.join(p.translate(t) if t else p for p in v)
        raise ValueError(f"element {v!r} is neither str, list nor Repeats")

    def segment(self, seg: Segment) -> str:
        e = self.e
        if self.table is None:
            for v in seg:
                if v.__class__ is not str:
                    return e.join([v if v.__class__ is str else self.value(v) for v in seg])
            return e.join(seg)
        return e.join([self.value(v) for v in seg])


def _with_count(seg: Segment | None, default: list[str], count: int) -> Segment:
    out = list(seg) if seg else default
    while len(out) < 2:
        out.append("")
    out[1] = str(count)
    return out


def _x12_lines(ic: Interchange, d: Delimiters, fix: bool) -> tuple[list[Segment], Segment]:
    isa = list(ic.header)
    isa[16] = d.component
    if d.repetition and ic.delimiters.repetition:
        isa[11] = d.repetition
    segs: list[Segment] = [*ic.service_segments]
    n_groups = 0
    for g in ic.groups:
        if g.header is not None:
            segs.append(g.header)
            n_groups += 1
        for t in g.transactions:
            body = t.segments
            if body and body[-1][0] == "SE":
                segs.extend(body[:-1])
                segs.append(_with_count(body[-1], [], len(body)) if fix else body[-1])
            else:
                segs.extend(body)
                segs.append(["SE", str(len(body) + 1), t.control_number])
        if g.header is not None:
            trailer = g.trailer if g.trailer is not None else ["GE", "", g.control_number]
            segs.append(_with_count(trailer, [], len(g.transactions)) if fix else trailer)
    trailer = ic.trailer if ic.trailer is not None else ["IEA", "", ic.control_number]
    segs.append(_with_count(trailer, [], n_groups) if fix else trailer)
    return segs, isa


def _edifact_lines(ic: Interchange, fix: bool) -> list[Segment]:
    segs: list[Segment] = [ic.header]
    grouped = any(g.header is not None for g in ic.groups)
    count = 0
    for g in ic.groups:
        if g.header is not None:
            segs.append(g.header)
            count += 1
        for t in g.transactions:
            body = t.segments
            if not grouped:
                count += 1
            if body and body[-1][0] == "UNT":
                segs.extend(body[:-1])
                segs.append(_with_count(body[-1], [], len(body)) if fix else body[-1])
            else:
                segs.extend(body)
                segs.append(["UNT", str(len(body) + 1), t.control_number])
        if g.header is not None:
            trailer = g.trailer if g.trailer is not None else ["UNE", "", g.control_number]
            segs.append(_with_count(trailer, [], len(g.transactions)) if fix else trailer)
    trailer = ic.trailer if ic.trailer is not None else ["UNZ", "", ic.control_number]
    segs.append(_with_count(trailer, [], count) if fix else trailer)
    return segs


def _encoding(ic: Interchange) -> str:
    if ic.encoding:
        return ic.encoding
    if ic.standard == "edifact":
        return EDIFACT_CHARSETS.get(ic.version.split(":")[0], "latin-1")
    return "utf-8"


def write(interchange: Interchange, delimiters: Delimiters | None = None, *, fix_counts: bool = True) -> bytes:
    """The interchange as bytes; SE01/GE01/IEA01/UNT01/UNE01/UNZ01 are recomputed unless fix_counts=False."""
    ic = interchange
    d = delimiters or ic.delimiters
    if ic.standard == "x12":
        segs, isa = _x12_lines(ic, d, fix_counts)
        w = _Writer(d, escape=False)
        head = d.element.join(isa) + w.end
    else:
        segs = _edifact_lines(ic, fix_counts)
        w = _Writer(d, escape=True)
        head = ""
        syntax = ic.version.split(":")[1] if ":" in ic.version else "3"
        if ic.una is not None or _differs(d, default_delimiters(syntax)):
            head = "UNA" + d.component + d.element + d.decimal + (d.release or " ") + \
                (d.repetition or " ") + d.segment + d.suffix
    fast = _edifact_fast(segs, d) if ic.standard == "edifact" and d.release else None
    if fast is not None:
        body = fast
    else:
        body = w.end.join(map(w.segment, segs)) + w.end
        _check(ic, d, body, segs, w)
    try:
        return (head + body).encode(_encoding(ic))
    except UnicodeEncodeError as exc:
        raise ValueError(f"a value cannot be written in {_encoding(ic)}: {exc}") from None


# Noncharacters stand in for the separators while values are escaped in one pass over the whole text.
_PE, _PC, _PT, _PR = "\ufdd0", "\ufdd1", "\ufdd2", "\ufdd3"


def _repeat(v: Any) -> str:
    if not isinstance(v, Repeats):
        raise ValueError(f"element {v!r} is neither str, list nor Repeats")
    return _PR.join(_PC.join(x) if isinstance(x, list) else x for x in v)


def _edifact_fast(segs: list[Segment], d: Delimiters) -> str | None:
    """Join with stand-in separators, then escape values and restore separators in one translate.

    None (use the per-value path) if a value itself holds a stand-in character.
    """
    rows = [_PE.join([v if v.__class__ is str else (_PC.join(v) if v.__class__ is list else _repeat(v))
                      for v in seg]) for seg in segs]
    text = _PT.join(rows) + _PT
    if text.count(_PT) != len(segs) or text.count(_PE) != sum(map(len, segs)) - len(segs):
        return None
    if _PR in text and not d.repetition:
        raise ValueError("a repeated element but the delimiters have no repetition separator")
    r = d.release
    assert r
    for ch in (r, d.element, d.component, d.segment, d.repetition):  # release first: it doubles
        if ch and ch in text:
            text = text.replace(ch, r + ch)
    return (text.replace(_PE, d.element).replace(_PC, d.component).replace(_PR, d.repetition or "")
            .replace(_PT, d.segment + d.suffix))


def _differs(a: Delimiters, b: Delimiters) -> bool:
    return (a.element, a.component, a.segment, a.release, a.repetition, a.decimal) != \
        (b.element, b.component, b.segment, b.release, b.repetition, b.decimal)


class DelimiterInValue(ValueError):
    """An X12 value holds one of the interchange's delimiters (X12 has no escape character)."""

    def __init__(self, value: str, segment: str, delimiter: str) -> None:
        super().__init__(f"value {value!r} in segment {segment} holds the delimiter {delimiter!r}")
        self.value, self.segment, self.delimiter = value, segment, delimiter


def _check(ic: Interchange, d: Delimiters, body: str, segs: list[Segment], w: _Writer) -> None:
    """X12 cannot escape: a delimiter inside a value would change the tree, so refuse to write it."""
    if ic.standard != "x12":
        return
    if (body.count(d.segment) == len(segs) and body.count(d.element) == sum(map(len, segs)) - len(segs)
            and body.count(d.component) == w.expect["c"]
            and (not d.repetition or body.count(d.repetition) == w.expect["r"])):
        return
    for seg in segs:
        for v in seg[1:]:
            for p in (v if isinstance(v, list) else [v]):
                for q in (p if isinstance(p, list) else [p]):
                    for ch in (d.segment, d.element, d.component, d.repetition):
                        if ch and isinstance(q, str) and ch in q:
                            raise DelimiterInValue(q, str(seg[0]), ch)
    raise ValueError("the written interchange would not read back the same")
