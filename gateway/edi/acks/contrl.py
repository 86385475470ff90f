"""EDIFACT CONTRL: UCI for the interchange, UCM per message, UCS/UCD for segment and element errors."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from gateway.edi.acks.common import all_findings, unique
from gateway.edi.envelope import ControlNumbers, envelope
from gateway.edi.findings import Finding
from gateway.edi.model import EDIFACT_DEFAULT, Delimiters, Interchange, Segment
from gateway.edi.parser import ParseResult

ACCEPTED, REJECTED = "7", "4"


def _party(ic: Interchange, k: int) -> list[str] | str:
    v = ic.header[k] if len(ic.header) > k else ""
    return v


def build_contrl(result: ParseResult, interchange: int = 0, *, control_numbers: ControlNumbers, partner: str,
                 extra: Iterable[Finding] = (), delimiters: Delimiters | None = None,
                 now: datetime | None = None, charset: str | None = None) -> Interchange | None:
    """A CONTRL for one inbound EDIFACT interchange, with a UCM for every message.

    It is written in the interchange's own syntax level; ``charset`` (for example ``UNOY``) replaces the
    level's charset when the values it echoes do not fit the one the partner declared.

    ``extra`` findings need ``group``/``transaction`` indexes and an ``edifact`` code; with a
    ``segment_position`` they become UCS, with an ``element`` too, UCD.
    """
    if interchange >= len(result.interchanges):
        return None
    ic = result.interchanges[interchange]
    findings = [f for f in all_findings(result, extra, interchange) if f.severity == "error" and f.edifact]
    top = [f for f in findings if f.transaction is None]
    uci: Segment = ["UCI", ic.control_number, _party(ic, 2), _party(ic, 3)]
    if top:
        uci += [REJECTED, top[0].edifact or ""]
        if top[0].segment_id:
            uci.append(top[0].segment_id[:3])
    else:
        uci.append(ACCEPTED)
    body: list[Segment] = [uci]
    for gi, g in enumerate(ic.groups):
        for ti, t in enumerate(g.transactions):
            errs = [f for f in findings if f.group == gi and f.transaction == ti]
            s009 = t.segments[0][2] if t.segments and len(t.segments[0]) > 2 else t.type
            ucm: Segment = ["UCM", t.control_number, s009]
            if errs:
                ucm += [REJECTED, *unique((f.edifact for f in errs if f.level == "transaction"), 1)]
            else:
                ucm.append(ACCEPTED)
            body.append(ucm)
            by_seg: dict[int, list[Finding]] = {}
            for f in errs:
                if f.segment_position is not None and f.level != "transaction":
                    by_seg.setdefault(f.segment_position, []).append(f)
            for pos, fs in sorted(by_seg.items()):
                seg_code = next((f.edifact for f in fs if f.element is None), None)
                body.append(["UCS", str(pos)] + ([seg_code] if seg_code else []))
                for f in fs:
                    if f.element is not None:
                        where = [str(f.element), str(f.component)] if f.component else str(f.element)
                        body.append(["UCD", f.edifact or "", where])
    syntax = ic.version if ic.version.startswith("UNO") else "UNOA:3"
    if charset:
        syntax = ":".join([charset, *syntax.split(":")[1:]])
    v4 = syntax.split(":")[1:2] == ["4"]
    return envelope([body], partner=partner, standard="edifact", sender=(ic.receiver_qualifier, ic.receiver),
                    receiver=(ic.sender_qualifier, ic.sender), control_numbers=control_numbers,
                    transaction_type="CONTRL:4:1:UN" if v4 else "CONTRL:D:3:UN", version=syntax,
                    delimiters=delimiters or ic.delimiters or EDIFACT_DEFAULT, test=ic.test, now=now)
