"""Every rule of rules/amazon/vendor.yaml passes on consistent documents and fails on a broken one."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.rules.docindex import InMemoryDocumentIndex
from gateway.rules.pack import RulePack, load_rule_pack
from tests.rules.docs import NOW, TZ, acknowledgement, invoice, purchase_order, ship_notice

PACK_PATH = Path(__file__).resolve().parents[2] / "rules" / "amazon" / "vendor.yaml"


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_rule_pack(PACK_PATH)


def world() -> dict[str, Any]:
    po = purchase_order()
    return {"po": po, "ack": acknowledgement(po), "asn": ship_notice(po), "inv": invoice(po)}


def check(pack: RulePack, doc: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in pack.check(doc, InMemoryDocumentIndex(stored), NOW, TZ):
        found.setdefault(f.rule_id or f.code, []).append(f.message)
    return found


def test_consistent_documents_pass_every_rule(pack: RulePack) -> None:
    w = world()
    stored = [w["po"], w["ack"], w["asn"]]
    for key in ("po", "ack", "asn", "inv"):
        assert check(pack, w[key], [d for d in stored if d is not w[key]]) == {}, key


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parts, last = path.split(".")
    cur: Any = doc
    for p in parts:
        cur = cur[int(p)] if p.isdigit() else cur[p]
    if last.isdigit():
        cur[int(last)] = value
    else:
        cur[last] = value


def case(target: str, *changes: tuple[str, Any], stored: Callable[[dict], list] | None = None):  # type: ignore[no-untyped-def]
    def build() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        w = world()
        doc = copy.deepcopy(w[target])
        for path, value in changes:
            _set(doc, path, value)
        docs = stored(w) if stored else [w[k] for k in ("po", "ack", "asn") if k != target]
        return doc, docs

    return build


OLD_PO = {"received_at": "2026-11-25T06:00:00+00:00"}
CASES: dict[str, tuple[Callable[[], tuple[dict, list]], str]] = {
    "po.number.required": (case("po", ("po_number", "")), "no PO number"),
    "po.number.format": (case("po", ("po_number", "PO-1")), "'PO-1'"),
    "po.order_type.known": (case("po", ("order_type", "ZZ")), "'ZZ'"),
    "po.order_date.required": (case("po", ("order_date", None)), "no order date"),
    "po.ship_window.order": (case("po", ("ship_window.not_before", "2026-12-09")), "2026-12-09"),
    "po.lines.present": (case("po", ("lines", [])), "no lines"),
    "po.lines.unique_numbers": (case("po", ("lines.1.line_number", "1")), "repeats line numbers 1"),
    "po.line.quantity_positive": (case("po", ("lines.2.quantity", 0)), "line 3 orders quantity 0"),
    "po.line.unit_price_positive": (case("po", ("lines.0.unit_price", "-1.00")), "unit price -1.00"),
    "po.line.product_id": (case("po", ("lines.0.product_ids", {})), "line 1 has no product identifier"),
    "po.line.gtin_check_digit": (case("po", ("lines.0.product_ids.upc", "012345678900")), "012345678900"),
    "po.acknowledged_in_time": (case("po", ("received_at", "2026-11-26T06:00:00+00:00"), stored=lambda w: []),
                                "unacknowledged lines 1, 2, 3"),
    "ack.po.known": (case("ack", stored=lambda w: []), "never received"),
    "ack.within_deadline": (case("ack", ("received_at", "2026-11-28T07:00:00+00:00")), "later than 24 h"),
    "ack.every_line": (case("ack", ("lines", [])), "lines 1, 2, 3 are not acknowledged"),
    "ack.item.status": (case("ack", ("lines.0.items.0.status", "maybe")), "'maybe'"),
    "ack.line.unit_price_positive": (case("ack", ("lines.1.unit_price", "0")), "cost 0"),
    "ack.line.not_more_than_ordered": (case("ack", ("lines.0.items.0.quantity", 11)), "acknowledges 11, more than the 10"),
    "ack.line.cost_not_above_po": (case("ack", ("lines.0.unit_price", "12.35")), "cost 12.35, above the PO cost 12.34"),
    "ack.line.same_product_id": (case("ack", ("lines.0.product_ids.upc", "036000291452")), "echo exactly"),
    "asn.shipment_id.required": (case("asn", ("shipment_id", "")), "no shipment id"),
    "asn.ship_date.window": (case("asn", ("ship_date", "2026-11-19T09:00:00-05:00")), "ship date 2026-11-19"),
    "asn.scac.required": (case("asn", ("carrier", {})), "no carrier SCAC"),
    "asn.orders.present": (case("asn", ("orders", [])), "must list its orders"),
    "asn.carton.sscc": (case("asn", ("orders.0.cartons.0.sscc", "001234560000000019")), "'001234560000000019'"),
    "asn.pallet.sscc": (case("asn", ("orders.0.pallets", [{"sscc": "12345", "cartons": []}])), "pallet SSCC '12345'"),
    "asn.sscc.unique": (case("asn", ("orders.0.cartons.1.sscc", "001234560000000018")), "001234560000000018 more than once"),
    "asn.carton.quantities": (case("asn", ("orders.0.cartons.0.items.0.quantity", "0")), "quantities above 0"),
    "asn.shipment_id.not_reused": (case("asn", ("doc_id", "asn-2"), stored=lambda w: list(w.values())),
                                   "SHIP0001 was already used"),
    "asn.sscc.not_reused": (case("asn", ("doc_id", "asn-2"), ("shipment_id", "SHIP0002"),
                                 stored=lambda w: list(w.values())), "was already used"),
    "asn.order.acknowledged": (case("asn", stored=lambda w: [w["po"]]), "never acknowledged"),
    "asn.order.not_more_than_acknowledged": (case("asn", ("orders.0.cartons.2.items.0.quantity", 31)),
                                             "lines 3 are shipped beyond"),
    "inv.number.required": (case("inv", ("invoice_number", "")), "no invoice number"),
    "inv.po.required": (case("inv", ("po_number", "")), "names no purchase order"),
    "inv.total.matches_lines": (case("inv", ("total", "749.40")), "total 749.40 differs from lines 740.40"),
    "inv.total.positive": (case("inv", ("total", "0")), "total 0"),
    "inv.line.quantity_positive": (case("inv", ("lines.0.quantity", -1)), "quantity -1"),
    "inv.line.unit_price_positive": (case("inv", ("lines.0.unit_price", "0.00")), "unit cost 0.00"),
    "inv.date.not_future": (case("inv", ("invoice_date", "2026-11-29")), "2026-11-29 is in the future"),
    "inv.date.after_po": (case("inv", ("invoice_date", "2026-11-20")), "before the PO 2K4XQ9TZ date 2026-11-26"),
    "inv.number.not_reused": (case("inv", stored=lambda w: [w["po"], w["ack"], w["asn"], {**w["inv"], "doc_id": "inv-0"}]),
                              "INV-0001 was already used"),
    "inv.line.shipped": (case("inv", ("lines.1.quantity", 21)), "invoices 21 (plus 0 invoiced before) but only 20"),
    "inv.line.acknowledged_cost": (case("inv", ("lines.2.unit_price", "12.30")), "the acknowledged cost is 12.34"),
}


def test_every_rule_has_a_failing_case(pack: RulePack) -> None:
    assert {r.id for r in pack.rules} == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_with_a_message_naming_the_values(pack: RulePack, rule_id: str) -> None:
    build, expected = CASES[rule_id]
    doc, stored = build()
    found = check(pack, doc, stored)
    assert rule_id in found, found
    assert any(expected in m for m in found[rule_id]), found[rule_id]
    assert not any("could not be evaluated" in m for msgs in found.values() for m in msgs), found


def test_severity_and_path_of_a_line_finding(pack: RulePack) -> None:
    doc, stored = CASES["po.line.quantity_positive"][0]()
    f = next(f for f in pack.check(doc, None, NOW, TZ) if f.rule_id == "po.line.quantity_positive")
    assert (f.level, f.severity, f.path) == ("business", "error", "lines[2].quantity")
    w = next(f for f in pack.check(CASES["po.number.format"][0]()[0], None, NOW, TZ) if f.rule_id == "po.number.format")
    assert w.severity == "warning"


def test_cross_document_rules_are_skipped_without_an_index(pack: RulePack) -> None:
    doc, _ = CASES["ack.po.known"][0]()
    assert [f for f in pack.check(doc, None, NOW, TZ)] == []


def test_invoice_total_is_exact_to_the_cent(pack: RulePack) -> None:
    w = world()
    inv = w["inv"]
    inv["lines"] = [{"line_number": str(i), "quantity": "3", "unit_price": "0.10", "product_ids": {"asin": "B1"}}
                    for i in range(1, 4)]  # 0.30 x 3: a float sum is 0.8999999999999999
    inv["charges"], inv["allowances"], inv["total"] = [], [], "0.90"
    assert "inv.total.matches_lines" not in check(pack, inv, [])
    inv["total"] = "0.89"
    assert "inv.total.matches_lines" in check(pack, inv, [])


def test_bad_values_become_findings_not_exceptions(pack: RulePack) -> None:
    w = world()
    inv = w["inv"]
    inv["total"] = "twelve"
    inv["lines"][0]["quantity"] = 1.5  # floats are refused: money and quantities are decimal strings
    findings = pack.check(inv, InMemoryDocumentIndex([w["po"], w["ack"], w["asn"]]), NOW, TZ)
    paths = {f.path for f in findings if f.code == "invalid_value"}
    assert {"total", "lines[0].quantity"} <= paths
    assert any(f.rule_id == "inv.total.matches_lines" and "could not be evaluated" in f.message for f in findings)
