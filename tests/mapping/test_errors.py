"""Bad mappings are refused at load with file, line and name; missing data becomes findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.edi import parse
from gateway.mapping import MappingError, load_mapping
from gateway.mapping.schemas import validate
from tests.mapping.helpers import GOLDEN, MAPPINGS, golden_doc

HEAD_850 = 'direction: inbound\ndocument: purchase_order\nstandard: x12\nversion: "004010"\ntransaction: "850"\n'
HEAD_810 = 'direction: outbound\ndocument: invoice\nstandard: x12\nversion: "004010"\ntransaction: "810"\n'


def _load(tmp_path: Path, text: str) -> MappingError:
    (tmp_path / "t").mkdir(exist_ok=True)
    (tmp_path / "t" / "m.yaml").write_text(text)
    with pytest.raises(MappingError) as info:
        load_mapping("t/m", tmp_path)
    return info.value


@pytest.mark.parametrize(("body", "line", "words"), [
    ("fields:\n  po_number: BXG03\n", 7, ["BXG", "not a segment"]),
    ("fields:\n  po_number: BEG03\n  order_date: BEG99\n", 8, ["BEG99", "elements"]),
    ("fields:\n  lines:\n    each: PO1\n    fields:\n      uom: {from: PO103, codes: units}\n", 10, ["units"]),
    ("fields:\n  po_number: BEG03 | rot13\n", 7, ["rot13"]),
    ("fields:\n  po_number: BEG03\nfeilds: {}\n", 8, ["feilds"]),
    ("codes:\n  purpose: {00: original}\nfields:\n  po_number: BEG03\n", 7, ["quoted"]),
    ("fields:\n  ship_to: {in: 'N1[01=ST', fields: {id: N104}}\n", 7, ["N1[01=ST"]),
])
def test_inbound_mistakes_name_file_line_and_name(tmp_path: Path, body: str, line: int, words: list[str]) -> None:
    err = _load(tmp_path, HEAD_850 + body)
    text = str(err)
    assert "m.yaml" in text
    assert any(p.line == line for p in err.problems), text
    for w in words:
        assert w in text


@pytest.mark.parametrize(("body", "words"), [
    ("segments:\n  - BIG: [$invoice_date|date, $invoice_numbr]\n", ["invoice_numbr"]),
    ("segments:\n  - ZZZ: [a]\n", ["ZZZ"]),
    ("segments:\n  - each: linez\n    segments: [{IT1: [$line_number]}]\n", ["linez"]),
    ("segments:\n  - BIG: [$invoice_date|frobnicate]\n", ["frobnicate"]),
])
def test_outbound_mistakes_are_refused(tmp_path: Path, body: str, words: list[str]) -> None:
    err = _load(tmp_path, HEAD_810 + body)
    assert all(p.line and p.line >= 6 for p in err.problems)
    for w in words:
        assert w in str(err)


def test_missing_data_gives_findings_with_paths_not_exceptions() -> None:
    doc = golden_doc("invoice")
    del doc["invoice_number"]
    del doc["lines"][1]["unit_price"]
    _, findings = load_mapping("amazon/invoice-810", MAPPINGS).to_edi(doc)
    assert {f.path for f in findings} == {"invoice_number", "lines.unit_price"}
    assert all(f.code == "mapping_missing" and f.severity == "error" for f in findings)
    text = (GOLDEN / "in" / "amazon-850.edi").read_bytes().replace(b"BEG*00*NE*2Q5JZ8XK**20261127~", b"")
    tx = parse(text).transactions()[0][2]
    doc, findings = load_mapping("amazon/850-purchase_order", MAPPINGS).to_canonical(tx, partner_id="p")
    assert [(f.code, f.path) for f in findings] == [("mapping_missing", "po_number")]
    assert validate(doc)[0].code == "schema_violation"


def test_bad_values_in_input_are_findings() -> None:
    text = (GOLDEN / "in" / "amazon-850.edi").read_bytes().replace(b"DTM*064*20261201", b"DTM*064*20261341")
    text = text.replace(b"PO1*1*2*EA", b"PO1*1*2X*EA")
    tx = parse(text).transactions()[0][2]
    _, findings = load_mapping("amazon/850-purchase_order", MAPPINGS).to_canonical(tx, partner_id="p")
    assert sorted((f.code, f.path) for f in findings) == [
        ("mapping_bad_date", "ship_window.not_before"), ("mapping_bad_number", "lines[0].quantity")]


def test_schema_rejects_floats_and_unknown_kinds() -> None:
    doc = golden_doc("invoice")
    doc["total"] = 161.67
    (f,) = validate(doc)
    assert f.path == "total"
    assert validate({"document": "memo"})[0].code == "schema_unknown_document"


def test_a_repeat_inside_a_component_does_not_break_a_qualifier_condition() -> None:
    """Malformed EDIFACT can nest a repeat inside a component; a selector condition or a component
    read then sees the repeat's first value instead of raising."""
    from gateway.mapping.edipath import ElementRef, element_value

    seg = ["LIN", "2", "", ["40063813339", ["8", "EN"]]]
    assert element_value(seg, ElementRef(3, 2), None) == "8"
    assert element_value(seg, ElementRef(3, 1), None) == "40063813339"
    assert element_value(seg, ElementRef(3, 3), None) is None
