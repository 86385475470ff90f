"""A purchase order's lifecycle: received -> acknowledged -> shipped -> invoiced -> paid (or rejected).

The documents that answer a PO move it along: our acknowledgement (855/ORDRSP), our ship notice
(856/DESADV), our invoice (810/INVOIC) and the partner's remittance (820). A PO never moves backwards.
"""

from __future__ import annotations

from typing import Any

ORDER = ("received", "acknowledged", "shipped", "invoiced", "paid")
ADVANCES = {"po_acknowledgement": "acknowledged", "ship_notice": "shipped", "invoice": "invoiced",
            "remittance": "paid"}


def po_numbers(doc: dict[str, Any]) -> set[str]:
    found = {str(doc["po_number"])} if doc.get("po_number") else set()
    for order in doc.get("orders") or []:
        if order.get("po_number"):
            found.add(str(order["po_number"]))
    for payment in doc.get("payments") or doc.get("lines") or []:
        if isinstance(payment, dict) and payment.get("po_number"):
            found.add(str(payment["po_number"]))
    return found


def advance(store: Any, doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Move the POs ``doc`` answers to the state it implies; return (po doc_id, new state) pairs."""
    target = ADVANCES.get(str(doc.get("document")))
    if target is None:
        return []
    if doc.get("document") == "po_acknowledgement" and str(doc.get("status", "")).lower() in ("rejected", "reject"):
        target = "rejected"
    moved = []
    for po in sorted(po_numbers(doc)):
        for row in store.index.documents_for_po(doc["partner"], po, "purchase_order"):
            current = store.index.document(row["doc_id"])["state"]
            if current == "rejected" or (target != "rejected" and ORDER.index(target) <= ORDER.index(current)):
                continue
            store.set_document_state(row["doc_id"], target)
            moved.append((row["doc_id"], target))
    return moved
