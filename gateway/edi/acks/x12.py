"""997 and 999 functional acknowledgements and TA1 interchange acknowledgements, from findings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from gateway.edi.acks.common import all_findings, at, unique, x12_relevant
from gateway.edi.envelope import ControlNumbers, envelope
from gateway.edi.findings import Finding
from gateway.edi.model import X12_DEFAULT, Delimiters, Interchange, Segment
from gateway.edi.parser import ParseResult


def _clean(value: Any, d: Delimiters) -> str:
    """A copy of bad data for AK404/IK404: no delimiters, at most 99 characters."""
    if not isinstance(value, str):
        return ""
    bad = {d.element, d.component, d.segment, d.repetition or "", "\r", "\n"}
    return "".join(ch for ch in value if ch not in bad)[:99]


def _segment_notes(errs: list[Finding], kind: str, d: Delimiters) -> list[Segment]:
    """AK3/AK4 (997) or IK3/IK4 (999) segments, one AK3/IK3 per segment in error."""
    by_seg: dict[tuple[int, str], list[Finding]] = {}
    for f in errs:
        if f.segment_position is not None and (f.x12_segment or f.x12_element):
            by_seg.setdefault((f.segment_position, f.segment_id or ""), []).append(f)
    out: list[Segment] = []
    s3, s4 = ("AK3", "AK4") if kind == "997" else ("IK3", "IK4")
    for (pos, tag), fs in sorted(by_seg.items()):
        seg_code = next((f.x12_segment for f in fs if f.x12_segment and not f.x12_element), None) or "8"
        loop = next((f.loop_id for f in fs if f.loop_id), "")
        out.append([s3, _clean(tag, d)[:3], str(pos), _clean(loop, d), seg_code])  # a broken tag may hold a separator
        for f in fs:
            if f.x12_element and f.element is not None:
                where: Any = [str(f.element), str(f.component)] if f.component else str(f.element)
                el = [s4, where, "", f.x12_element]
                value = _clean(f.value, d)
                if value:
                    el.append(value)
                out.append(el)
    return out


def _functional_ack(result: ParseResult, interchange: int, kind: str, control_numbers: ControlNumbers,
                    partner: str, extra: Iterable[Finding], delimiters: Delimiters | None,
                    version: str | None, group_version: str | None, now: datetime | None) -> Interchange | None:
    if interchange >= len(result.interchanges):
        return None
    ic = result.interchanges[interchange]
    d = delimiters or X12_DEFAULT
    findings = [f for f in all_findings(result, extra, interchange) if x12_relevant(f)]
    warned = [f for f in all_findings(result, extra, interchange)
              if f.severity == "warning" and (f.x12_transaction or f.x12_segment or f.x12_element)]
    bodies: list[list[Segment]] = []
    for gi, g in enumerate(ic.groups):
        if g.header is None:
            continue
        body: list[Segment] = [["AK1", g.functional_id, g.control_number] + ([g.version] if kind == "999" else [])]
        accepted = 0
        any_e = False
        for ti, t in enumerate(g.transactions):
            errs = at(findings, gi, ti)
            st = t.segments[0] if t.segments else ["ST"]
            ak2 = ["AK2", t.type, t.control_number]
            if kind == "999" and len(st) > 3 and isinstance(st[3], str):
                ak2.append(st[3])
            body.append(ak2)
            body += _segment_notes(errs, kind, d)
            if errs:
                codes = unique(f.x12_transaction or ("5" if (f.x12_segment or f.x12_element) else None)
                               for f in errs) or ["5"]
                body.append(["AK5" if kind == "997" else "IK5", "R", *codes])
            else:
                status = "E" if at(warned, gi, ti) else "A"
                any_e |= status == "E"
                accepted += 1
                body.append(["AK5" if kind == "997" else "IK5", status])
        group_errs = at(findings, gi, None)
        received = len(g.transactions)
        trailer_count = g.trailer[1] if g.trailer and len(g.trailer) > 1 else ""
        included = trailer_count if isinstance(trailer_count, str) and trailer_count.isascii() and trailer_count.isdigit() else str(received)
        if group_errs:
            status, accepted = "R", 0
        elif accepted == received:
            status = "E" if any_e else "A"
        else:
            status = "R" if accepted == 0 else "P"
        ak9 = ["AK9", status, included, str(received), str(accepted), *unique(f.x12_group for f in group_errs)]
        body.append(ak9)
        bodies.append(body)
    if not bodies:
        return None
    gver = group_version or ("005010X231A1" if kind == "999" else (ic.groups[0].version or "004010"))
    return envelope(bodies, partner=partner, sender=(ic.receiver_qualifier, ic.receiver),
                    receiver=(ic.sender_qualifier, ic.sender), control_numbers=control_numbers,
                    transaction_type=kind, functional_id="FA", version=version or ic.version,
                    group_version=gver, delimiters=d, test=ic.test, now=now,
                    application_sender=_gs(ic, 3), application_receiver=_gs(ic, 2))


def _gs(ic: Interchange, k: int) -> str | None:
    for g in ic.groups:
        if g.header is not None and len(g.header) > k and isinstance(g.header[k], str):
            return g.header[k]
    return None


def build_997(result: ParseResult, interchange: int = 0, *, control_numbers: ControlNumbers, partner: str,
              extra: Iterable[Finding] = (), delimiters: Delimiters | None = None, version: str | None = None,
              group_version: str | None = None, now: datetime | None = None) -> Interchange | None:
    """A 997 for every functional group of one inbound interchange (None when it has no group).

    ``extra`` findings (structure validation) need ``group``/``transaction`` indexes; those with
    ``x12_segment``/``x12_element`` codes and a ``segment_position`` become AK3/AK4.
    """
    return _functional_ack(result, interchange, "997", control_numbers, partner, extra, delimiters, version,
                           group_version, now)


def build_999(result: ParseResult, interchange: int = 0, *, control_numbers: ControlNumbers, partner: str,
              extra: Iterable[Finding] = (), delimiters: Delimiters | None = None, version: str | None = None,
              group_version: str | None = None, now: datetime | None = None) -> Interchange | None:
    """A 999 (implementation acknowledgement) like ``build_997``, with IK3/IK4/IK5."""
    return _functional_ack(result, interchange, "999", control_numbers, partner, extra, delimiters,
                           version or "00501", group_version, now)


def build_ta1(result: ParseResult, interchange: int = 0, *, control_numbers: ControlNumbers, partner: str,
              delimiters: Delimiters | None = None, now: datetime | None = None) -> Interchange | None:
    """A TA1 for one inbound interchange: accepted (000), or the first interchange-level error code."""
    if interchange >= len(result.interchanges):
        return None
    ic = result.interchanges[interchange]
    mine = [f for f in result.findings if f.interchange == interchange and f.x12_ta1]
    errors = [f for f in mine if f.severity == "error"]
    if errors:
        status, note = "R", errors[0].x12_ta1
    elif mine:
        status, note = "E", mine[0].x12_ta1
    else:
        status, note = "A", "000"
    h = ic.header
    ta1 = ["TA1", ic.control_number, h[9] if len(h) > 9 else "", h[10] if len(h) > 10 else "", status, note or "000"]
    out = envelope([], partner=partner, sender=(ic.receiver_qualifier, ic.receiver),
                   receiver=(ic.sender_qualifier, ic.sender), control_numbers=control_numbers,
                   version=ic.version if ic.version.isascii() and ic.version.isdigit() else "00401", delimiters=delimiters or X12_DEFAULT,
                   test=ic.test, now=now)
    out.groups = []
    out.service_segments = [ta1]
    out.trailer = ["IEA", "0", out.control_number]
    return out
