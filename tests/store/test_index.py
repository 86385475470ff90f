"""The SQLite index against the same behaviours as the in-memory DocumentIndex."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.rules.docindex import DocumentIndex, InMemoryDocumentIndex
from gateway.store import Store

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def at(days: int) -> str:
    return (T0 + timedelta(days=days)).isoformat()


DOCS: list[dict[str, Any]] = [
    {
        "doc_id": "po1",
        "partner": "amz",
        "document": "purchase_order",
        "po_number": "PO-1",
        "received_at": at(0),
    },
    {
        "doc_id": "po2",
        "partner": "amz",
        "document": "purchase_order",
        "po_number": "PO-2",
        "received_at": at(1),
    },
    {
        "doc_id": "ack1",
        "partner": "amz",
        "document": "po_acknowledgement",
        "po_number": "PO-1",
        "received_at": at(2),
    },
    {
        "doc_id": "asn1",
        "partner": "amz",
        "document": "ship_notice",
        "shipment_id": "SH-1",
        "received_at": at(3),
        "orders": [
            {
                "po_number": "PO-1",
                "pallets": [{"sscc": "000000000000000011", "cartons": [{"sscc": "000000000000000012"}]}],
            },
            {"po_number": "PO-2", "cartons": [{"sscc": "000000000000000021"}]},
        ],
    },
    {
        "doc_id": "asn0",
        "partner": "amz",
        "document": "ship_notice",
        "shipment_id": "SH-0",
        "received_at": at(1),
        "orders": [{"po_number": "PO-1"}],
    },
    {
        "doc_id": "inv1",
        "partner": "amz",
        "document": "invoice",
        "invoice_number": "INV-1",
        "po_number": "PO-1",
        "received_at": at(4),
    },
    {
        "doc_id": "inv9",
        "partner": "other",
        "document": "invoice",
        "invoice_number": "INV-1",
        "po_number": "PO-1",
        "received_at": at(4),
    },
]


@pytest.fixture(params=["memory", "sqlite"])
def make_index(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[list[dict[str, Any]]], DocumentIndex]]:
    stores: list[Store] = []

    def build(docs: list[dict[str, Any]]) -> DocumentIndex:
        if request.param == "memory":
            return InMemoryDocumentIndex(docs)
        s = Store.open(str(tmp_path / "spool"), str(tmp_path / "audit"), str(tmp_path / "index.sqlite"))
        stores.append(s)
        for d in docs:
            s.index_document(d)
        return s.index

    yield build
    for s in stores:
        s.close()


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [d["doc_id"] for d in docs]


def test_documents_for_po_by_kind_oldest_first(make_index: Callable[..., DocumentIndex]) -> None:
    idx = make_index(DOCS)
    assert ids(idx.documents_for_po("amz", "PO-1", "ship_notice")) == ["asn0", "asn1"]
    assert ids(idx.documents_for_po("amz", "PO-2", "ship_notice")) == ["asn1"]
    assert ids(idx.documents_for_po("amz", "PO-1", "po_acknowledgement")) == ["ack1"]
    assert ids(idx.documents_for_po("amz", "PO-1", "invoice")) == ["inv1"]
    assert idx.documents_for_po("amz", "PO-3", "invoice") == []
    assert idx.documents_for_po("nobody", "PO-1", "invoice") == []
    assert (
        idx.documents_for_po("amz", "PO-1", "ship_notice")[1]["orders"][0]["pallets"][0]["sscc"]
        == "000000000000000011"
    )


@pytest.mark.parametrize(
    ("partner", "kind", "value", "since_days", "exclude", "expected"),
    [
        ("amz", "invoice_number", "INV-1", 0, None, True),
        ("amz", "invoice_number", "INV-1", 0, "inv1", False),
        ("amz", "invoice_number", "INV-1", 5, None, False),
        ("amz", "invoice_number", "INV-1", 4, None, True),  # at `since` counts
        ("amz", "invoice_number", "INV-2", 0, None, False),
        ("amz", "shipment_id", "SH-1", 0, None, True),
        ("amz", "sscc", "000000000000000012", 0, None, True),
        ("amz", "sscc", "000000000000000021", 0, "asn1", False),
        ("amz", "sscc", "000000000000000099", 0, None, False),
        ("amz", "po_number", "PO-2", 0, None, True),
        ("amz", "po_number", "PO-2", 2, "asn1", False),
        ("other", "shipment_id", "SH-1", 0, None, False),
    ],
)
def test_key_used(
    make_index: Callable[..., DocumentIndex],
    partner: str,
    kind: Any,
    value: str,
    since_days: int,
    exclude: str | None,
    expected: bool,
) -> None:
    idx = make_index(DOCS)
    assert (
        idx.key_used(partner, kind, value, T0 + timedelta(days=since_days), exclude_doc_id=exclude)
        is expected
    )


def test_reindexing_a_document_replaces_its_keys(tmp_path: Path) -> None:
    with Store.open(str(tmp_path / "s"), str(tmp_path / "a"), str(tmp_path / "i.sqlite")) as s:
        s.index_document(dict(DOCS[5]))
        s.index_document(dict(DOCS[5], invoice_number="INV-7"))
        assert not s.index.key_used("amz", "invoice_number", "INV-1", T0)
        assert s.index.key_used("amz", "invoice_number", "INV-7", T0)


def test_lifecycle_state(store: Store) -> None:
    store.index_document(DOCS[0])
    assert store.index.document("po1")["state"] == "received"  # type: ignore[index]
    store.set_document_state("po1", "acknowledged")
    store.set_document_state("po1", "shipped")
    assert store.index.document("po1")["state"] == "shipped"  # type: ignore[index]
    with pytest.raises(ValueError):
        store.set_document_state("po1", "lost")


def test_interchange_duplicates_within_window(store: Store) -> None:
    store.record_interchange("amz", "AMAZON", "000000101", "item-a", received_at=T0)
    window = timedelta(days=30)
    assert (
        store.duplicate_interchange("amz", "AMAZON", "000000101", window, now=T0 + timedelta(days=1))
        == "item-a"
    )
    assert (
        store.duplicate_interchange("amz", "AMAZON", "000000101", window, now=T0 + timedelta(days=31)) is None
    )
    assert store.duplicate_interchange("amz", "AMAZON", "000000102", window, now=T0) is None
    assert store.duplicate_interchange("amz", "OTHER", "000000101", window, now=T0) is None
    assert store.duplicate_interchange("acme", "AMAZON", "000000101", window, now=T0) is None


def test_transport_messages_and_mdn_matching(store: Store) -> None:
    from gateway.transport.inbox import Received

    item = store.accept(b"ISA...", Received("amz", "as2", message_id="<abc@amazon>"))
    assert store.index.message("amz", "<abc@amazon>")["item_id"] == item  # type: ignore[index]
    assert store.index.message("amz", "<other@amazon>") is None
    store.message_sent("amz", "<out1@us>", "out-item")
    matched = store.mdn_received("amz", "<out1@us>", "processed")
    assert matched is not None and matched["item_id"] == "out-item" and matched["mdn_status"] == "processed"
    assert store.mdn_received("amz", "<unknown@us>", "processed") is None


def test_deliveries_attempts_and_retry(store: Store) -> None:
    store.schedule_delivery("it1", "erp", "key-1", next_retry_at=T0)
    assert [d["item_id"] for d in store.index.due_deliveries(T0)] == ["it1"]
    store.delivery_attempted(
        "it1", "erp", ok=False, error="HTTP 503", next_retry_at=T0 + timedelta(minutes=5)
    )
    assert store.index.due_deliveries(T0) == []
    row = store.index.deliveries("it1")[0]
    assert (row["attempts"], row["state"], row["last_error"]) == (1, "pending", "HTTP 503")
    store.delivery_attempted("it1", "erp", ok=True)
    row = store.index.deliveries("it1")[0]
    assert (row["attempts"], row["state"], row["idempotency_key"]) == (2, "delivered", "key-1")
