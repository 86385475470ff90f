"""Golden tests for every mapping of the Amazon pack, both directions where both exist."""

from __future__ import annotations

import json

import pytest

from gateway.edi import parse
from gateway.mapping import load_mapping, map_transaction
from gateway.mapping.schemas import validate
from gateway.rules import validate_parse_result
from gateway.yamlfile import load
from tests.mapping.helpers import GOLDEN, INBOUND, MAPPINGS, OUTBOUND, ROOT, golden_doc, interchange_bytes


def _tz(doc: str) -> str:
    return "Europe/Luxembourg" if doc.endswith("_eu") else "America/New_York"


@pytest.mark.parametrize(("edi", "partner", "mapping"), INBOUND)
def test_inbound_golden(edi: str, partner: str, mapping: str) -> None:
    result = parse((GOLDEN / "in" / f"{edi}.edi").read_bytes())
    assert result.ok and validate_parse_result(result) == []
    ic, group, tx = result.transactions()[0]
    profile = load(ROOT / "partners" / f"{partner}.yaml").data
    doc, findings = map_transaction(ic, group, tx, partner=profile, mappings_dir=MAPPINGS, mapping=mapping,
                                    message_id="<msg-1@amazon>")
    assert findings == []
    assert doc == json.loads((GOLDEN / "in" / f"{edi}.json").read_text(encoding="utf-8"))
    assert doc["source"]["transaction"] == tx.control_number and doc["partner"] == partner


@pytest.mark.parametrize(("doc_name", "out_name", "in_name"), OUTBOUND)
def test_outbound_golden_valid_and_round_trip(doc_name: str, out_name: str, in_name: str | None) -> None:
    doc = golden_doc(doc_name)
    assert validate(doc) == []
    m = load_mapping(out_name, MAPPINGS)
    segments, findings = m.to_edi(doc, partner_tz=_tz(doc_name))
    assert findings == []
    data = interchange_bytes(m, segments)
    assert data == (GOLDEN / "out" / f"{out_name.split('/')[1]}.edi").read_bytes()
    # Our own reader takes it back, and the shipped structure spec finds nothing wrong.
    result = parse(data)
    assert result.ok, [f.line() for f in result.findings]
    assert m.spec is not None, f"no shipped structure spec for {m.standard} {m.version} {m.transaction_type}"
    assert [f.line() for f in validate_parse_result(result)] == []
    if in_name is None:
        return
    back, findings = load_mapping(in_name, MAPPINGS).to_canonical(
        result.transactions()[0][2], partner_id=doc["partner"], partner_tz=_tz(doc_name), source={})
    assert findings == []
    assert back == doc


def test_850_round_trip_from_partner_edi() -> None:
    """Amazon's 850 -> canonical -> 850 -> canonical gives the same document."""
    first = json.loads((GOLDEN / "in" / "amazon-850.json").read_text(encoding="utf-8"))
    first["source"] = {}
    m = load_mapping("amazon/purchase_order-850", MAPPINGS)
    segments, findings = m.to_edi(first, partner_tz="America/New_York")
    assert findings == []
    tx = parse(interchange_bytes(m, segments)).transactions()[0][2]
    again, findings = load_mapping("amazon/850-purchase_order", MAPPINGS).to_canonical(
        tx, partner_id="amazon-us", partner_tz="America/New_York", source={})
    assert findings == [] and again == first


def test_counts_and_totals_are_computed() -> None:
    m = load_mapping("amazon/invoice-810", MAPPINGS)
    segments, _ = m.to_edi(golden_doc("invoice"))
    by_tag = {s[0]: s for s in segments}
    assert by_tag["TDS"] == ["TDS", "16167"]  # 161.67 in cents
    assert by_tag["CTT"] == ["CTT", "2", "11"]  # two IT1 lines, quantities 6 + 5
    assert by_tag["SE"][1] == str(len(segments))
    ship = load_mapping("amazon/ship_notice-856", MAPPINGS).to_edi(golden_doc("ship_notice"))[0]
    hls = [s for s in ship if s[0] == "HL"]
    assert [h[3] for h in hls] == ["S", "O", "T", "P", "I", "P", "I", "O", "P", "I"]
    assert hls[2][1:3] == ["3", "2"] and hls[4][4] == "0" and hls[1][4] == "1"
    assert ["CTT", "10"] in ship
    assert ["MAN", "GM", "000123456789012345"] in ship and ["TD5", "", "2", "UPSN"] in ship
