"""Hand-written canonical documents (the shapes the mapping layer produces) for rule tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
TZ = "America/New_York"
PARTNER = "amazon-us"


def purchase_order(lines: int = 3, **over: Any) -> dict[str, Any]:
    doc = {
        "document": "purchase_order", "partner": PARTNER, "doc_id": "po-1", "received_at": "2026-11-27T06:00:00+00:00",
        "source": {"interchange": "000000001", "transaction": "0001"},
        "po_number": "2K4XQ9TZ", "purpose": "00", "order_type": "NE", "order_date": "2026-11-26", "currency": "USD",
        "backorder_allowed": False, "ship_window": {"not_before": "2026-11-28", "not_after": "2026-12-03"},
        "ship_to": {"id": "ABE2", "qualifier": "92", "name": "Amazon ABE2"},
        "lines": [
            {"line_number": str(i), "quantity": 10 * i, "uom": "EA", "unit_price": "12.34",
             "product_ids": {"upc": "012345678905", "asin": f"B00000000{i}"}}
            for i in range(1, lines + 1)
        ],
    }
    doc.update(over)
    return doc


def acknowledgement(po: dict[str, Any], **over: Any) -> dict[str, Any]:
    doc = {
        "document": "po_acknowledgement", "partner": PARTNER, "doc_id": "ack-1", "received_at": "2026-11-27T10:00:00+00:00",
        "po_number": po["po_number"], "status": "AC", "ack_date": "2026-11-27",
        "lines": [
            {"line_number": ln["line_number"], "product_ids": copy.deepcopy(ln["product_ids"]),
             "unit_price": ln["unit_price"],
             "items": [{"status": "accepted", "quantity": ln["quantity"], "ship_date": "2026-11-29"}]}
            for ln in po["lines"]
        ],
    }
    doc.update(over)
    return doc


SSCCS = ["001234560000000018", "001234560000000025", "001234560000000032", "001234560000000049"]


def ship_notice(po: dict[str, Any], **over: Any) -> dict[str, Any]:
    cartons = [
        {"sscc": SSCCS[i], "items": [{"line_number": ln["line_number"], "product_ids": ln["product_ids"],
                                     "quantity": ln["quantity"]}]}
        for i, ln in enumerate(po["lines"])
    ]
    doc = {
        "document": "ship_notice", "partner": PARTNER, "doc_id": "asn-1", "received_at": "2026-11-27T14:00:00+00:00",
        "shipment_id": "SHIP0001", "ship_date": "2026-11-27T09:00:00-05:00", "carrier": {"scac": "UPSN"},
        "bill_of_lading": "VEND0000123", "pro_number": "PRO123",
        "ship_from": {"id": "VEND1"}, "ship_to": {"id": "ABE2", "qualifier": "92"},
        "orders": [{"po_number": po["po_number"], "pallets": [], "cartons": cartons}],
    }
    doc.update(over)
    return doc


def invoice(po: dict[str, Any], **over: Any) -> dict[str, Any]:
    doc = {
        "document": "invoice", "partner": PARTNER, "doc_id": "inv-1", "received_at": "2026-11-27T14:30:00+00:00",
        "invoice_number": "INV-0001", "invoice_date": "2026-11-27", "po_number": po["po_number"], "currency": "USD",
        "lines": [{"line_number": ln["line_number"], "product_ids": ln["product_ids"], "quantity": ln["quantity"],
                   "uom": "EA", "unit_price": ln["unit_price"]} for ln in po["lines"]],
        "charges": [{"code": "Freight", "amount": "10.00"}],
        "allowances": [{"code": "Discount", "amount": "1.01"}],
        "taxes": [],
        "total": "749.39",
    }
    doc.update(over)
    return doc
