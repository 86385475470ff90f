"""What cross-document rules may ask the document index.

The rule engine depends only on this protocol. ``InMemoryDocumentIndex`` serves tests;
``gateway.store.index`` provides the SQLite implementation used by the daemon.

Documents are canonical JSON dicts (see ``gateway/mapping/schemas``). Every stored document has, beside
its own fields, ``doc_id`` (str), ``partner``, ``document`` (the kind: purchase_order,
po_acknowledgement, ship_notice, invoice, ...) and ``received_at`` (ISO 8601 UTC, when the gateway
received or created it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

KeyKind = Literal["invoice_number", "shipment_id", "sscc", "po_number"]


class DocumentIndex(Protocol):
    def documents_for_po(self, partner: str, po_number: str, kind: str) -> list[dict[str, Any]]:
        """All stored documents of ``kind`` that refer to ``po_number`` for ``partner``, oldest first.

        A ship notice refers to every PO in its ``orders[]``; an invoice and an acknowledgement to
        their ``po_number``.
        """
        ...

    def key_used(
        self, partner: str, key_kind: KeyKind, value: str, since: datetime, exclude_doc_id: str | None = None
    ) -> bool:
        """Whether ``value`` was used as ``key_kind`` by another document of ``partner`` at or after ``since``."""
        ...


class InMemoryDocumentIndex:
    """A list-backed index for tests and offline validation."""

    def __init__(self, docs: list[dict[str, Any]] | None = None) -> None:
        self.docs: list[dict[str, Any]] = list(docs or [])

    def add(self, doc: dict[str, Any]) -> None:
        self.docs.append(doc)

    @staticmethod
    def po_numbers(doc: dict[str, Any]) -> set[str]:
        found = {doc["po_number"]} if doc.get("po_number") else set()
        for order in doc.get("orders") or []:
            if order.get("po_number"):
                found.add(order["po_number"])
        return found

    @staticmethod
    def keys(doc: dict[str, Any], key_kind: KeyKind) -> set[str]:
        if key_kind == "sscc":
            out = set()
            for order in doc.get("orders") or []:
                for pallet in order.get("pallets") or []:
                    if pallet.get("sscc"):
                        out.add(pallet["sscc"])
                    for carton in pallet.get("cartons") or []:
                        if carton.get("sscc"):
                            out.add(carton["sscc"])
                for carton in order.get("cartons") or []:
                    if carton.get("sscc"):
                        out.add(carton["sscc"])
            return out
        if key_kind == "po_number":
            return InMemoryDocumentIndex.po_numbers(doc)
        value = doc.get(key_kind)
        return {value} if value else set()

    def documents_for_po(self, partner: str, po_number: str, kind: str) -> list[dict[str, Any]]:
        found = [
            d
            for d in self.docs
            if d.get("partner") == partner and d.get("document") == kind and po_number in self.po_numbers(d)
        ]
        return sorted(found, key=lambda d: d.get("received_at", ""))

    def key_used(
        self, partner: str, key_kind: KeyKind, value: str, since: datetime, exclude_doc_id: str | None = None
    ) -> bool:
        for d in self.docs:
            if d.get("partner") != partner or d.get("doc_id") == exclude_doc_id:
                continue
            received = d.get("received_at")
            if received and datetime.fromisoformat(received) < since:
                continue
            if value in self.keys(d, key_kind):
                return True
        return False
