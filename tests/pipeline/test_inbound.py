"""The inbound processor over a real store, the shipped Amazon mapping and rule pack."""

from __future__ import annotations

import json

from gateway.edi import parse
from gateway.edi.acks import read_ack
from gateway.pipeline.inbound import InboundProcessor
from gateway.transport.inbox import Received
from tests.pipeline.fixtures import interchange, po_850


def receive(store, payload: bytes, partner: str = "amazon-us") -> str:
    item = store.accept(payload, Received(partner=partner, transport="test", message_id="m1"))
    claimed = store.spool.claim("in", "work")
    assert claimed is not None and claimed.id == item
    return item


def queued(store, queue: str) -> list[tuple[bytes, dict]]:
    return [store.spool.get(i) for i in store.spool.list(f"out/{queue}")]


def test_good_interchange_reaches_every_destination_and_is_acknowledged(pipeline_store):
    cfg, store = pipeline_store
    item = receive(store, interchange(po_850("PO1001"), po_850("PO1002", control=102)))
    report = InboundProcessor(store, cfg).process(item)
    assert report.state == "done" and not report.rejected, report
    assert len(report.documents) == 2
    for dest in ("erp", "archive"):
        docs = [json.loads(body) for body, _ in queued(store, dest)]
        assert sorted(d["po_number"] for d in docs) == ["PO1001", "PO1002"]
        assert all(d["document"] == "purchase_order" and d["partner"] == "amazon-us" for d in docs)
        metas = [meta for _, meta in queued(store, dest)]
        assert {m["idempotency_key"] for m in metas} == {f"{d}:{dest}" for d in report.documents}
    doc = json.loads(queued(store, "erp")[0][0])
    assert doc["lines"][0]["quantity"] in (2, "2") and doc["source"]["interchange"] == "000000101"
    acks = queued(store, "partner.amazon-us")
    assert len(acks) == 1
    statuses = read_ack(parse(acks[0][0]).interchanges[0])
    assert {s.status for s in statuses} == {"accepted"}
    assert store.spool.list("done") == [item]
    assert store.index.document(report.documents[0]) is not None


def test_one_bad_transaction_is_rejected_and_parked_the_others_go_through(pipeline_store):
    cfg, store = pipeline_store
    item = receive(store, interchange(po_850("PO2001"), po_850("PO2002", control=102, bad_qty=True),
                                      po_850("PO2003", control=103)))
    report = InboundProcessor(store, cfg).process(item)
    assert len(report.documents) == 2 and len(report.rejected) == 1
    parked = report.rejected[0]["item"]
    payload, meta = store.spool.get(parked)
    assert store.spool.item(parked).state == "failed"
    assert b"PO2002" in payload and meta["transaction_control"] == "0102"
    assert any(f.get("element") == 2 for f in meta["findings"]), meta["findings"]
    statuses = read_ack(parse(queued(store, "partner.amazon-us")[0][0]).interchanges[0])
    by_tx = {s.transaction_control: s.status for s in statuses if s.level == "transaction"}
    assert by_tx == {"0101": "accepted", "0102": "rejected", "0103": "accepted"}
    assert sorted(json.loads(b)["po_number"] for b, _ in queued(store, "erp")) == ["PO2001", "PO2003"]


def test_duplicate_interchange_is_not_processed_twice(pipeline_store):
    cfg, store = pipeline_store
    proc = InboundProcessor(store, cfg)
    first = proc.process(receive(store, interchange(po_850("PO3001"))))
    second = proc.process(receive(store, interchange(po_850("PO3001"))))
    assert len(first.documents) == 1 and second.duplicates == 1 and not second.documents
    assert "duplicate" in second.reason
    assert len(queued(store, "erp")) == 1


def test_unknown_partner_and_garbage_are_parked_with_a_reason(pipeline_store):
    cfg, store = pipeline_store
    proc = InboundProcessor(store, cfg)
    unknown = proc.process(receive(store, interchange(po_850("PO4001")), partner="nobody"))
    assert unknown.state == "failed" and "unknown partner 'nobody'" in unknown.reason
    garbage = proc.process(receive(store, b"hello, this is not EDI"))
    assert garbage.state == "failed" and "not readable as EDI" in garbage.reason
    assert set(store.spool.list("failed")) == {unknown.item_id, garbage.item_id}
    assert store.spool.item(garbage.item_id).meta.get("reason")


def test_reprocessing_after_a_crash_does_not_queue_twice(pipeline_store):
    cfg, store = pipeline_store
    item = receive(store, interchange(po_850("PO5001")))
    proc = InboundProcessor(store, cfg)
    proc.process(item)
    store.spool.move(item, "work", "simulated crash before done")
    again = proc.process(item)
    assert again.duplicates == 0 and again.documents == [f"{item}-0.0.0"]
    assert len(queued(store, "erp")) == 1


def test_parked_for_missing_route_then_replayed_after_the_fix(pipeline_tree, pipeline_store):
    from gateway.config import load_config
    from tests.pipeline.conftest import PIPELINE_PARTNER

    cfg, store = pipeline_store
    pipeline_tree.partner("amazon-us", PIPELINE_PARTNER.replace('document: "850"', 'document: "855"'))
    no_route = load_config(pipeline_tree.gateway)
    item = receive(store, interchange(po_850("PO6001")))
    report = InboundProcessor(store, no_route).process(item)
    assert report.documents == [] and len(report.rejected) == 1 and not report.rejected[0]["in_ack"]
    parked = report.rejected[0]["item"]
    assert "no inbound route for 850" in store.spool.item(parked).meta["reason"]
    # The admin fixes the route and replays the parked transaction: it goes through, once.
    store.replay(parked, by="test")
    assert store.spool.claim("in", "work").id == parked
    fixed = InboundProcessor(store, cfg).process(parked)
    assert fixed.duplicates == 0 and len(fixed.documents) == 1
    assert [json.loads(b)["po_number"] for b, _ in queued(store, "erp")] == ["PO6001"]


def test_rerun_after_a_lost_round_queues_again_only_the_missing_items_under_the_same_key(pipeline_store):
    """A crash can leave the ``document.indexed`` event on disk without a delivery item of the same
    round: running the item again queues that destination again, under the same key, and no other."""
    cfg, store = pipeline_store
    item = receive(store, interchange(po_850("PO3001")))
    report = InboundProcessor(store, cfg).process(item)
    (doc_id,) = report.documents
    (lost,) = store.spool.list("out/archive")
    kept = store.spool.list("out/erp")
    store.spool.discard(lost)  # as if the round that wrote it never reached the disk
    store.spool.move(item, "in", "requeued after restart")
    assert store.spool.claim("in", "work").id == item
    again = InboundProcessor(store, cfg).process(item)
    assert again.documents == [doc_id] and again.state == "done"
    assert store.spool.list("out/erp") == kept
    (requeued,) = queued(store, "archive")
    assert requeued[1]["idempotency_key"] == f"{doc_id}:archive"
    assert json.loads(requeued[0])["po_number"] == "PO3001"


class _CrashOn(InboundProcessor):
    """The real processor, with a bug that strikes one chosen item (to check it is isolated)."""

    crash_item = ""

    def _interchange(self, partner, result, ici, ic, item_id, meta, report, bound):
        super()._interchange(partner, result, ici, ic, item_id, meta, report, bound)
        if item_id == self.crash_item:
            raise KeyError("a bug for this item only")


def test_a_batch_of_items_shares_one_round_and_a_crash_parks_only_its_item(pipeline_store):
    cfg, store = pipeline_store
    items = [receive(store, interchange(po_850(f"PO70{i}"), control=700 + i)) for i in range(4)]
    proc = _CrashOn(store, cfg)
    proc.crash_item = items[2]
    rounds = store.spool.group_commit.rounds
    outcomes = proc.process_many(iter(items))
    assert store.spool.group_commit.rounds - rounds == 1  # the whole batch: one round
    assert [i for i, _ in outcomes] == items
    assert isinstance(outcomes[2][1], KeyError)
    assert all(r.state == "done" and len(r.documents) == 1 for i, r in outcomes if i != items[2])
    assert store.spool.item(items[2]).state == "failed"
    assert "a bug for this item only" in store.spool.item(items[2]).meta["reason"]
    assert sorted(store.spool.list("done")) == sorted(items[:2] + items[3:])
    pos = sorted(json.loads(body)["po_number"] for body, _ in queued(store, "erp"))
    assert pos[:2] == ["PO700", "PO701"] and "PO703" in pos
    assert not store.spool.list("work")


def test_a_retransmission_in_the_same_batch_is_a_duplicate(pipeline_store):
    cfg, store = pipeline_store
    first = receive(store, interchange(po_850("PO7101"), control=710))
    again = receive(store, interchange(po_850("PO7101"), control=710))
    outcomes = dict(InboundProcessor(store, cfg).process_many([first, again]))
    assert len(outcomes[first].documents) == 1
    assert outcomes[again].duplicates == 1 and not outcomes[again].documents
    assert [json.loads(b)["po_number"] for b, _ in queued(store, "erp")] == ["PO7101"]


def test_a_failed_round_runs_each_item_of_the_batch_again_alone(pipeline_store):
    cfg, store = pipeline_store
    items = [receive(store, interchange(po_850(f"PO72{i}"), control=720 + i)) for i in range(3)]
    gc = store.spool.group_commit
    real, calls = gc.sync, []

    def once_broken(files, dirs=()):  # the disk refuses the batch's round, then recovers
        calls.append(len(files))
        if len(calls) == 1:
            raise OSError(5, "Input/output error")
        return real(files, dirs)

    gc.sync = once_broken
    outcomes = InboundProcessor(store, cfg).process_many(items)
    assert [i for i, _ in outcomes] == items
    assert all(r.state == "done" and len(r.documents) == 1 for _, r in outcomes)
    assert sorted(store.spool.list("done")) == sorted(items)
    assert sorted(json.loads(b)["po_number"] for b, _ in queued(store, "erp")) == ["PO720", "PO721", "PO722"]
    assert len(calls) >= 4  # the failed round, then one per item


def test_an_ack_echoing_a_control_number_with_our_separator_goes_out_in_the_partners_delimiters(pipeline_store):
    """X12 cannot escape: a partner using '|' may send a group control number holding '*', our element
    separator. The 997 must echo it (AK102), so that ack is written in the partner's own delimiters."""
    cfg, store = pipeline_store
    text = interchange(po_850("PO9901")).decode()
    isa, rest = text[:106], text[106:]
    isa = isa.replace("*", "|")
    rest = rest.replace("*", "|")
    gs_ctl = rest.split("GS|", 1)[1].split("~", 1)[0].split("|")[5]
    rest = rest.replace(f"|{gs_ctl}|X|", "|7*7|X|", 1).replace(f"GE|1|{gs_ctl}~", "GE|1|7*7~", 1)
    item = receive(store, (isa + rest).encode())
    report = InboundProcessor(store, cfg).process(item)
    assert report.state == "done" and len(report.documents) == 1, report
    (ack_bytes, _), = queued(store, "partner.amazon-us")
    assert ack_bytes.startswith(b"ISA|") and b"AK1|PO|7*7" in ack_bytes
    statuses = read_ack(parse(ack_bytes).interchanges[0])
    assert any(s.level == "group" and s.status == "accepted" for s in statuses), statuses


def test_a_segment_tag_holding_a_separator_is_rejected_in_a_997_that_can_be_written(pipeline_store):
    """The 997 names the bad segment (AK3) without the separator it held; it used to fail to write."""
    cfg, store = pipeline_store
    bad = interchange(po_850("PO9902")).decode().replace("N1*ST*", "N>1*ST*", 1).encode()
    item = receive(store, bad)
    report = InboundProcessor(store, cfg).process(item)
    assert report.rejected and not report.documents, report
    (ack_bytes, _), = queued(store, "partner.amazon-us")
    assert b"AK3*N1*" in ack_bytes and b"AK5*R" in ack_bytes, ack_bytes


EU_PARTNER = """\
id: amazon-eu
name: Amazon EU
timezone: Europe/Luxembourg
edi:
  standard: edifact
  edifact: {qualifier: "14", id: "5450534000024", syntax: "UNOC:3", version: "D:96A:UN", acks: contrl}
routes:
  - {document: ORDERS, mapping: amazon/ORDERS-purchase_order, to: [archive]}
"""


def test_a_contrl_whose_echoed_ids_break_the_declared_charset_is_written_in_utf8(pipeline_tree):
    """The partner declares UNOA (ASCII) but its sender id holds '²': the CONTRL must echo that id, so
    it goes out as UNOY instead of failing to write (which parked the item)."""
    from pathlib import Path

    from gateway.config import load_config
    from gateway.store import Store

    pipeline_tree.partner("amazon-eu", EU_PARTNER)
    cfg = load_config(pipeline_tree.gateway)
    store = Store.open(str(cfg.paths.spool), str(cfg.paths.audit), str(cfg.paths.index), node="t")
    try:
        golden = (Path(__file__).resolve().parents[1] / "mapping/golden/in/amazon-eu-orders.edi").read_bytes()
        text = golden.decode("latin-1")
        unb = text[text.index("UNB+"):]
        syntax = unb.split("+")[1]
        sender = unb.split("+")[2].split(":")[0]
        data = text.replace(syntax, "UNOA:3", 1).replace(sender, sender[:-1] + "²", 1).encode("latin-1")
        item = receive(store, data, partner="amazon-eu")
        report = InboundProcessor(store, cfg).process(item)
        assert report.state in ("done", "failed"), report
        (contrl, _), = queued(store, "partner.amazon-eu")
        assert b"UNOY:" in contrl and b"CONTRL" in contrl and "²".encode() in contrl
    finally:
        store.close()
