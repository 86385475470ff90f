"""PO acknowledgement deadlines on a task.Clock, over a real store; the lifecycle moves POs along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from twisted.internet import task

from gateway.pipeline import lifecycle
from gateway.pipeline.board import board
from gateway.pipeline.deadlines import DeadlineService
from gateway.service.alerts import Alerts

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def po(doc_id: str, number: str, received: datetime) -> dict:
    return {"doc_id": doc_id, "document": "purchase_order", "partner": "amazon-us", "po_number": number,
            "received_at": received.isoformat(), "lines": []}


def test_due_soon_then_overdue_once_each_and_not_after_ack(pipeline_store):
    cfg, store = pipeline_store
    store.index_document(po("d1", "PO1", T0))
    store.index_document(po("d2", "PO2", T0 + timedelta(hours=10)))
    clock = task.Clock()
    clock.advance(T0.timestamp() + 19 * 3600 + 60)  # PO1 has ~5 h left: nothing yet
    alerts = Alerts(clock, "t")
    svc = DeadlineService(clock, store, cfg, alerts, interval=600, in_thread=False)
    svc.startService()
    assert alerts.sent == []
    clock.advance(3600)  # < 4 h left for PO1
    assert [(a["kind"], a["po_number"]) for a in alerts.sent] == [("po_ack_due_soon", "PO1")]
    clock.advance(5 * 3600)  # PO1 overdue; PO2 still has ~9 h
    clock.advance(600)
    kinds = [(a["kind"], a["po_number"]) for a in alerts.sent]
    assert kinds == [("po_ack_due_soon", "PO1"), ("po_ack_overdue", "PO1")]
    # Our acknowledgement moves PO2 along: it never alerts.
    moved = lifecycle.advance(store, {"document": "po_acknowledgement", "partner": "amazon-us", "po_number": "PO2",
                                      "status": "accepted"})
    assert moved == [("d2", "acknowledged")]
    clock.advance(24 * 3600)
    assert [a["po_number"] for a in alerts.sent] == ["PO1", "PO1"]
    svc.stopService()
    columns = board(store.index, cfg, datetime.fromtimestamp(clock.seconds(), UTC))
    assert [r["po_number"] for r in columns["received"]] == ["PO1"] and columns["received"][0]["overdue"]
    assert [r["po_number"] for r in columns["acknowledged"]] == ["PO2"]


def test_lifecycle_never_moves_backwards(pipeline_store):
    cfg, store = pipeline_store
    store.index_document(po("d1", "PO9", T0))
    assert lifecycle.advance(store, {"document": "invoice", "partner": "amazon-us", "po_number": "PO9"}) == [
        ("d1", "invoiced")]
    assert lifecycle.advance(store, {"document": "ship_notice", "partner": "amazon-us",
                                     "orders": [{"po_number": "PO9"}]}) == []
    assert store.index.document("d1")["state"] == "invoiced"
