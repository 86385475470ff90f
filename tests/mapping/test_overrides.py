"""A partner overrides one field of a shipped mapping without copying the file."""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.edi import parse
from gateway.mapping import load_mapping, load_partner_mapping
from tests.mapping.helpers import GOLDEN, MAPPINGS, golden_doc


def _tx():  # type: ignore[no-untyped-def]
    return parse((GOLDEN / "in" / "amazon-850.edi").read_bytes()).transactions()[0][2]


def test_partner_override_file_changes_one_field(tmp_path: Path) -> None:
    shutil.copytree(MAPPINGS, tmp_path / "mappings")
    over = tmp_path / "mappings" / "partners" / "amazon-ca" / "amazon"
    over.mkdir(parents=True)
    (over / "850-purchase_order.yaml").write_text(
        "fields:\n  currency: {const: CAD}\n  ship_to:\n    fields: {id: N104 | lower}\n")
    shipped, _ = load_mapping("amazon/850-purchase_order", tmp_path / "mappings").to_canonical(_tx(), partner_id="x")
    mine, findings = load_partner_mapping("amazon/850-purchase_order", tmp_path / "mappings", "amazon-ca") \
        .to_canonical(_tx(), partner_id="x")
    assert findings == []
    assert shipped["currency"] == "USD" and mine["currency"] == "CAD"
    assert mine["ship_to"] == {"id": "abe2", "qualifier": "92"}  # only ship_to.id changed
    assert {k: v for k, v in mine.items() if k not in ("currency", "ship_to")} == \
        {k: v for k, v in shipped.items() if k not in ("currency", "ship_to")}
    # A partner without an override file gets the shipped mapping.
    assert load_partner_mapping("amazon/850-purchase_order", tmp_path / "mappings", "amazon-us").to_canonical(
        _tx(), partner_id="x")[0] == shipped


def test_override_dict_replaces_an_outbound_segment_by_id(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "inv.yaml").write_text(
        'direction: outbound\ndocument: invoice\nstandard: x12\nversion: "004010"\ntransaction: "810"\n'
        "segments:\n  - BIG: [$invoice_date|date, $invoice_number]\n  - {id: currency, CUR: [SE, $currency]}\n"
        "  - each: lines\n    segments:\n      - IT1: [$line_number, $quantity, $uom, $unit_price]\n"
        "  - TDS: [$total|implied:2]\n")
    base, _ = load_mapping("t/inv", tmp_path).to_edi(golden_doc("invoice"))
    over, _ = load_mapping("t/inv", tmp_path, {"segments": {"currency": {"CUR": ["BY", "$currency"]}}}) \
        .to_edi(golden_doc("invoice"))
    assert ["CUR", "SE", "USD"] in base and ["CUR", "BY", "USD"] in over
    assert len(base) == len(over)
