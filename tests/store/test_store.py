from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from gateway.cli.main import cli
from gateway.store import SpoolInbox, Store, verify
from gateway.store.auditcheck import events
from gateway.store.spool import META_SUFFIX
from gateway.transport.inbox import Inbox, Received

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def test_spool_inbox_accepts_bytes_and_files(store: Store, tmp_path: Path) -> None:
    inbox: Inbox = SpoolInbox(store)
    a = inbox.accept(b"ISA*00~", Received("amz", "as2", message_id="<m1>", extra={"mic": "abc"}))
    upload = Path(store.spool.root) / "upload.tmp"
    upload.write_bytes(b"UNB+UNOA~")
    b = inbox.accept_file(str(upload), Received("amz", "sftp", filename="po.edi"))
    assert store.spool.list("in") == [a, b]
    assert store.spool.get(a)[1]["extra"] == {"mic": "abc"}
    assert store.spool.get(b)[1]["filename"] == "po.edi"
    received = [e for e in events(store.audit.dir) if e["event"] == "item.received"]
    assert [(e["item_id"], e["bytes"], e["partner"]) for e in received] == [(a, 7, "amz"), (b, 9, "amz")]


def test_restart_requeues_work_and_cleans_half_writes(paths: dict[str, str]) -> None:
    s = Store.open(**paths)
    a = s.accept(b"a", Received("p", "test"))
    b = s.accept(b"b", Received("p", "test"))
    s.spool.claim()  # a -> work
    out = s.spool.put("out/erp", b"{}", {"partner": "p"})
    s.spool.claim("out/erp", "work")  # out -> work
    spool = s.spool
    # simulate a crash: the lock goes away without close(), leaving crash debris
    s.index.close()
    s.audit.close()
    s._lock.release()
    open(os.path.join(spool.dir("in"), ".tmp-" + b), "wb").write(b"half")
    # an interrupted move: b's new meta already in done/, payload still in in/
    shutil.copy(
        os.path.join(spool.dir("in"), b + META_SUFFIX), os.path.join(spool.dir("done"), b + META_SUFFIX)
    )
    # a put killed between its meta and payload renames
    orphan = "20260401T000000000000Z-0000000000"
    open(os.path.join(spool.dir("in"), orphan + META_SUFFIX), "w").write("{}")

    s2 = Store.open(**paths)
    try:
        assert sorted(s2.recovery.requeued) == sorted([a, out])
        assert s2.spool.list("in") == [a, b]
        assert s2.spool.list("out/erp") == [out]
        assert s2.spool.list("work") == [] and s2.spool.list("done") == []
        assert sorted(os.listdir(s2.spool.dir("in"))) == sorted([a, a + META_SUFFIX, b, b + META_SUFFIX])
        assert [h["state"] for h in s2.spool.item(out).meta["history"]] == ["out/erp", "work", "out/erp"]
        assert s2.recovery.temp_removed == 1
    finally:
        s2.close()


def test_interrupted_move_whose_payload_arrived_completes(paths: dict[str, str]) -> None:
    with Store.open(**paths) as s:
        a = s.accept(b"a", Received("p", "test"))
        spool = s.spool
    # payload renamed to done/ but the new meta never written (only the old one in in/)
    os.rename(os.path.join(spool.dir("in"), a), os.path.join(spool.dir("done"), a))
    with Store.open(**paths) as s:
        it = s.spool.item(a)
        assert it.state == "done" and it.meta["history"][-1]["note"] == "recovered"
        assert not os.path.exists(os.path.join(spool.dir("in"), a + META_SUFFIX))


def test_payload_without_any_meta_is_quarantined(paths: dict[str, str]) -> None:
    with Store.open(**paths) as s:
        a = s.accept(b"a", Received("p", "test"))
        meta_path = s.spool.item(a).meta_path
    os.unlink(meta_path)
    with Store.open(**paths) as s:
        it = s.spool.item(a)
        assert it.state == "failed" and "without its meta" in it.meta["reason"]
        assert s.spool.get(a)[0] == b"a"


def test_syncfs_mode_drops_an_unfinished_put_after_an_unclean_stop(paths: dict[str, str]) -> None:
    s = Store.open(**paths, sync="syncfs")
    a = s.accept(b"complete", Received("p", "test"))
    b = s.accept(b"will be truncated", Received("p", "test"))
    s.index.close()
    s.audit.close()
    s._lock.release()  # no close(): the run did not end cleanly
    open(s.spool.item(b).path, "wb").close()  # as after a power cut before syncfs returned
    with Store.open(**paths, sync="syncfs") as s2:
        assert s2.recovery.incomplete_removed == [b]
        assert s2.spool.list("in") == [a]


def test_fail_replay_and_audit_chain(store: Store) -> None:
    a = store.accept(b"bad", Received("p", "as2", message_id="<x>"))
    store.spool.claim()
    store.fail(a, "mapping amazon/850 failed: N1 missing")
    assert store.spool.list("failed") == [a]
    store.replay(a)
    it = store.spool.item(a)
    assert it.state == "in" and it.meta["reason"] is None
    assert [e["event"] for e in events(store.audit.dir, item_id=a)] == [
        "item.received",
        "item.failed",
        "item.replayed",
    ]
    assert verify(store.audit.dir).ok


def test_rebuild_gives_the_same_answers(paths: dict[str, str], tmp_path: Path) -> None:
    with Store.open(**paths) as s:
        item = s.accept(b"ISA", Received("amz", "as2", message_id="<m1>"))
        doc_item = s.spool.put(
            "out/erp",
            json.dumps(
                {
                    "doc_id": "po1",
                    "partner": "amz",
                    "document": "purchase_order",
                    "po_number": "PO-1",
                    "received_at": T0.isoformat(),
                }
            ).encode(),
            {},
        )
        s.index_document(json.loads(s.spool.get(doc_item)[0]), item_id=doc_item)
        s.index_document(
            {
                "doc_id": "inv1",
                "partner": "amz",
                "document": "invoice",
                "invoice_number": "I1",
                "po_number": "PO-1",
                "received_at": (T0 + timedelta(days=1)).isoformat(),
            }
        )
        s.set_document_state("po1", "invoiced")
        s.record_interchange("amz", "AMAZON", "000000001", item, received_at=T0)
        s.schedule_delivery(doc_item, "erp", "k1")
        s.delivery_attempted(doc_item, "erp", ok=False, error="503", next_retry_at=T0 + timedelta(minutes=1))
        s.message_sent("amz", "<o1>", None)
        s.mdn_received("amz", "<o1>", "processed")
        for _ in range(3):
            s.control_numbers.next("amz", "isa")
        before = s.index.snapshot()
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "index",
            "rebuild",
            "--spool",
            paths["spool_dir"],
            "--audit",
            paths["audit_dir"],
            "--index",
            paths["index_path"],
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[-1])["documents"] == 2
    with Store.open(**paths) as s:
        assert s.index.snapshot() == before
        assert [d["doc_id"] for d in s.index.documents_for_po("amz", "PO-1", "invoice")] == ["inv1"]
        assert s.duplicate_interchange("amz", "AMAZON", "000000001", timedelta(days=1), now=T0) == item
        assert s.control_numbers.next("amz", "isa") == 4
    # from nothing at all: the index file deleted
    os.unlink(paths["index_path"])
    res = runner.invoke(
        cli,
        [
            "index",
            "rebuild",
            "--spool",
            paths["spool_dir"],
            "--audit",
            paths["audit_dir"],
            "--index",
            paths["index_path"],
        ],
    )
    assert res.exit_code == 0, res.output
    with Store.open(**paths) as s:
        assert s.control_numbers.current("amz", "isa") == 4


def test_rebuild_refuses_while_the_gateway_runs(store: Store, paths: dict[str, str]) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "index",
            "rebuild",
            "--spool",
            paths["spool_dir"],
            "--audit",
            paths["audit_dir"],
            "--index",
            paths["index_path"],
        ],
    )
    assert res.exit_code == 1 and "in use by another gateway process" in res.output


def test_operator_commands_beside_a_running_store(store: Store, paths: dict[str, str]) -> None:
    a = store.accept(b"ISA*bad", Received("amz", "as2", message_id="<m9>"))
    store.spool.claim()
    store.fail(a, "unknown partner ID AMAZON2")
    opts = ["--spool", paths["spool_dir"], "--audit", paths["audit_dir"], "--index", paths["index_path"]]
    runner = CliRunner()
    res = runner.invoke(cli, ["failed", "list", *opts, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == [
        {
            "id": a,
            "partner": "amz",
            "received_at": store.spool.item(a).meta["received_at"],
            "size": 7,
            "reason": "unknown partner ID AMAZON2",
        }
    ]
    res = runner.invoke(cli, ["doc", "show", a, *opts])
    assert res.exit_code == 0, res.output
    assert (
        "state failed" in res.output
        and "unknown partner ID AMAZON2" in res.output
        and "item.failed" in res.output
    )
    res = runner.invoke(cli, ["replay", a, *opts])
    assert res.exit_code == 0, res.output
    assert store.spool.item(a).state == "in"
    # the daemon's audit writer and the CLI's share one chain
    store.record("item.moved", item_id=a, data={"to": "in"})
    assert verify(paths["audit_dir"]).ok
    assert [e["event"] for e in events(paths["audit_dir"], item_id=a)][-2:] == ["item.replayed", "item.moved"]
    res = runner.invoke(cli, ["replay", a, *opts])
    assert res.exit_code == 1 and "not failed/" in res.output
    res = runner.invoke(cli, ["doc", "show", "nope", *opts])
    assert res.exit_code == 1
