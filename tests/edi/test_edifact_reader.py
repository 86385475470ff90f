from __future__ import annotations

import pytest

from gateway.edi import detect, parse
from tests.edi.samples import edifact


def codes(result):
    return sorted(f.code for f in result.findings)


@pytest.mark.parametrize("una", [True, False])
def test_orders_with_and_without_una(una):
    data = edifact(una=una)
    assert detect(data) == "edifact"
    r = parse(data)
    assert r.ok, r.findings
    (ic,) = r.interchanges
    assert (ic.sender, ic.sender_qualifier, ic.receiver, ic.control_number, ic.version) == (
        "5412345000013", "14", "4012345000009", "42", "UNOA:3")
    assert (ic.una is not None) == una
    (g,) = ic.groups
    assert g.header is None  # implicit group: no UNG
    t = g.transactions[1]
    assert (t.type, t.control_number, t.version) == ("ORDERS", "2", "D:96A:UN:EAN008")
    assert t.segments[0] == ["UNH", "2", ["ORDERS", "D", "96A", "UN", "EAN008"]]
    assert t.segments[2] == ["DTM", ["137", "20260115", "102"]]


def test_release_character_is_removed():
    r = parse(edifact())
    ftx = r.interchanges[0].groups[0].transactions[0].segments[3]
    assert ftx == ["FTX", "DEL", "", "", "Deliver to dock 4: ring's bell?"]


def test_custom_una_delimiters():
    data = edifact().replace(b"UNA:+.? '", b"UNA|^,\\ #").replace(b"'", b"#").replace(b"+", b"^")
    data = data.replace(b":", b"|").replace(b"?", b"\\")
    r = parse(data)
    assert r.ok, r.findings
    d = r.interchanges[0].delimiters
    assert (d.component, d.element, d.decimal, d.release, d.segment) == ("|", "^", ",", "\\", "#")
    assert r.interchanges[0].groups[0].transactions[0].segments[3][4] == "Deliver to dock 4| ring#s bell\\"


def test_charsets_decode_to_str():
    r = parse(edifact(syntax="UNOC:3", text="Grüße aus Köln"))
    assert r.ok and r.encoding == "latin-1"
    assert r.interchanges[0].groups[0].transactions[0].segments[3][4] == "Grüße aus Köln"
    r = parse(edifact(syntax="UNOY:4", text="配送 ✓"))
    assert r.ok and r.encoding == "utf-8"
    ic = r.interchanges[0]
    assert ic.delimiters.repetition == "*" or ic.una is not None
    assert ic.groups[0].transactions[0].segments[3][4] == "配送 ✓"


def test_ung_groups_and_counts():
    data = edifact(una=False, messages=2).replace(
        b"UNH+1", b"UNG+ORDERS+SENDER+RECEIVER+260115:1200+7+UN+D:96A'\nUNH+1", 1).replace(
        b"UNZ+2+42", b"UNE+2+7'\nUNZ+1+42")
    r = parse(data)
    assert r.ok, r.findings
    (g,) = r.interchanges[0].groups
    assert (g.functional_id, g.control_number, g.version, len(g.transactions)) == ("ORDERS", "7", "D:96A", 2)


@pytest.mark.parametrize("old,new,code", [
    (b"UNT+7+1", b"UNT+8+1", "unt_count_mismatch"),
    (b"UNT+7+1", b"UNT+7+9", "unt_control_mismatch"),
    (b"UNZ+2+42", b"UNZ+3+42", "unz_count_mismatch"),
    (b"UNZ+2+42", b"UNZ+2+43", "unz_control_mismatch"),
    (b"UNT+7+2'\n", b"", "unt_missing"),
    (b"UNZ+2+42'\n", b"", "unz_missing"),
    (b"UNH+2+", b"UNH+1+", "unh_control_duplicate"),
])
def test_envelope_errors(old, new, code):
    r = parse(edifact().replace(old, new, 1))
    assert code in codes(r)
    assert not r.ok
    f = next(f for f in r.findings if f.code == code)
    assert f.interchange == 0 and f.edifact


def test_two_interchanges_in_one_file():
    r = parse(edifact(ctl="1") + edifact(una=False, ctl="2"))
    assert r.ok, r.findings
    assert [ic.control_number for ic in r.interchanges] == ["1", "2"]


def test_truncated_and_garbage():
    data = edifact()
    assert {"unt_missing", "unz_missing"} <= set(codes(parse(data[:-20])))
    assert "segment_truncated" in codes(parse(data[: data.rindex(b"QTY+21") + 5]))
    assert codes(parse(b"UNA:+.? '")) == ["no_interchange"] or not parse(b"UNA:+.? '").ok
    assert not parse(b"UNB+UNOA:3+X+Y+1+2").ok
