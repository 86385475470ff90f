from __future__ import annotations

import pytest

from gateway.edi import detect, parse
from gateway.edi.model import Repeats
from tests.edi.samples import ISA_5010, x12


def codes(result):
    return sorted(f.code for f in result.findings)


def test_valid_interchange_reads_envelopes_and_segments():
    r = parse(x12(pos=3))
    assert r.ok and r.findings == []
    (ic,) = r.interchanges
    assert (ic.standard, ic.sender, ic.receiver, ic.control_number, ic.version) == (
        "x12", "AMAZON", "ACMEVENDOR", "000000001", "00401")
    assert ic.delimiters.element == "*" and ic.delimiters.segment == "~" and ic.delimiters.suffix == "\n"
    assert ic.delimiters.repetition is None  # ISA11 = U
    (g,) = ic.groups
    assert (g.functional_id, g.control_number, g.version) == ("PO", "1", "004010")
    assert [t.control_number for t in g.transactions] == ["0001", "0002", "0003"]
    t = g.transactions[0]
    assert t.segments[0] == ["ST", "850", "0001"] and t.segments[-1] == ["SE", "7", "0001"]
    assert t.segments[1] == ["BEG", "00", "SA", "PO1", "", "20260115"]
    assert t.offset == x12(pos=3).index(b"ST*850*0001")


def test_5010_repetition_and_composites():
    data = x12(isa=ISA_5010, gs_version="005010").replace(b"N1*ST*FULFILLMENT CENTER*92*SEA8",
                                                           b"N1*ST*A:B*92*X^Y:Z^")
    r = parse(data)
    assert r.ok, r.findings
    ic = r.interchanges[0]
    assert ic.delimiters.repetition == "^" and ic.delimiters.component == ":"
    n1 = ic.groups[0].transactions[0].segments[2]
    assert n1[2] == ["A", "B"]
    assert isinstance(n1[4], Repeats) and n1[4] == ["X", ["Y", "Z"]]


def test_bom_leading_whitespace_and_unpadded_isa():
    data = b"\xef\xbb\xbf \r\n" + x12().replace(b"*AMAZON         *", b"*AMAZON*")
    r = parse(data)
    assert r.ok
    assert codes(r) == ["isa_not_fixed_width"]
    assert r.interchanges[0].sender == "AMAZON"
    assert detect(data) == "x12"


@pytest.mark.parametrize("term,sep", [("~", ""), ("\n", ""), ("~", "\r\n"), ("\x15", ""), ("\r", "\n")])
def test_terminators(term, sep):
    r = parse(x12(term=term, sep=sep))
    assert r.ok, r.findings
    assert len(r.interchanges[0].groups[0].transactions) == 2


def test_several_interchanges_with_different_delimiters():
    a = x12(ctl=1)
    b = x12(ctl=2, term="\n", sep="").replace(b"*", b"|")
    c = x12(ctl=3)
    r = parse(a + b + c)
    assert r.ok, r.findings
    assert [ic.control_number for ic in r.interchanges] == ["000000001", "000000002", "000000003"]
    assert [ic.delimiters.element for ic in r.interchanges] == ["*", "|", "*"]
    assert all(len(ic.groups[0].transactions) == 2 for ic in r.interchanges)


@pytest.mark.parametrize("old,new,code,where", [
    (b"SE*7*0001", b"SE*9*0001", "se_count_mismatch", (0, 0, 0)),
    (b"SE*7*0001", b"SE*7*0009", "se_control_mismatch", (0, 0, 0)),
    (b"GE*2*1", b"GE*3*1", "ge_count_mismatch", (0, 0, None)),
    (b"GE*2*1", b"GE*2*7", "ge_control_mismatch", (0, 0, None)),
    (b"IEA*1*000000001", b"IEA*2*000000001", "iea_count_mismatch", (0, None, None)),
    (b"IEA*1*000000001", b"IEA*1*000000002", "iea_control_mismatch", (0, None, None)),
    (b"ST*850*0002", b"ST*810*0002", "transaction_type_mismatch", (0, 0, 1)),
    (b"SE*7*0002~\n", b"", "se_missing", (0, 0, 1)),
    (b"GE*2*1~\n", b"", "ge_missing", (0, 0, None)),
    (b"ST*850*0002", b"ST*850*0001", "st_control_duplicate", (0, 0, 1)),
])
def test_envelope_errors_are_named_with_positions(old, new, code, where):
    data = x12().replace(old, new, 1)
    r = parse(data)
    assert not r.ok
    found = [f for f in r.findings if f.code == code]
    assert found, codes(r)
    f = found[0]
    assert (f.interchange, f.group, f.transaction) == where
    assert f.offset is not None and 0 <= f.offset <= len(data)


def test_se_count_finding_points_at_the_se_segment():
    data = x12().replace(b"SE*7*0001", b"SE*9*0001")
    (f,) = parse(data).findings
    assert (f.segment_position, f.segment_id, f.element, f.x12_transaction) == (7, "SE", 1, "4")
    assert data[f.offset:f.offset + 9] == b"SE*9*0001"


def test_missing_iea_and_truncated_file():
    data = x12()
    r = parse(data[: data.index(b"GE*")])
    assert {"ge_missing", "iea_missing"} <= set(codes(r))
    r = parse(data[:-12])
    assert "segment_truncated" in codes(r)
    r = parse(data[: data.index(b"SE*7*0002") + 4])
    assert {"segment_truncated", "se_missing", "ge_missing", "iea_missing"} <= set(codes(r))


def test_element_longer_than_any_directory_allows():
    data = x12().replace(b"BEG*00*SA*PO1", b"BEG*00*SA*" + b"X" * 5000)
    (f,) = parse(data).findings
    assert (f.code, f.segment_id, f.element, f.segment_position) == ("element_too_long", "BEG", 3, 2)


def test_garbage_and_missing_isa():
    assert codes(parse(b"")) == ["no_interchange"]
    assert codes(parse(b"GS*PO*A*B~ST*850*1~")) == ["no_interchange"]
    r = parse(x12() + b"garbage after")
    assert "data_outside_interchange" in codes(r)
    assert len(r.interchanges) == 1


def test_final_segment_without_terminator_is_a_warning():
    r = parse(x12(term="~", sep="").rstrip(b"~"))
    assert r.ok and codes(r) == ["segment_terminator_missing"]


def test_ta1_only_interchange_keeps_its_service_segments():
    data = (ISA_5010.format(ctl=7) + "~TA1*000000123*260115*1200*A*000~IEA*0*000000007~").encode()
    r = parse(data)
    assert r.ok
    assert r.interchanges[0].service_segments == [["TA1", "000000123", "260115", "1200", "A", "000"]]
