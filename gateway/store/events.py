"""The gateway's facts, as audit events: written the same way by the store (one durable event at a
time) and by a batch (events staged, made durable together; see :mod:`gateway.store.batch`).

A subclass provides ``record`` (append one event and project it into the index) and ``index`` (what
lookups read).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Unpack

from gateway.store.audit import EventFields
from gateway.store.index import LIFECYCLE, document_keys


class EventWriter:
    index: Any

    def record(self, event: str, *, body: dict[str, Any] | None = None, **fields: Unpack[EventFields]) -> dict[str, Any]:
        raise NotImplementedError

    def record_interchange(
        self,
        partner: str,
        sender: str,
        control_number: str,
        item_id: str | None,
        received_at: datetime | None = None,
    ) -> None:
        data = (
            {"received_at": received_at.astimezone(UTC).isoformat(timespec="microseconds")}
            if received_at
            else None
        )
        keys = {"sender": sender, "control_number": control_number}
        self.record("interchange.received", partner=partner, keys=keys, item_id=item_id, data=data)

    def index_document(
        self, doc: dict[str, Any], item_id: str | None = None, state: str = "received"
    ) -> None:
        """Index a canonical document; without ``item_id`` its body goes into the audit event."""
        if state not in LIFECYCLE:
            raise ValueError(f"unknown lifecycle state {state!r}")
        keys: dict[str, Any] = {"doc_id": doc["doc_id"], "document": doc["document"]}
        found = document_keys(doc)
        if len(found["po_number"]) == 1:
            keys["po_number"] = found["po_number"][0]
        elif found["po_number"]:
            keys["po_numbers"] = found["po_number"]
        for kind in ("shipment_id", "invoice_number"):
            if found[kind]:
                keys[kind] = found[kind][0]
        if found["sscc"]:
            keys["ssccs"] = found["sscc"]
        data: dict[str, Any] = {"state": state}
        if item_id is None:
            data["document"] = doc
        self.record(
            "document.indexed", partner=doc["partner"], keys=keys, item_id=item_id, data=data, body=doc
        )

    def set_document_state(self, doc_id: str, state: str) -> None:
        if state not in LIFECYCLE:
            raise ValueError(f"unknown lifecycle state {state!r}")
        row = self.index.document(doc_id)
        if row is None:
            raise KeyError(f"no document {doc_id!r}")
        self.record("document.state", partner=row["partner"], keys={"doc_id": doc_id}, data={"state": state})

    def message_sent(self, partner: str, message_id: str, item_id: str | None) -> None:
        self.record("message.sent", partner=partner, keys={"message_id": message_id}, item_id=item_id)

    def schedule_delivery(
        self, item_id: str, destination: str, idempotency_key: str, next_retry_at: datetime | None = None
    ) -> None:
        data = {"destination": destination, "idempotency_key": idempotency_key}
        if next_retry_at:
            data["next_retry_at"] = next_retry_at.astimezone(UTC).isoformat(timespec="microseconds")
        self.record("delivery.scheduled", item_id=item_id, data=data)

    def delivery_attempted(
        self,
        item_id: str,
        destination: str,
        ok: bool,
        error: str | None = None,
        next_retry_at: datetime | None = None,
    ) -> None:
        data: dict[str, Any] = {"destination": destination, "ok": ok, "error": error, "next_retry_at": None}
        if next_retry_at and not ok:
            data["next_retry_at"] = next_retry_at.astimezone(UTC).isoformat(timespec="microseconds")
        self.record("delivery.attempted", item_id=item_id, data=data)
