"""Which canonical document kind a transaction set becomes, and which sets a kind is written as."""

from __future__ import annotations

_KINDS: dict[str, str] = {
    # X12
    "850": "purchase_order", "855": "po_acknowledgement", "860": "po_change", "865": "po_acknowledgement",
    "856": "ship_notice", "810": "invoice", "846": "inventory", "820": "remittance", "180": "return_authorization",
    "997": "functional_ack", "999": "functional_ack",
    # EDIFACT
    "ORDERS": "purchase_order", "ORDRSP": "po_acknowledgement", "ORDCHG": "po_change", "DESADV": "ship_notice",
    "INVOIC": "invoice", "INVRPT": "inventory", "REMADV": "remittance", "RETANN": "return_authorization",
    "CONTRL": "functional_ack",
}

_SETS: dict[tuple[str, str], str] = {
    ("x12", "purchase_order"): "850", ("x12", "po_acknowledgement"): "855", ("x12", "po_change"): "860",
    ("x12", "ship_notice"): "856", ("x12", "invoice"): "810", ("x12", "inventory"): "846",
    ("x12", "remittance"): "820", ("x12", "functional_ack"): "997", ("x12", "return_authorization"): "180",
    ("edifact", "purchase_order"): "ORDERS", ("edifact", "po_acknowledgement"): "ORDRSP",
    ("edifact", "po_change"): "ORDCHG", ("edifact", "ship_notice"): "DESADV", ("edifact", "invoice"): "INVOIC",
    ("edifact", "inventory"): "INVRPT", ("edifact", "remittance"): "REMADV", ("edifact", "functional_ack"): "CONTRL",
    ("edifact", "return_authorization"): "RETANN",
}


def document_kind_for(standard: str | None, transaction_type: str) -> str | None:
    """"850" -> purchase_order, "ORDERS" -> purchase_order, "997"/"999"/"CONTRL" -> functional_ack; None if unknown."""
    return _KINDS.get(str(transaction_type).strip().upper())


def transaction_type_for(standard: str, kind: str) -> str | None:
    """The set a document kind is written as: ("x12", "invoice") -> "810"."""
    return _SETS.get((standard, kind))
