"""EDIFACT reader: UNB/UNG/UNH envelopes over the same position and finding machinery as X12."""

from __future__ import annotations

from typing import Any

from gateway.edi.codes import EDIFACT_MAX_ELEMENT
from gateway.edi.model import Delimiters, Group, Interchange, Segment, Transaction
from gateway.edi.x12_reader import CONTINUE, STOP_AFTER, STOP_BEFORE, X12Reader, _too_long, normalize

ENVELOPE = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})


def _part(value: Any, k: int) -> str:
    """Component k (0-based) of an element that may be simple or composite."""
    if isinstance(value, list):
        return value[k] if len(value) > k and isinstance(value[k], str) else ""
    return value if k == 0 and isinstance(value, str) else ""


def translated(value: Any, table: dict[int, str | None]) -> Any:
    """``str.translate`` through a value at any depth (a repeat inside a component, in broken input)."""
    if isinstance(value, list):
        return type(value)(translated(p, table) for p in value)
    return value.translate(table)


def _joined(value: Any) -> str:
    return ":".join(map(_joined, value)) if isinstance(value, list) else str(value)


class EdifactReader(X12Reader):
    """State machine for one input's EDIFACT interchanges."""

    table: dict[int, str | None] | None = None  # release translation for the current text

    def open_unb(self, el: Segment, d: Delimiters, una: str | None, char_pos: int, seg_index: int) -> None:
        u = [*el, "", "", "", "", "", "", "", "", "", "", "", ""]
        self.ic_i = len(self.interchanges)
        self.ic = Interchange(
            standard="edifact", sender_qualifier=_part(u[2], 1), sender=_part(u[2], 0),
            receiver_qualifier=_part(u[3], 1), receiver=_part(u[3], 0), control_number=_joined(u[5]),
            version=_joined(u[1]), delimiters=d, header=el, trailer=None, una=una,
            offset=self.byte_offset(char_pos), test=u[11] == "1", encoding=self.encoding)
        self.interchanges.append(self.ic)
        self.grp = self.txn = self.segs = None
        self.n_groups = 0
        self.n_txns = 0
        self.n_bare = 0
        self.grp_i = -1
        self.ic_seg0 = seg_index
        self.tlen = len(d.segment)
        self.gs_numbers = set()
        self.st_numbers = set()
        if not (isinstance(u[1], list) and _part(u[1], 0)[:3] == "UNO" and _part(u[1], 1)):
            self.add("unb_malformed", f"UNB syntax identifier {_joined(u[1])!r} is not UNOx:n",
                     interchange=self.ic_i, segment_id="UNB", element=1, offset=self.ic.offset)
        elif _part(u[1], 1) not in ("1", "2", "3", "4"):
            self.add("syntax_not_supported", f"syntax version {_part(u[1], 1)!r} is not supported",
                     interchange=self.ic_i, segment_id="UNB", element=1, offset=self.ic.offset)
        if not self.ic.control_number or not self.ic.sender or not self.ic.receiver:
            self.add("unb_malformed", "UNB lacks a sender, recipient or control reference",
                     interchange=self.ic_i, segment_id="UNB", offset=self.ic.offset)
        if self.ic.control_number in self.isa_numbers:
            self.add("unb_control_duplicate", f"interchange control reference {self.ic.control_number} "
                     "repeats in this input", interchange=self.ic_i, offset=self.ic.offset)
        self.isa_numbers.add(self.ic.control_number)

    def scan(self, raw: list[str], start: int, stop: int) -> int:
        d = self.ic.delimiters if self.ic else None
        if d is None:
            return start
        e, c, r, rel = d.element, d.component, d.repetition, d.release
        table = self.table
        strip = self.strip
        env = ENVELOPE
        segs = self.segs
        limit = EDIFACT_MAX_ELEMENT
        ce = c + e
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
                el = self.split_parts(el, c, r, bool(r and r in s) or ce in s or s[-1] == c, i)
            if not el[-1]:
                while len(el) > 1 and el[-1] == "":
                    el.pop()
            if table is not None and rel in s:  # type: ignore[operator]  # a release character is set whenever there is an unescape table
                el = self.unescape(el)
            if segs is None:
                self.outside(el, i)
                continue
            segs.append(el)
            if len(s) > limit:
                self.check_lengths(el, i)
        return stop

    def unescape(self, el: list[Any]) -> list[Any]:
        t = self.table
        assert t is not None
        return [v.translate(t) if v.__class__ is str else translated(v, t) for v in el]

    def check_lengths(self, el: Segment, i: int) -> None:
        for k in _too_long(el, EDIFACT_MAX_ELEMENT):
            self.add("element_too_long", f"element {k} of {el[0]} is longer than {EDIFACT_MAX_ELEMENT} "
                     "characters; a separator may be missing", **self.where(i, segment_id=el[0], element=k))

    def outside(self, el: Segment, i: int) -> None:
        self.add("segment_outside_message", f"segment {el[0][:10]!r} outside any message",
                 **self.where(i, segment_id=el[0][:10]))

    def envelope(self, tag: str, s: str, i: int) -> int:
        d = self.ic.delimiters  # type: ignore[union-attr]
        if tag in ("UNA", "UNB"):
            self.close_interchange(i, f"a new {tag} segment starts")
            return STOP_BEFORE
        el = normalize(s.split(d.element), d.component, d.repetition)
        if self.table is not None and d.release and d.release in s:
            el = self.unescape(el)
        if tag == "UNH":
            self.open_transaction(el, i)
        elif tag == "UNT":
            self.close_transaction(el, i)
        elif tag == "UNG":
            self.open_group(el, i)
        elif tag == "UNE":
            self.close_group(el, i)
        else:  # UNZ
            self.close_interchange(i, None, el)
            return STOP_AFTER
        return CONTINUE

    def open_group(self, el: Segment, i: int, raw: list[str] | None = None) -> None:  # raw: X12 only
        if self.grp is not None:
            self.end_group(i, "a new UNG segment starts")
        if self.n_bare:
            self.add("groups_and_messages_mixed", "UNG group after messages outside groups",
                     **self.where(i, segment_id="UNG"))
        ic = self.ic
        assert ic is not None
        g = [*el, "", "", "", "", "", "", "", ""]
        ver = g[7] if isinstance(g[7], list) else [g[7]]
        self.grp = Group(functional_id=_joined(g[1]), sender=_part(g[2], 0), receiver=_part(g[3], 0),
                         control_number=_joined(g[5]), version=":".join(ver), header=el, trailer=None)
        ic.groups.append(self.grp)
        self.grp_i = len(ic.groups) - 1
        self.n_groups += 1
        self.n_txns = 0
        self.txn_i = -1
        self.st_numbers = set()

    def end_group(self, i: int, why: str) -> None:
        g = self.grp
        assert g is not None
        if self.segs is not None:
            self.end_transaction(i, why)
        if g.header is not None:
            self.add("une_missing", f"group {g.control_number} has no UNE trailer ({why})", **self.where(i))
        self.grp = None

    def close_group(self, el: Segment, i: int, raw: list[str] | None = None) -> None:  # raw: X12 only
        if self.grp is None or self.grp.header is None:
            self.add("une_unexpected", "UNE segment without a UNG header", **self.where(i, segment_id="UNE"))
            return
        if self.segs is not None:
            self.end_transaction(i, "UNE segment reached")
        self.grp.trailer = el
        self.count_check("une_count_mismatch", "UNE01", el, 1, self.n_txns, "messages", i, "UNE")
        self.control_check("une_control_mismatch", "UNE02", el, "UNG05", self.grp.control_number, i, "UNE")
        self.grp = None

    def open_transaction(self, el: Segment, i: int, raw: list[str] | None = None) -> None:  # raw: X12 only
        if self.segs is not None:
            self.end_transaction(i, "a new UNH segment starts")
        ic = self.ic
        assert ic is not None
        if self.grp is None:
            if self.n_groups and ic.groups[-1].header is not None:
                self.add("groups_and_messages_mixed", "message outside a UNG group in an interchange with groups",
                         **self.where(i, segment_id="UNH"))
            if not ic.groups or ic.groups[-1].header is not None:
                ic.groups.append(Group("", ic.sender, ic.receiver, "", "", None, None))
                self.n_groups += 1
                self.n_txns = 0
            self.grp = ic.groups[-1]
            self.grp_i = len(ic.groups) - 1
        g = self.grp
        u = [*el, "", ""]
        s009 = u[2] if isinstance(u[2], list) else [u[2]]
        self.txn = Transaction(type=_joined(s009[0]) if s009 else "", control_number=_joined(u[1]), segments=[el],
                               version=":".join(map(_joined, s009[1:])), offset=self.byte_offset(self.pos_of(i)),
                               segment_offset=self.seg_base + i - self.ic_seg0)
        self.segs = self.txn.segments
        self.txn_i = self.n_txns
        self.n_txns += 1
        if g.header is None:
            self.n_bare += 1
        if self.keep:
            g.transactions.append(self.txn)
        pos = self.where(i, segment_id="UNH")
        if g.header is not None and g.functional_id and g.functional_id != self.txn.type:
            self.add("message_type_mismatch", f"message type {self.txn.type} in a UNG group for "
                     f"{g.functional_id}", **{**pos, "element": 2})
        if self.txn.control_number in self.st_numbers:
            self.add("unh_control_duplicate", f"message reference {self.txn.control_number} repeats",
                     **{**pos, "element": 1})
        self.st_numbers.add(self.txn.control_number)

    def end_transaction(self, i: int, why: str | None) -> None:
        txn = self.txn
        assert txn is not None and self.grp is not None and self.ic is not None
        if why is not None:
            self.add("unt_missing", f"message {txn.control_number} has no UNT trailer ({why})", **self.where(i))
        grp = self.grp
        self.txn = self.segs = None
        if grp.header is None:
            self.grp = None  # implicit group: stays open only inside a message
        if self.sink is not None:
            self.sink(self.ic, grp, txn)

    def close_transaction(self, el: Segment, i: int, raw: list[str] | None = None) -> None:  # raw: X12 only
        if self.segs is None:
            self.add("unt_unexpected", "UNT segment without a UNH header", **self.where(i, segment_id="UNT"))
            return
        self.segs.append(el)
        self.count_check("unt_count_mismatch", "UNT01", el, 1, len(self.segs), "segments", i, "UNT")
        self.control_check("unt_control_mismatch", "UNT02", el, "UNH01", self.txn.control_number, i, "UNT")  # type: ignore[union-attr]
        self.end_transaction(i, None)

    def close_interchange(self, i: int, why: str | None, el: Segment | None = None,
                          raw: list[str] | None = None) -> None:  # raw: X12 only
        ic = self.ic
        if ic is None:
            return
        if self.grp is not None:
            self.end_group(i, why or "UNZ segment reached")
        if el is None:
            self.add("unz_missing", f"interchange {ic.control_number} has no UNZ trailer ({why})",
                     **self.where(i))
        else:
            ic.trailer = el
            grouped = any(g.header is not None for g in ic.groups)
            count = len([g for g in ic.groups if g.header is not None]) if grouped else self.n_bare
            what = "groups" if grouped else "messages"
            if not self.keep and not grouped:
                count = self.n_bare
            self.count_check("unz_count_mismatch", "UNZ01", el, 1, count, what, i, "UNZ")
            self.control_check("unz_control_mismatch", "UNZ02", el, "UNB05", ic.control_number, i, "UNZ")
        self.ic = None
