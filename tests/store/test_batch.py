"""Store batches: many puts, events and moves made durable in one round."""

from __future__ import annotations

import os

import pytest

from gateway.store import Store, verify
from gateway.store.auditcheck import events
from gateway.store.spool import META_SUFFIX
from gateway.transport.inbox import Received


def test_one_round_for_outputs_events_and_control_numbers_then_the_move(store: Store) -> None:
    item = store.accept(b"ISA*00~", Received("amz", "test"))
    taken = store.spool.take("in", "work")
    assert taken is not None and taken.id == item and store.spool.list("work") == [item]
    rounds = store.spool.group_commit.rounds
    batch = store.batch()
    doc = {"doc_id": f"{item}-0.0.0", "partner": "amz", "document": "purchase_order", "po_number": "PO1",
           "received_at": "2026-11-27T12:00:00+00:00"}
    out = batch.put("out/erp", b"{}", {"partner": "amz", "doc_id": doc["doc_id"]})
    batch.schedule_delivery(out, "erp", f"{doc['doc_id']}:erp")
    batch.index_document(doc, item)
    assert batch.index.document(doc["doc_id"])["state"] == "received"  # rules see the staged document
    assert store.index.document(doc["doc_id"]) is None  # the index only after the round
    isa = batch.control_numbers.next("amz", "isa")
    assert store.spool.list("out/erp") == []  # not durable yet: no worker may take it
    batch.move(item, "done", "1 document(s)")
    moved = batch.commit()
    assert store.spool.group_commit.rounds == rounds + 1
    assert [m.id for m in moved] == [item] and store.spool.list("done") == [item]
    assert store.spool.list("out/erp") == [out]
    assert store.index.document(doc["doc_id"])["state"] == "received"
    assert store.index.deliveries(out)[0]["idempotency_key"] == f"{doc['doc_id']}:erp"
    assert store.control_numbers.next("amz", "isa") == isa + 1
    history = store.spool.item(item).meta["history"]
    assert [h["state"] for h in history] == ["in", "work", "done"]
    store.spool.group_commit.flush()
    assert not store.spool.group_commit.pending()
    kinds = [e["event"] for e in events(store.audit.dir)]
    # a control number's event is appended when the number is taken; the batch's other events together
    # at its commit, the move's after the round
    assert kinds[-5:] == ["control_number.allocated", "delivery.scheduled", "document.indexed", "item.moved",
                          "control_number.allocated"]
    assert verify(store.audit.dir).ok


def test_a_failed_round_leaves_no_output_and_the_input_in_place(store: Store,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    item = store.accept(b"x", Received("amz", "test"))
    store.spool.take("in", "work")
    batch = store.batch()
    batch.put("out/erp", b"{}", {"partner": "amz"})
    batch.move(item, "done", "never")

    def broken(files: object, dirs: object = ()) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(store.spool.group_commit, "sync", broken)
    with pytest.raises(OSError):
        batch.commit()
    monkeypatch.undo()
    assert os.listdir(store.spool.dir("out/erp")) == []
    assert store.spool.list("work") == [item] and store.spool.list("done") == []
    assert not [n for n in os.listdir(store.spool.dir("done")) if n.endswith(META_SUFFIX) or n.startswith(".")]
    assert batch.empty()


def test_a_taken_item_goes_back_where_it_came_from_after_a_crash(paths: dict[str, str]) -> None:
    s = Store.open(**paths)
    a = s.accept(b"a", Received("p", "test"))
    s.spool.take("in", "work")
    s.spool.group_commit.flush()
    s._lock.release()  # as if killed: no clean close, the dirty marker stays
    s2 = Store.open(**paths)
    try:
        assert s2.recovery.requeued == [a] and s2.spool.list("in") == [a]
    finally:
        s2.close()


def test_an_envelopes_control_numbers_are_taken_together_and_handed_out_in_order(store: Store) -> None:
    batch = store.batch()
    before = [e for e in events(store.audit.dir) if e["event"] == "control_number.allocated"]
    batch.control_numbers.reserve("amz", ["isa", "gs", "st", "st"])
    assert [batch.control_numbers.next("amz", lvl) for lvl in ("isa", "gs", "st", "st")] == [1, 1, 1, 2]
    assert batch.control_numbers.next("amz", "st") == 3  # nothing reserved left: taken on its own
    batch.commit()
    allocated = [e for e in events(store.audit.dir) if e["event"] == "control_number.allocated"][len(before):]
    assert [(e["data"]["level"], e["data"]["value"]) for e in allocated] == [
        ("isa", 1), ("gs", 1), ("st", 1), ("st", 2), ("st", 3)]
    assert store.control_numbers.next("amz", "st") == 4  # the index counted every one of them
    with pytest.raises(ValueError, match="unknown control number level"):
        batch.control_numbers.reserve("amz", ["isa", "bogus"])
    assert verify(store.audit.dir).ok
