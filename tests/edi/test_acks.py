from __future__ import annotations

from datetime import UTC, datetime

from gateway.edi import InMemoryControlNumbers, parse, write
from gateway.edi.acks import build_997, build_999, build_contrl, build_ta1, read_ack
from gateway.edi.findings import Finding
from tests.edi.samples import ISA_5010, edifact, x12

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def ack_segments(ic):
    return parse(write(ic)).interchanges[0].transactions()[0].segments


def test_997_accepts_a_valid_group():
    r = parse(x12(pos=2))
    ack = build_997(r, control_numbers=InMemoryControlNumbers(), partner="amazon", now=NOW)
    segs = ack_segments(ack)
    assert segs[1:-1] == [["AK1", "PO", "1"], ["AK2", "850", "0001"], ["AK5", "A"], ["AK2", "850", "0002"],
                          ["AK5", "A"], ["AK9", "A", "2", "2", "2"]]
    assert ack.sender == "ACMEVENDOR" and ack.receiver == "AMAZON" and ack.groups[0].functional_id == "FA"


def test_997_rejects_a_bad_transaction_and_places_structure_findings():
    r = parse(x12(pos=2).replace(b"SE*7*0002", b"SE*8*0002"))
    extra = [Finding("mandatory_missing", "N104 missing", level="element", interchange=0, group=0, transaction=0,
                     segment_position=3, segment_id="N1", element=4, x12_element="1", x12_segment="8",
                     loop_id="N1")]
    ack = build_997(r, control_numbers=InMemoryControlNumbers(), partner="amazon", extra=extra, now=NOW)
    segs = ack_segments(ack)
    assert ["AK3", "N1", "3", "N1", "8"] in segs
    assert ["AK4", "4", "", "1"] in segs
    assert segs[segs.index(["AK2", "850", "0002"]) + 1] == ["AK5", "R", "4"]
    assert segs[-2] == ["AK9", "R", "2", "2", "0"]
    statuses = read_ack(parse(write(ack)).interchanges[0])
    by_ctl = {(s.level, s.transaction_control): s for s in statuses}
    assert by_ctl[("transaction", "0001")].status == "rejected"
    assert by_ctl[("transaction", "0002")].codes == ["4"]
    assert by_ctl[("group", "")].group_control == "1"
    assert any(e.get("element") == "4" and e["code"] == "1" for e in by_ctl[("transaction", "0001")].errors)


def test_997_partial_acceptance():
    r = parse(x12(pos=3).replace(b"SE*7*0002", b"SE*7*0003"))
    segs = ack_segments(build_997(r, control_numbers=InMemoryControlNumbers(), partner="p", now=NOW))
    assert segs[-2] == ["AK9", "P", "3", "3", "2"]


def test_999_uses_ik_segments_and_group_version():
    r = parse(x12(isa=ISA_5010, gs_version="005010X222A1"))
    extra = [Finding("too_long", "PO102 too long", interchange=0, group=0, transaction=1, segment_position=4,
                     segment_id="PO1", element=2, x12_element="5", value="123456789*")]
    ack = build_999(r, control_numbers=InMemoryControlNumbers(), partner="p", extra=extra, now=NOW)
    segs = ack_segments(ack)
    assert segs[0][:2] == ["ST", "999"] and segs[1] == ["AK1", "PO", "1", "005010X222A1"]
    assert ["IK3", "PO1", "4", "", "8"] in segs and ["IK4", "2", "", "5", "123456789"] in segs
    assert ["IK5", "R", "5"] in segs
    assert ack.version == "00501"


def test_ta1_accept_and_reject():
    cn = InMemoryControlNumbers()
    ok = build_ta1(parse(x12()), control_numbers=cn, partner="p", now=NOW)
    assert ok.service_segments == [["TA1", "000000001", "260115", "1200", "A", "000"]]
    bad = build_ta1(parse(x12().replace(b"IEA*1*000000001", b"IEA*1*000000009")), control_numbers=cn,
                    partner="p", now=NOW)
    assert bad.service_segments[0][4:] == ["R", "001"]
    (status,) = read_ack(parse(write(bad)).interchanges[0])
    assert (status.kind, status.status, status.interchange_control, status.codes) == (
        "TA1", "rejected", "000000001", ["001"])


def test_contrl_accept_and_reject_with_ucs_ucd():
    cn = InMemoryControlNumbers()
    good = build_contrl(parse(edifact()), control_numbers=cn, partner="p", now=NOW)
    segs = ack_segments(good)
    assert segs[0] == ["UNH", "1", ["CONTRL", "D", "3", "UN"]]
    assert segs[1] == ["UCI", "42", ["5412345000013", "14"], ["4012345000009", "14"], "7"]
    assert segs[2][0] == "UCM" and segs[2][3] == "7"
    r = parse(edifact().replace(b"UNT+7+2", b"UNT+6+2"))
    extra = [Finding("code_invalid", "bad qualifier", interchange=0, group=0, transaction=0, segment_position=3,
                     segment_id="DTM", element=1, component=1, edifact="12", level="element")]
    bad = build_contrl(r, control_numbers=cn, partner="p", extra=extra, now=NOW)
    segs = ack_segments(bad)
    assert ["UCM", "1", ["ORDERS", "D", "96A", "UN", "EAN008"], "4"] in segs
    assert ["UCS", "3"] in segs and ["UCD", "12", ["1", "1"]] in segs
    assert ["UCM", "2", ["ORDERS", "D", "96A", "UN", "EAN008"], "4", "29"] in segs
    statuses = read_ack(parse(write(bad)).interchanges[0])
    assert [(s.level, s.transaction_control, s.status) for s in statuses] == [
        ("interchange", "", "accepted"), ("transaction", "1", "rejected"), ("transaction", "2", "rejected")]
    assert statuses[2].codes == ["29"]
    assert statuses[1].errors == [{"position": "3", "code": ""}, {"position": "3", "element": "1:1", "code": "12"}]


def test_read_inbound_997_from_partner():
    data = (ISA_5010.format(ctl=5) +
            "~GS*FA*AMAZON*ACMEVENDOR*20260115*1200*5*X*004010~ST*997*0001~AK1*PR*17~AK2*855*0031~AK5*A~"
            "AK2*855*0032~AK3*BAK*2**8~AK4*3**7*XX~AK5*R*5~AK9*P*2*2*1~SE*10*0001~GE*1*5~IEA*1*000000005~")
    r = parse(data.encode())
    assert r.ok, r.findings
    st = read_ack(r.interchanges[0])
    assert [(s.level, s.transaction_control, s.status) for s in st] == [
        ("transaction", "0031", "accepted"), ("transaction", "0032", "rejected"), ("group", "", "partially_accepted")]
    assert all(s.group_control == "17" and s.functional_id == "PR" for s in st)
    assert st[1].errors == [{"segment": "BAK", "position": "2", "code": "8"},
                            {"segment": "BAK", "position": "2", "element": "3", "code": "7", "value": "XX"}]
