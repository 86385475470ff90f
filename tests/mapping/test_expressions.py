"""Mapping expressions use the rule engine's safe, exact language, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.edi import parse
from gateway.mapping import MappingError, load_mapping
from tests.mapping.helpers import GOLDEN, golden_doc

OUT = 'direction: outbound\ndocument: invoice\nstandard: x12\nversion: "004010"\ntransaction: "810"\n'
IN = 'direction: inbound\ndocument: purchase_order\nstandard: x12\nversion: "004010"\ntransaction: "850"\n'


def _write(tmp_path: Path, text: str) -> None:
    (tmp_path / "x").mkdir(exist_ok=True)
    (tmp_path / "x" / "m.yaml").write_text(text)


def test_outbound_expressions_are_exact(tmp_path: Path) -> None:
    _write(tmp_path, OUT + "segments:\n  - BIG: [$invoice_date|date, $invoice_number]\n"
           "  - each: lines\n    segments:\n      - IT1: [$line_number, '=D(item.quantity) * D(item.unit_price)']\n"
           "  - TDS: ['=sum(l.quantity * l.unit_price for l in lines) * 100']\n")
    segs, findings = load_mapping("x/m", tmp_path).to_edi(golden_doc("invoice"))
    assert findings == []
    assert ["IT1", "1", "119.94"] in segs and ["IT1", "2", "22.5"] in segs
    assert ["TDS", "14244"] in segs  # (119.94 + 22.50) * 100, exactly


def test_inbound_derived_fields(tmp_path: Path) -> None:
    _write(tmp_path, IN + "fields:\n  po_number: BEG03\n  lines:\n    each: PO1\n    fields:\n"
           "      line_number: PO101\n      quantity: PO102 | num\n      unit_price: PO104 | num\n"
           "derived:\n  total_quantity: sum(l.quantity for l in lines)\n"
           "  order_value: sum(l.quantity * l.unit_price for l in lines)\n")
    tx = parse((GOLDEN / "in" / "amazon-850.edi").read_bytes()).transactions()[0][2]
    doc, findings = load_mapping("x/m", tmp_path).to_canonical(tx, partner_id="p")
    assert findings == []
    assert doc["total_quantity"] == "12" and doc["order_value"] == "39.88"


@pytest.mark.parametrize("expr", ["sum(l.qty for l in lines)", "open('/etc/passwd')", "__import__('os')",
                                  "lines.clear()"])
def test_bad_expressions_are_refused_at_load(tmp_path: Path, expr: str) -> None:
    _write(tmp_path, IN + f'fields:\n  po_number: BEG03\nderived:\n  x: "{expr}"\n')
    with pytest.raises(MappingError) as info:
        load_mapping("x/m", tmp_path)
    assert info.value.problems[0].line == 9 and "derived.x" in str(info.value)
