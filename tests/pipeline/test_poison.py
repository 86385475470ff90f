"""Poisoned input in the running daemon hurts nothing else.

Between two good interchanges arrive: one bad transaction among good ones, an unknown partner, bytes
that are not EDI, a truncated interchange (later resent whole), an 810 nobody routes, and a partner
whose mapping fails on one transaction. Every good document is delivered exactly once, every bad thing is parked in
``failed/`` with a reason, and the daemon keeps serving.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from gateway.edi import parse
from gateway.edi.acks import read_ack
from tests.pipeline.fixtures import interchange, po_850
from tests.pipeline.harness import PARTNER, REPO, Daemon, Feeder, HttpSink, make_tree, spool_state

pytestmark = pytest.mark.integration

BAD_PARTNER = PARTNER.replace("id: amazon-us", "id: amazon-bad").replace("id: AMAZON,", "id: AMAZONBAD,")
# One transaction in two fails in this partner's mapping: a derived field divides by zero on two-line POs.
BAD_OVERRIDE = 'derived:\n  per_line: "len(lines) / (len(lines) - 2)"\n'


def good(prefix: str, control: int) -> bytes:
    return interchange(*[po_850(f"{prefix}-{i}", control=i + 1) for i in range(10)], control=control)


def failed_reasons(root: Path) -> dict[str, dict]:
    out = {}
    for item in spool_state(root, "failed"):
        out[item] = json.loads((root / "spool" / "failed" / f"{item}.meta.json").read_text())
    return out


def test_poison_is_parked_with_reasons_and_good_documents_flow(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    override = mappings / "partners" / "amazon-bad" / "amazon" / "850-purchase_order.yaml"
    override.parent.mkdir(parents=True)
    override.write_text(BAD_OVERRIDE)
    sink = HttpSink()
    tree = make_tree(tmp_path, sink.url, mappings=mappings,
                     partners={"amazon-us": PARTNER, "amazon-bad": BAD_PARTNER})
    daemon = Daemon(tree, tmp_path)
    expected = {f"{p}-{i}" for p in ("G1", "G2", "TRUNC") for i in range(10)} | {"MIX-1", "MIX-3", "BADMAP-3"}
    try:
        daemon.start()
        feeder = Feeder(tmp_path)
        feeder.accept(good("G1", 1))
        mixed = feeder.accept(interchange(po_850("MIX-1"), po_850("MIX-2", control=2, bad_qty=True),
                                          po_850("MIX-3", control=3), control=2))
        unknown = feeder.accept(good("NOBODY", 3), partner="nobody")
        garbage = feeder.accept(b"\x00\xff this is not EDI at all \x89PNG")
        truncated = feeder.accept(good("TRUNC", 5)[:700])
        unrouted = feeder.accept(interchange(po_850("INV-1").replace("ST*850", "ST*810"), control=6))
        feeder.accept(interchange(po_850("BADMAP-2", lines=2), po_850("BADMAP-3", lines=3, control=2),
                                  control=7, sender="AMAZONBAD"), partner="amazon-bad")
        feeder.accept(good("G2", 8))
        time.sleep(0.5)
        feeder.accept(good("TRUNC", 5))  # the partner resends it whole, under the same control number
        posts = sink.wait_for_keys(len(expected), timeout=30)
        deadline = time.monotonic() + 10
        while spool_state(tmp_path, "in") or spool_state(tmp_path, "work"):
            assert time.monotonic() < deadline, "items left unprocessed"
            time.sleep(0.05)
        time.sleep(0.3)
        port = daemon.api_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
        assert daemon.stop() == 0
        acks = [feeder.store.spool.get(i)[0] for i in feeder.listing("out/partner.amazon-us")]
        feeder.close()
    finally:
        daemon.close()
        sink.down()

    posts = sink.snapshot()
    delivered = [json.loads(p.body)["po_number"] for p in posts]
    assert sorted(delivered) == sorted(expected), "each good document exactly once, no bad one"
    assert spool_state(tmp_path, "work") == [] and spool_state(tmp_path, "out/erp") == []
    events = daemon.events()
    assert not [e for e in events if e["event"] in ("pipeline_item_crashed", "pipeline_batch_failed")]

    parked = failed_reasons(tmp_path)
    assert "unknown partner 'nobody'" in parked[unknown]["reason"]
    assert "not readable as EDI" in parked[garbage]["reason"]
    by_source = {(m.get("source_item"), m.get("transaction_control")): m for m in parked.values()}
    assert "PO102" in json.dumps(by_source[(mixed, "0002")]["findings"]) or by_source[(mixed, "0002")]["reason"]
    badmap = [m for m in parked.values() if m.get("partner") == "amazon-bad"]
    assert len(badmap) == 1 and "division by zero" in badmap[0]["reason"]
    assert any(m.get("source_item") == unrouted and "no inbound route for 810" in m["reason"]
               for m in parked.values())
    # The truncated interchange's group is rejected whole (its 997 says so): none of its transactions
    # goes out, each is parked with the reason, and the whole resend is then taken in, not called a duplicate.
    cut = [m for m in parked.values() if m.get("source_item") == truncated]
    assert len(cut) == 2 and all("no GE trailer" in m["reason"] for m in cut)
    assert not [e for e in events if e["event"] == "duplicate_interchange"]
    # The partner hears about the bad transaction: its 997 rejects 0002 and accepts the others.
    statuses = []
    for ack in acks:
        for s in read_ack(parse(ack).interchanges[0]):
            if s.level == "transaction" and s.group_control == "2":
                statuses.append((s.transaction_control, s.status))
    assert sorted(statuses) == [("0002", "rejected"), ("0003", "accepted"), ("0101", "accepted")], statuses
