"""The intake thread: arrivals from many callers made durable in shared batches, each answered alone."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gateway.store import DiskFull, SpoolInbox, Store, verify
from gateway.store.auditcheck import events
from gateway.store.intake import Intake
from gateway.transport.inbox import Received


def test_concurrent_arrivals_share_batches_and_each_gets_its_own_item(store: Store) -> None:
    inbox = SpoolInbox(store)
    payloads = {f"<m{i}>": os.urandom(700) + str(i).encode() for i in range(120)}

    def send(msg_id: str) -> tuple[str, str]:
        return msg_id, inbox.accept(payloads[msg_id], Received("amz", "as2", message_id=msg_id))

    with ThreadPoolExecutor(12) as ex:
        got = dict(ex.map(send, payloads))
    assert len(set(got.values())) == 120
    for msg_id, item_id in got.items():
        payload, meta = store.spool.get(item_id)
        assert payload == payloads[msg_id] and meta["message_id"] == msg_id
    assert store.intake.batches < 120  # callers that came while a batch was written shared the next one
    received = {e["item_id"] for e in events(store.audit.dir) if e["event"] == "item.received"}
    assert received == set(got.values())
    store.later.flush()
    assert all(store.message_received("amz", m) for m in payloads)
    store.close()
    assert verify(store.audit.dir).ok


def _commit(store: Store):  # type: ignore[no-untyped-def]
    return lambda batches: store.commit_arrivals(batches, index_later=True)


def test_one_bad_arrival_fails_alone(store: Store, tmp_path: Path) -> None:
    entered, gate = threading.Event(), threading.Event()
    calls: list[int] = []

    def held(arrivals):  # type: ignore[no-untyped-def]
        entered.set()
        gate.wait(5)  # the first batch is held, so the next three queue and are written as one
        calls.append(len(arrivals))
        return store.stage_arrivals(arrivals)

    store.intake = Intake(held, _commit(store))
    upload = tmp_path / "upload.edi"
    upload.write_bytes(b"UNB+UNOA~")
    first = store.intake.submit(b"first", None, Received("p", "test"))
    assert entered.wait(5)
    a = store.intake.submit(b"a", None, Received("p", "test"))
    missing = store.intake.submit(None, str(tmp_path / "gone.edi"), Received("p", "sftp"))
    b = store.intake.submit(None, str(upload), Received("p", "sftp", filename="upload.edi"))
    gate.set()
    assert store.spool.get(a.result(5))[0] == b"a"
    assert store.spool.get(b.result(5))[0] == b"UNB+UNOA~"
    with pytest.raises(FileNotFoundError):
        missing.result(5)
    assert calls == [1, 3]
    assert sorted(store.spool.list("in")) == sorted([first.result(), a.result(), b.result()])
    assert not upload.exists()  # moved in
    received = [e["item_id"] for e in events(store.audit.dir) if e["event"] == "item.received"]
    assert sorted(received) == sorted([first.result(), a.result(), b.result()])


def test_close_writes_what_is_queued_then_refuses(store: Store) -> None:
    gate = threading.Event()
    store.intake = Intake(lambda arrivals: (gate.wait(5), store.stage_arrivals(arrivals))[1], _commit(store))
    queued = [store.intake.submit(f"p{i}".encode(), None, Received("p", "test")) for i in range(5)]
    closer = threading.Thread(target=store.intake.close)
    closer.start()
    gate.set()
    closer.join(10)
    assert not closer.is_alive()
    assert sorted(store.spool.list("in")) == sorted(f.result(0) for f in queued)
    with pytest.raises(RuntimeError, match="closed"):
        store.intake.submit(b"late", None, Received("p", "test"))


def test_a_bug_in_a_batch_answers_every_caller_with_an_error() -> None:
    def broken(arrivals):  # type: ignore[no-untyped-def]
        raise KeyError("bug")

    intake = Intake(broken, broken)
    futs = [intake.submit(b"x", None, Received("p", "test")) for _ in range(3)]
    for f in futs:
        with pytest.raises(RuntimeError, match="not stored"):
            f.result(5)
    assert intake.submit(b"y", None, Received("p", "test")).exception(5) is not None  # the thread lives on
    intake.close()


def test_a_failed_round_fails_the_whole_batch_and_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_a, **_k):  # type: ignore[no-untyped-def]
        raise DiskFull(28, "no space left for the store: No space left on device", store.spool.root)

    monkeypatch.setattr(store.spool.group_commit, "_flush", full)
    results = store.accept_many([(b"a", None, Received("p", "test")), (b"b", None, Received("p", "test"))])
    assert all(isinstance(r, DiskFull) for r in results) and results[0] is not results[1]
    assert store.spool.list("in") == []
    names = os.listdir(store.spool.dir("in"))
    assert not [n for n in names if n.startswith(".tmp-")]
    discarded = [e for e in events(store.audit.dir) if e["event"] == "item.discarded"]
    assert len(discarded) == 2  # each lost arrival is on record as discarded


def test_an_arrival_staged_by_its_caller_shares_the_round_of_the_queued_ones(store: Store, tmp_path: Path) -> None:
    """SpoolInbox.submit_file(stage_now=True) writes the item in the caller's thread; the intake thread
    makes it durable in one round with the arrivals queued meanwhile, and each gets its own answer."""
    entered, gate = threading.Event(), threading.Event()

    def held(arrivals):  # type: ignore[no-untyped-def]
        entered.set()
        gate.wait(5)
        return store.stage_arrivals(arrivals)

    store.intake = Intake(held, _commit(store))
    inbox = SpoolInbox(store)
    first = store.intake.submit(b"first", None, Received("p", "test"))
    assert entered.wait(5)  # the intake thread is busy with the first one
    upload = tmp_path / "upload.edi"
    upload.write_bytes(b"ISA*staged~")
    staged = inbox.submit_file(str(upload), Received("p", "sftp", filename="upload.edi"), stage_now=True)
    assert not upload.exists()  # already moved into the spool, not yet durable: not listed
    assert store.spool.list("in") == []
    queued = store.intake.submit(b"queued", None, Received("p", "test"))
    rounds = store.intake.batches
    gate.set()
    assert store.spool.get(staged.result(5))[0] == b"ISA*staged~"
    assert store.spool.get(queued.result(5))[0] == b"queued"
    assert store.intake.batches == rounds + 2  # the first's round, then one for the other two
    received = [e["item_id"] for e in events(store.audit.dir) if e["event"] == "item.received"]
    assert sorted(received) == sorted([first.result(), staged.result(), queued.result()])
    missing = inbox.submit_file(str(tmp_path / "gone.edi"), Received("p", "sftp"), stage_now=True)
    with pytest.raises(FileNotFoundError):
        missing.result(0)  # answered at once: nothing was staged
    store.close()
    assert verify(store.audit.dir).ok


def test_staging_in_the_caller_never_waits_for_the_trail_the_round_records_the_event(
    store: Store, tmp_path: Path
) -> None:
    """While another thread holds the audit trail's lock, an arrival staged with stage_now is written
    at once and its item.received event is appended by the intake thread, in the round."""
    upload = tmp_path / "u.edi"
    upload.write_bytes(b"ISA*busy~")
    holding, release = threading.Event(), threading.Event()

    def hold_the_trail() -> None:
        with store.audit._locked():
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_trail)
    holder.start()
    assert holding.wait(5)
    try:
        staged = store.stage_arrivals([(None, str(upload), Received("p", "sftp"))], wait=False)
        assert staged.out == [None] and len(staged.unrecorded) == 1 and not staged.ok  # did not wait
    finally:
        release.set()
        holder.join(5)
    fut = store.intake.submit_staged(staged)[0]
    item_id = fut.result(5)
    assert store.spool.get(item_id)[0] == b"ISA*busy~"
    assert [e["item_id"] for e in events(store.audit.dir) if e["event"] == "item.received"] == [item_id]
    store.close()
    assert verify(store.audit.dir).ok


def test_an_arrival_staged_after_the_intake_closed_is_given_back_and_on_record_as_discarded(
    store: Store, tmp_path: Path
) -> None:
    """Stopping: stage_now refuses at once once the intake is closed; a batch staged just before the
    close is dropped whole (the upload back where it was, its event followed by item.discarded)."""
    inbox = SpoolInbox(store)
    upload = tmp_path / "late.edi"
    upload.write_bytes(b"ISA*late~")
    staged = store.stage_arrivals([(None, str(upload), Received("p", "sftp", filename="late.edi"))], wait=False)
    assert not upload.exists() and len(staged.ok) == 1
    store.intake.close()
    refused = inbox.submit_file(str(upload), Received("p", "sftp"), stage_now=True)
    with pytest.raises(RuntimeError, match="closed"):
        refused.result(0)
    with pytest.raises(RuntimeError, match="closed"):
        store.intake.submit_staged(staged)
    store.drop_staged(staged, RuntimeError("the store is closed"))
    assert upload.read_bytes() == b"ISA*late~"  # given back, not lost
    assert isinstance(staged.out[0], RuntimeError)
    assert store.spool.list("in") == [] and not [n for n in os.listdir(store.spool.dir("in")) if not n.startswith(".")]
    kinds = [e["event"] for e in events(store.audit.dir)]
    assert kinds[-2:] == ["item.received", "item.discarded"]
    store.close()
    assert verify(store.audit.dir).ok
