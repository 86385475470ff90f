from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.edi import InMemoryControlNumbers, envelope, parse, same_tree, write
from gateway.edi.model import Delimiters
from tests.edi.samples import ISA_5010, edifact, x12

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("data", [
    x12(), x12(term="\n", sep=""), x12(isa=ISA_5010, gs_version="005010"), x12(term="~", sep="\r\n"),
    edifact(), edifact(una=False), edifact(syntax="UNOC:3", text="Grüße ?+ ?: ??"),
    edifact(syntax="UNOY:4", text="配送"),
], ids=lambda d: d[:3].decode() + str(len(d)))
def test_parse_write_parse_gives_the_same_tree(data):
    r = parse(data)
    assert r.ok
    for ic in r.interchanges:
        out = write(ic)
        again = parse(out)
        assert again.ok, again.findings
        assert same_tree(again.interchanges[0], ic)
    assert write(r.interchanges[0]) == data  # these fixtures are written canonically


def test_write_with_other_delimiters():
    ic = parse(x12()).interchanges[0]
    d = Delimiters(element="|", component="^", segment="\n", repetition=None)
    out = write(ic, d)
    assert out.startswith(b"ISA|00|") and b"~" not in out
    again = parse(out).interchanges[0]
    assert again.delimiters.element == "|"
    assert [t.segments[1:] for t in again.transactions()] == [t.segments[1:] for t in ic.transactions()]


def test_x12_value_holding_a_delimiter_is_refused():
    ic = parse(x12()).interchanges[0]
    ic.groups[0].transactions[0].segments[1][3] = "PO*1"
    with pytest.raises(ValueError, match="delimiter"):
        write(ic)


def test_edifact_values_are_escaped():
    ic = parse(edifact()).interchanges[0]
    ic.groups[0].transactions[0].segments[3][4] = "a+b:c'd?e"
    out = write(ic)
    assert b"a?+b?:c?'d??e" in out
    assert parse(out).interchanges[0].groups[0].transactions[0].segments[3][4] == "a+b:c'd?e"


def test_envelope_x12_allocates_control_numbers_and_counts():
    cn = InMemoryControlNumbers()
    body = [["BEG", "00", "SA", "PO1", "", "20260115"], ["PO1", "1", "2", "EA"], ["CTT", "1"]]
    ic = envelope([body, body], partner="amazon", sender=("ZZ", "ACMEVENDOR"), receiver=("ZZ", "AMAZON"),
                  control_numbers=cn, transaction_type="855", now=NOW)
    out = write(ic)
    r = parse(out)
    assert r.ok, r.findings
    ic2 = r.interchanges[0]
    assert len(out.split(b"~")[0]) == 105  # fixed-width ISA
    assert (ic2.control_number, ic2.groups[0].functional_id, ic2.groups[0].version) == ("000000001", "PR", "004010")
    assert [t.control_number for t in ic2.transactions()] == ["0001", "0002"]
    assert ic2.transactions()[0].segments[-1] == ["SE", "5", "0001"]
    second = envelope([body], partner="amazon", sender=("ZZ", "ACMEVENDOR"), receiver=("ZZ", "AMAZON"),
                      control_numbers=cn, transaction_type="855", now=NOW)
    assert second.control_number == "000000002" and second.transactions()[0].control_number == "0003"


def test_envelope_keeps_a_given_st_header_and_renumbers_it():
    cn = InMemoryControlNumbers(start=500)
    segs = [["ST", "856", "9999"], ["BSN", "00", "SHIP1", "20260115", "1200"], ["SE", "99", "9999"]]
    ic = envelope([segs], partner="p", sender=("ZZ", "A"), receiver=("ZZ", "B"), control_numbers=cn,
                  version="00501", now=NOW)
    t = parse(write(ic)).interchanges[0].transactions()[0]
    assert t.segments[0] == ["ST", "856", "0500"] and t.segments[-1] == ["SE", "3", "0500"]
    assert ic.delimiters.repetition == "^" and ic.header[11] == "^"


def test_envelope_edifact():
    cn = InMemoryControlNumbers()
    body = [["BGM", "231", "PO1", "29"], ["DTM", ["137", "20260115", "102"]]]
    ic = envelope([body], partner="amazon-eu", standard="edifact", sender=("14", "4012345000009"),
                  receiver=("14", "5412345000013"), control_numbers=cn, transaction_type="ORDRSP:D:96A:UN:EAN005",
                  now=NOW)
    r = parse(write(ic))
    assert r.ok, r.findings
    t = r.interchanges[0].transactions()[0]
    assert t.segments[0] == ["UNH", "1", ["ORDRSP", "D", "96A", "UN", "EAN005"]]
    assert t.segments[-1] == ["UNT", "4", "1"]
