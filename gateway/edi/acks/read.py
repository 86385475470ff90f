"""Reading an inbound 997 / 999 / TA1 / CONTRL: which of our interchanges, groups and transactions it
accepts or rejects, with the codes."""

from __future__ import annotations

from typing import Any

from gateway.edi.acks.common import AckStatus
from gateway.edi.model import Interchange, Segment

X12_STATUS = {"A": "accepted", "E": "accepted_with_errors", "P": "partially_accepted", "R": "rejected",
              "M": "rejected", "W": "rejected", "X": "rejected"}
EDIFACT_STATUS = {"7": "accepted", "4": "rejected", "8": "received", "1": "accepted"}


def _s(seg: Segment, k: int) -> str:
    v: Any = seg[k] if len(seg) > k else ""
    if isinstance(v, list):
        return ":".join(x if isinstance(x, str) else ":".join(x) for x in v)
    return v


def _codes(seg: Segment, start: int) -> list[str]:
    return [c for c in (_s(seg, k) for k in range(start, len(seg))) if c]


def read_ack(interchange: Interchange) -> list[AckStatus]:
    """Every status the acknowledgements in ``interchange`` carry, in order."""
    out: list[AckStatus] = []
    for seg in interchange.service_segments:
        if seg[0] == "TA1":
            out.append(AckStatus("TA1", "interchange", X12_STATUS.get(_s(seg, 4), "rejected"), _s(seg, 4),
                                 interchange_control=_s(seg, 1), codes=_codes(seg, 5)))
    for g in interchange.groups:
        for t in g.transactions:
            if t.type in ("997", "999"):
                out += _x12(t.type, t.segments)
            elif t.type == "CONTRL":
                out += _contrl(t.segments)
    return out


def _x12(kind: str, segs: list[Segment]) -> list[AckStatus]:
    out: list[AckStatus] = []
    fid = gcn = ""
    current: AckStatus | None = None
    errors: list[dict[str, str]] = []
    for seg in segs:
        tag = seg[0]
        if tag == "AK1":
            fid, gcn = _s(seg, 1), _s(seg, 2)
        elif tag == "AK2":
            current = AckStatus(kind, "transaction", "", "", group_control=gcn, functional_id=fid,
                                transaction_type=_s(seg, 1), transaction_control=_s(seg, 2))
            errors = []
        elif tag in ("AK3", "IK3"):
            errors.append({"segment": _s(seg, 1), "position": _s(seg, 2), "code": _s(seg, 4)})
        elif tag in ("AK4", "IK4") and errors:
            errors.append({"segment": errors[-1]["segment"], "position": errors[-1]["position"],
                           "element": _s(seg, 1), "code": _s(seg, 3), "value": _s(seg, 4)})
        elif tag in ("AK5", "IK5") and current is not None:
            current.code = _s(seg, 1)
            current.status = X12_STATUS.get(current.code, "rejected")
            current.codes = _codes(seg, 2)
            current.errors = errors
            out.append(current)
            current = None
        elif tag == "AK9":
            out.append(AckStatus(kind, "group", X12_STATUS.get(_s(seg, 1), "rejected"), _s(seg, 1),
                                 group_control=gcn, functional_id=fid, codes=_codes(seg, 5)))
    return out


def _contrl(segs: list[Segment]) -> list[AckStatus]:
    out: list[AckStatus] = []
    icn = ""
    current: AckStatus | None = None
    for seg in segs:
        tag = seg[0]
        if tag == "UCI":
            icn = _s(seg, 1)
            out.append(AckStatus("CONTRL", "interchange", EDIFACT_STATUS.get(_s(seg, 4), "rejected"), _s(seg, 4),
                                 interchange_control=icn, codes=_codes(seg, 5)[:1]))
        elif tag == "UCM":
            s009 = seg[2] if len(seg) > 2 else ""
            current = AckStatus("CONTRL", "transaction", EDIFACT_STATUS.get(_s(seg, 3), "rejected"), _s(seg, 3),
                                interchange_control=icn,
                                transaction_type=s009[0] if isinstance(s009, list) else s009,
                                transaction_control=_s(seg, 1), codes=_codes(seg, 4)[:1])
            out.append(current)
        elif tag == "UCS" and current is not None:
            current.errors.append({"position": _s(seg, 1), "code": _s(seg, 2)})
        elif tag == "UCD" and current is not None:
            pos = current.errors[-1]["position"] if current.errors else ""
            current.errors.append({"position": pos, "element": _s(seg, 2), "code": _s(seg, 1)})
    return out
