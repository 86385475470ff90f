"""Reshape: canonical JSON -> a destination's JSON or XML; XML input never resolves entities."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.mapping import load_mapping
from gateway.mapping.xmlio import parse_xml, xml_to_dict
from tests.mapping.helpers import MAPPINGS, golden_doc


def test_reshape_to_storefront_json() -> None:
    out, findings = load_mapping("examples/purchase_order-storefront", MAPPINGS).reshape(golden_doc("purchase_order"))
    assert findings == []
    assert out["external_id"] == "2Q5JZ8XK" and out["channel"] == "amazon_vendor"
    assert out["deliver_between"] == {"start": "2026-12-01", "end": "2026-12-08"}
    assert out["line_items"][0] == {"upc": "012345678905", "asin": "B07XJ8C8F5", "qty": 10, "price": "19.99"}
    assert out["line_items"][1] == {"qty": 5, "price": "4.50"}


def test_reshape_to_xml_with_namespace_and_attributes() -> None:
    out, findings = load_mapping("examples/purchase_order-erp_xml", MAPPINGS).reshape(golden_doc("purchase_order"))
    assert findings == []
    root = parse_xml(out)
    assert root.tag == "{urn:example:erp:order:1}Order" and root.get("number") == "2Q5JZ8XK"
    lines = root.findall("{urn:example:erp:order:1}Line")
    assert [ln.get("no") for ln in lines] == ["1", "2"]
    assert xml_to_dict(root)["Line"][0]["Qty"] == {"@uom": "EA", "#text": "10"}


def test_xml_input_refuses_entities_and_doctypes() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<r>&b;</r>")
    with pytest.raises((ValueError, etree.XMLSyntaxError)):
        parse_xml(bomb)
    external = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises((ValueError, etree.XMLSyntaxError)):
        parse_xml(external)
    assert xml_to_dict(parse_xml(b"<r a='1'><x>2</x><x>3</x></r>")) == {"@a": "1", "x": ["2", "3"]}


def test_reshape_path_checked_against_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.mapping import MappingError

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "m.yaml").write_text("direction: reshape\ndocument: purchase_order\nfields:\n  id: po_numbr\n")
    with pytest.raises(MappingError, match="po_numbr"):
        load_mapping("r/m", tmp_path)
