"""Shared fixtures for the mapping tests: golden files and a deterministic envelope."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.edi.envelope import InMemoryControlNumbers, envelope
from gateway.edi.writer import write
from gateway.mapping import Mapping

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
GOLDEN = Path(__file__).resolve().parent / "golden"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

# (canonical golden doc, outbound mapping, inbound mapping that reads it back or None)
OUTBOUND = [
    ("purchase_order", "amazon/purchase_order-850", "amazon/850-purchase_order"),
    ("po_acknowledgement", "amazon/po_acknowledgement-855", "amazon/855-po_acknowledgement"),
    ("ship_notice", "amazon/ship_notice-856", "amazon/856-ship_notice"),
    ("invoice", "amazon/invoice-810", "amazon/810-invoice"),
    ("inventory", "amazon/inventory-846", "amazon/846-inventory"),
    ("po_acknowledgement_eu", "amazon/po_acknowledgement-ORDRSP", "amazon/ORDRSP-po_acknowledgement"),
    ("ship_notice_eu", "amazon/ship_notice-DESADV", None),
    ("invoice_eu", "amazon/invoice-INVOIC", "amazon/INVOIC-invoice"),
]

# (EDI input, partner, inbound mapping)
INBOUND = [
    ("amazon-850", "amazon-us", "amazon/850-purchase_order"),
    ("amazon-eu-orders", "amazon-eu", "amazon/ORDERS-purchase_order"),
    ("amazon-820", "amazon-us", "amazon/820-remittance"),
    ("amazon-997", "amazon-us", "amazon/997-functional_ack"),
]


def golden_doc(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def interchange_bytes(m: Mapping, segments: list[list[Any]]) -> bytes:
    """The transaction in a fixed envelope (fixed clock and control numbers), as the partner would get it."""
    cn = InMemoryControlNumbers()
    if m.standard == "x12":
        gver = m.version or "004010"
        ic = envelope([segments], partner="t", sender=("ZZ", "ACMEVENDOR"), receiver=("ZZ", "AMAZON"),
                      control_numbers=cn, version="00" + gver[2:5], group_version=gver, now=NOW)
    else:
        ic = envelope([segments], partner="t", sender=("14", "4012345000009"), receiver=("14", "5450534000024"),
                      control_numbers=cn, standard="edifact", version="UNOC:3", now=NOW)
    return write(ic)
