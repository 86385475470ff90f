"""X12 reader: segments in, interchanges and envelope findings out.

The driver (``gateway.edi.parser`` for whole inputs, ``gateway.edi.stream`` for streams) reads the ISA,
splits text on the segment terminator and hands lists of raw segment strings to ``X12Reader.scan``.
The scan loop does one ``str.split`` per segment and only leaves the fast path for envelope segments,
composites, repetitions and over-long segments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.edi import functional
from gateway.edi.codes import X12_MAX_ELEMENT, finding
from gateway.edi.findings import Finding
from gateway.edi.model import Group, Interchange, Repeats, Segment, Transaction
from gateway.edi.x12_isa import IsaHeader

ENVELOPE = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA", "TA1"})
CONTINUE, STOP_AFTER, STOP_BEFORE = 0, 1, 2
WHITESPACE = " \t\r\n"
MAX_FINDINGS = 1000  # garbage input must not grow memory without bound
SUM_STEP = 1 << 16  # segments measured per C call in pos_of


def split_value(value: str, comp: str, rep: str | None) -> Any:
    """One element's text -> str, composite list, or Repeats; trailing empty parts dropped."""
    if rep and rep in value:
        reps = Repeats(split_value(v, comp, None) for v in value.split(rep))
        while reps and reps[-1] == "":
            reps.pop()
        return reps if len(reps) > 1 else (reps[0] if reps else "")
    if comp in value:
        parts = value.split(comp)
        while parts and not parts[-1]:
            parts.pop()
        return parts if len(parts) > 1 else (parts[0] if parts else "")
    return value


def _text(value: Any, comp: str, rep: str | None) -> str:
    """A split value written back as text (the inverse of ``split_value``)."""
    if isinstance(value, str):
        return value
    sep = (rep or "") if isinstance(value, Repeats) else comp
    return sep.join(_text(v, comp, rep) for v in value)


def normalize(el: list[Any], comp: str, rep: str | None) -> list[Any]:
    """Split composites/repeats of a segment already split on elements; drop trailing empties."""
    out = [el[0]] + [split_value(v, comp, rep) for v in el[1:]]
    while len(out) > 1 and out[-1] == "":
        out.pop()
    return out


def _too_long(el: Segment, limit: int) -> list[int]:
    bad = []
    for k, v in enumerate(el[1:], start=1):
        parts = v if isinstance(v, list) else [v]
        for p in parts:
            if max(map(len, p), default=0) > limit if isinstance(p, list) else len(p) > limit:
                bad.append(k)
                break
    return bad


def _contains(text: str, needle: str, step: int = 1 << 20) -> bool:
    """``needle in text``, a window at a time (a two-character search over 50 MB is one 40 ms C call)."""
    overlap = len(needle) - 1
    return any(needle in text[i:i + step + overlap] for i in range(0, max(1, len(text)), step))


class X12Reader:
    """Envelope state across scans; builds the tree (``keep``) or hands out transactions (``sink``)."""

    def __init__(self, offset: Callable[[int], int], encoding: str = "",
                 keep: bool = True, sink: Callable[[Interchange, Group, Transaction], None] | None = None):
        self.byte_offset = offset
        self.encoding = encoding
        self.keep = keep
        self.sink = sink
        self.findings: list[Finding] = []
        self.interchanges: list[Interchange] = []
        self.ic: Interchange | None = None
        self.grp: Group | None = None
        self.txn: Transaction | None = None
        self.segs: list[Segment] | None = None
        self.ic_i = -1
        self.grp_i = -1
        self.txn_i = -1
        self.n_groups = 0
        self.n_txns = 0
        self.ic_seg0 = 0  # global segment index of the ISA
        self.seg_base = 0  # global segment index of raw[0] in the current scan
        self.isa_numbers: set[str] = set()
        self.gs_numbers: set[str] = set()
        self.st_numbers: set[str] = set()
        self.strip = ""
        # position bookkeeping for the current raw list
        self.raw: list[str] = []
        self.base = 0
        self.tlen = 1
        self.mark_i = 0
        self.mark_pos = 0

    # positions -------------------------------------------------------------------------------------
    def set_raw(self, raw: list[str], base: int, seg_base: int) -> None:
        self.raw, self.base, self.seg_base = raw, base, seg_base
        self.mark_i, self.mark_pos = 0, base

    def pos_of(self, i: int) -> int:
        """Character offset of raw[i] (leading whitespace skipped)."""
        if i < self.mark_i:
            self.mark_i, self.mark_pos = 0, self.base
        raw = self.raw
        for a in range(self.mark_i, i, SUM_STEP):  # in steps: one C call over a whole input holds the GIL
            self.mark_pos += sum(map(len, raw[a:min(i, a + SUM_STEP)]))
        self.mark_pos += (i - self.mark_i) * self.tlen
        self.mark_i = i
        s = raw[i] if i < len(raw) else ""
        return self.mark_pos + len(s) - len(s.lstrip(WHITESPACE))

    def where(self, i: int, **extra: Any) -> dict[str, Any]:
        pos: dict[str, Any] = {"interchange": self.ic_i, "offset": self.byte_offset(self.pos_of(i))}
        if self.grp is not None:
            pos["group"] = self.grp_i
        if self.segs is not None:
            pos["transaction"] = self.txn_i
            pos["segment_position"] = len(self.segs)
        pos.update(extra)
        return pos

    def add(self, code: str, message: str, **fields: Any) -> None:
        n = len(self.findings)
        if n < MAX_FINDINGS:
            self.findings.append(finding(code, message, **fields))
        elif n == MAX_FINDINGS:
            self.findings.append(finding("too_many_findings", f"more than {MAX_FINDINGS} problems; the rest "
                                         "are not listed", level="interchange"))

    # interchange -----------------------------------------------------------------------------------
    def open(self, isa: IsaHeader, char_pos: int, seg_index: int) -> None:
        d = isa.delimiters
        self.strip = ""
        p = isa.elements
        self.ic_i = len(self.interchanges)
        self.ic = Interchange(
            standard="x12", sender_qualifier=p[5], sender=p[6].strip(), receiver_qualifier=p[7],
            receiver=p[8].strip(), control_number=p[13], version=p[12], delimiters=d, header=p,
            trailer=None, offset=self.byte_offset(char_pos), test=p[15] == "T", encoding=self.encoding)
        self.interchanges.append(self.ic)
        self.grp = self.txn = self.segs = None
        self.n_groups = 0
        self.grp_i = -1
        self.ic_seg0 = seg_index
        self.tlen = len(d.segment)
        self.gs_numbers = set()
        for code, message, fields in isa.problems:
            severity = "warning" if code == "isa_not_fixed_width" else "error"
            self.add(code, message, severity=severity, interchange=self.ic_i, segment_id="ISA",
                     offset=self.byte_offset(char_pos), **fields)
        if p[13] in self.isa_numbers:
            self.add("isa_control_duplicate", f"interchange control number {p[13]} repeats in this input",
                     interchange=self.ic_i, offset=self.byte_offset(char_pos))
        self.isa_numbers.add(p[13])

    def set_strip(self, sample: str) -> None:
        """Strip whitespace around segments only when the input has any (CR/LF, tabs, indentation)."""
        d = self.ic.delimiters if self.ic else None
        if d is None:
            return
        t = d.segment
        wanted = any(ch in sample for ch in "\r\n\t" if ch != t) or _contains(sample, t + " ")
        used = {d.element, d.segment, d.component, d.repetition or ""}
        self.strip = "".join(ch for ch in WHITESPACE if ch not in used) if wanted else ""

    def scan(self, raw: list[str], start: int, stop: int) -> int:
        """Process raw[start:stop]; return the index to continue from (after IEA / before a new ISA)."""
        d = self.ic.delimiters if self.ic else None
        if d is None:
            return start
        e, c, r = d.element, d.component, d.repetition
        strip = self.strip
        env = ENVELOPE
        segs = self.segs
        limit = X12_MAX_ELEMENT
        for i in range(start, stop):
            s = raw[i]
            if strip:
                s = s.strip(strip)
            if not s:
                continue
            el: list[Any] = s.split(e)
            if el[0] in env:
                act = self.envelope(el[0], s, i)
                if act:
                    return i + 1 if act == STOP_AFTER else i
                segs = self.segs
                continue
            if c in s or (r and r in s):
                el = self.split_parts(el, c, r, bool(r and r in s) or (c + e) in s or s[-1] == c, i)
            if not el[-1]:
                while len(el) > 1 and el[-1] == "":
                    el.pop()
            if segs is None:
                self.outside(el, i)
                continue
            segs.append(el)
            if len(s) > limit:
                self.check_lengths(el, i)
        return stop

    def split_parts(self, el: list[Any], c: str, r: str | None, whole: bool, i: int) -> list[Any]:
        """Split a segment's elements on the component (and repetition) separator; ``whole``: the tag
        may hold them too (split as any element), else it stays text. A separator in the tag is
        reported (the segment is then unknown)."""
        if whole:
            el = normalize(el, c, r)
            if c in el[0] or (r and r in el[0]):
                self.tag_invalid(el[0], i)
            return el
        el = [el[0], *(v.split(c) if c in v else v for v in el[1:])]
        if c in el[0]:
            self.tag_invalid(el[0], i)
        return el

    def tag_invalid(self, tag: str, i: int) -> None:
        self.add("segment_tag_invalid", f"segment tag {tag[:10]!r} holds a separator character",
                 **self.where(i, segment_id=tag[:10]))

    def check_lengths(self, el: Segment, i: int) -> None:
        for k in _too_long(el, X12_MAX_ELEMENT):
            self.add("element_too_long", f"{el[0]}{k:02d} is longer than {X12_MAX_ELEMENT} characters; "
                     "a separator may be missing", **self.where(i, segment_id=el[0], element=k))

    def outside(self, el: Segment, i: int) -> None:
        if self.grp is None:
            self.add("data_outside_interchange" if self.ic is None else "gs_missing",
                     f"segment {el[0][:10]!r} outside any functional group", **self.where(i, segment_id=el[0][:10]))
        else:
            self.add("segment_outside_transaction", f"segment {el[0][:10]!r} between transaction sets",
                     **self.where(i, segment_id=el[0][:10]))

    # envelope segments -----------------------------------------------------------------------------
    def envelope(self, tag: str, s: str, i: int) -> int:
        d = self.ic.delimiters  # type: ignore[union-attr]
        if tag == "ISA":
            self.close_interchange(i, "a new ISA segment starts")
            return STOP_BEFORE
        # Envelope segments have simple elements only. The tree keeps what a separator inside one splits
        # (so the segment writes back as it came); the envelope checks and the group and transaction
        # fields read that value as text again (``raw``), so it is reported as a mismatch, not compared
        # as a list.
        el = normalize(s.split(d.element), d.component, d.repetition)
        raw = [_text(v, d.component, d.repetition) for v in el]
        if tag == "ST":
            self.open_transaction(el, i, raw)
        elif tag == "SE":
            self.close_transaction(el, i, raw)
        elif tag == "GS":
            self.open_group(el, i, raw)
        elif tag == "GE":
            self.close_group(el, i, raw)
        elif tag == "IEA":
            self.close_interchange(i, None, el, raw)
            return STOP_AFTER
        else:  # TA1
            if self.segs is not None:
                self.segs.append(el)
            elif self.ic is not None:
                self.ic.service_segments.append(el)
        return CONTINUE

    def open_group(self, el: Segment, i: int, raw: list[str] | None = None) -> None:
        if self.grp is not None:
            self.end_group(i, "a new GS segment starts")
        ic = self.ic
        assert ic is not None
        g = [*(el if raw is None else raw), "", "", "", "", "", "", "", "", ""]
        self.grp = Group(functional_id=g[1], sender=g[2], receiver=g[3], control_number=g[6],
                         version=g[8], header=el, trailer=None)
        ic.groups.append(self.grp)
        self.grp_i = len(ic.groups) - 1
        self.n_groups += 1
        self.n_txns = 0
        self.txn_i = -1
        self.st_numbers = set()
        if g[6] in self.gs_numbers:
            self.add("gs_control_duplicate", f"group control number {g[6]} repeats in this interchange",
                     **self.where(i, segment_id="GS"))
        self.gs_numbers.add(g[6])

    def end_group(self, i: int, why: str) -> None:
        if self.segs is not None:
            self.end_transaction(i, why)
        self.add("ge_missing", f"functional group {self.grp.control_number} has no GE trailer ({why})",  # type: ignore[union-attr]
                 **self.where(i))
        self.grp = None

    def close_group(self, el: Segment, i: int, raw: list[str] | None = None) -> None:
        if self.grp is None:
            self.add("ge_unexpected", "GE segment without a GS header", **self.where(i, segment_id="GE"))
            return
        if self.segs is not None:
            self.end_transaction(i, "GE segment reached")
        g = self.grp
        g.trailer = el
        v = el if raw is None else raw
        self.count_check("ge_count_mismatch", "GE01", v, 1, self.n_txns, "transaction sets", i, "GE")
        self.control_check("ge_control_mismatch", "GE02", v, "GS06", g.control_number, i, "GE")
        self.grp = None

    def open_transaction(self, el: Segment, i: int, raw: list[str] | None = None) -> None:
        if self.segs is not None:
            self.end_transaction(i, "a new ST segment starts")
        if self.grp is None:
            self.add("gs_missing", "ST segment outside a functional group", **self.where(i, segment_id="ST"))
            self.grp = Group("", "", "", "", "", None, None)
            self.ic.groups.append(self.grp)  # type: ignore[union-attr]
            self.grp_i = len(self.ic.groups) - 1  # type: ignore[union-attr]
            self.n_groups += 1
            self.n_txns = 0
        g = self.grp
        t = [*(el if raw is None else raw), "", ""]
        self.txn = Transaction(type=t[1] if isinstance(t[1], str) else str(t[1]),
                               control_number=t[2] if isinstance(t[2], str) else str(t[2]),
                               segments=[el], version=g.version,
                               offset=self.byte_offset(self.pos_of(i)),
                               segment_offset=self.seg_base + i - self.ic_seg0)
        self.segs = self.txn.segments
        self.txn_i = self.n_txns
        self.n_txns += 1
        if self.keep:
            g.transactions.append(self.txn)
        pos = self.where(i, segment_id="ST")
        if g.functional_id and not functional.matches(g.functional_id, self.txn.type):
            self.add("transaction_type_mismatch", f"transaction set {self.txn.type} does not belong in a "
                     f"{g.functional_id} functional group", **{**pos, "element": 1})
        if self.txn.control_number in self.st_numbers:
            self.add("st_control_duplicate", f"transaction set control number {self.txn.control_number} "
                     "repeats in this group", **{**pos, "element": 2})
        self.st_numbers.add(self.txn.control_number)

    def end_transaction(self, i: int, why: str | None) -> None:
        txn = self.txn
        assert txn is not None and self.grp is not None and self.ic is not None
        if why is not None:
            self.add("se_missing", f"transaction set {txn.control_number} has no SE trailer ({why})",
                     **self.where(i))
        self.txn = self.segs = None
        if self.sink is not None:
            self.sink(self.ic, self.grp, txn)

    def close_transaction(self, el: Segment, i: int, raw: list[str] | None = None) -> None:
        if self.segs is None:
            self.add("se_unexpected", "SE segment without an ST header", **self.where(i, segment_id="SE"))
            return
        self.segs.append(el)
        v = el if raw is None else raw
        self.count_check("se_count_mismatch", "SE01", v, 1, len(self.segs), "segments", i, "SE")
        self.control_check("se_control_mismatch", "SE02", v, "ST02", self.txn.control_number, i, "SE")  # type: ignore[union-attr]
        self.end_transaction(i, None)

    def close_interchange(self, i: int, why: str | None, el: Segment | None = None,
                          raw: list[str] | None = None) -> None:
        ic = self.ic
        if ic is None:
            return
        if self.grp is not None:
            self.end_group(i, why or "IEA segment reached")
        if el is None:
            self.add("iea_missing", f"interchange {ic.control_number} has no IEA trailer ({why})",
                     **self.where(i))
        else:
            ic.trailer = el
            v = el if raw is None else raw
            self.count_check("iea_count_mismatch", "IEA01", v, 1, self.n_groups, "functional groups", i, "IEA")
            self.control_check("iea_control_mismatch", "IEA02", v, "ISA13", ic.control_number, i, "IEA")
        self.ic = None

    def finish(self, i: int, why: str) -> None:
        """End of input: close whatever is still open."""
        if self.ic is not None:
            self.close_interchange(i, why)

    # checks ----------------------------------------------------------------------------------------
    def count_check(self, code: str, name: str, el: Segment, k: int, actual: int, what: str, i: int,
                    tag: str) -> None:
        value = el[k] if len(el) > k else ""
        if not (isinstance(value, str) and value.isascii() and value.isdigit() and int(value) == actual):
            self.add(code, f"{name} says {value!r} but {actual} {what} are present",
                     **self.where(i, segment_id=tag, element=k, value=value))

    def control_check(self, code: str, name: str, el: Segment, header: str, expected: str, i: int,
                      tag: str) -> None:
        value = el[2] if len(el) > 2 else ""
        if value == expected:
            return
        same = (isinstance(value, str) and value.isascii() and value.isdigit() and expected.isascii()
                and expected.isdigit() and int(value) == int(expected))
        self.add(code, f"{name} {value!r} differs from {header} {expected!r}"
                 + (" (same number, different padding)" if same else ""),
                 severity="warning" if same else "error", **self.where(i, segment_id=tag, element=2, value=value))
