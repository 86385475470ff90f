"""Arrivals indexed off the answer path (``accept(..., index_later=True)``, used by SpoolInbox)."""

from __future__ import annotations

import sqlite3
import threading

from gateway.store import Store, verify
from gateway.store.inbox import SpoolInbox
from gateway.store.later import LaterIndex
from gateway.transport.inbox import Received


def test_an_arrival_is_known_at_once_and_indexed_soon_after(store: Store) -> None:
    gate = threading.Event()
    real = store.index.apply_many

    def held(events, marks=()):  # the index stays behind until the test lets it go
        gate.wait(10)
        real(events, marks)

    store.later._apply_many = held
    item = SpoolInbox(store).accept(b"ISA*...", Received("amz", "as2", message_id="<m1@amazon>"))
    assert store.spool.get(item)[0] == b"ISA*..."  # durable and listed before the index has it
    assert store.index.message("amz", "<m1@amazon>", "in") is None
    assert store.message_received("amz", "<m1@amazon>")  # a resend now is still seen as one
    assert not store.message_received("amz", "<m2@amazon>")
    gate.set()
    store.later.flush()
    assert store.index.message("amz", "<m1@amazon>", "in")["item_id"] == item
    assert store.message_received("amz", "<m1@amazon>")
    assert not store.later.has_message("amz", "<m1@amazon>")  # now answered by the index alone


def test_many_concurrent_arrivals_share_index_transactions(store: Store) -> None:
    inbox = SpoolInbox(store)
    items: list[str] = []
    lock = threading.Lock()

    def writer(t: int) -> None:
        for i in range(25):
            got = inbox.accept(f"{t}-{i}".encode(), Received("p1", "sftp", message_id=f"u{t}:/inbox/f{i}"))
            with lock:
                items.append(got)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    store.later.flush()
    assert len(items) == 100
    for t in range(4):
        for i in range(25):
            assert store.index.message("p1", f"u{t}:/inbox/f{i}", "in") is not None
    assert 1 <= store.later.batches <= 100


def test_events_that_come_while_the_thread_rests_share_one_transaction_and_flush_does_not_wait(
    store: Store,
) -> None:
    import time

    later = store.later
    later.linger = 5.0  # longer than the test: only flush() may end a rest early
    inbox = SpoolInbox(store)
    inbox.accept(b"first", Received("amz", "as2", message_id="<first@amazon>"))
    deadline = time.monotonic() + 5
    while later.batches < 1:  # the first transaction ran; the thread now rests
        assert time.monotonic() < deadline
        time.sleep(0.005)
    for i in range(10):
        inbox.accept(f"po {i}".encode(), Received("amz", "as2", message_id=f"<m{i}@amazon>"))
    time.sleep(0.05)
    assert later.batches == 1  # queued while it rests
    assert all(later.has_message("amz", f"<m{i}@amazon>") for i in range(10))  # and known as arrivals
    t0 = time.monotonic()
    later.flush()
    assert time.monotonic() - t0 < 2.0  # the rest was cut short
    assert later.batches == 2  # the ten in one transaction
    assert all(store.index.message("amz", f"<m{i}@amazon>", "in") for i in range(10))


def test_an_index_failure_marks_the_index_stale_and_later_events_still_apply(store: Store) -> None:
    real = store.index.apply_many
    calls = []

    def flaky(events, marks=()):
        calls.append(len(events))
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        real(events, marks)

    store.later._apply_many = flaky
    inbox = SpoolInbox(store)
    first = inbox.accept(b"one", Received("p1", "as2", message_id="a"))
    store.later.flush()
    assert store.index_stale and store.index.message("p1", "a", "in") is None
    assert store.spool.get(first)[0] == b"one"  # the item and its event stay on record
    inbox.accept(b"two", Received("p1", "as2", message_id="b"))
    store.later.flush()
    assert store.index.message("p1", "b", "in") is not None


def test_close_applies_what_is_queued_and_the_trail_is_whole(paths: dict[str, str]) -> None:
    s = Store.open(**paths, node="t1")
    inbox = SpoolInbox(s)
    for i in range(20):
        inbox.accept(b"x%d" % i, Received("p1", "as2", message_id=f"m{i}"))
    s.close()
    again = Store.open(**paths, node="t1")
    try:
        assert all(again.index.message("p1", f"m{i}", "in") is not None for i in range(20))
    finally:
        again.close()
    assert verify(paths["audit_dir"]).events >= 20


def test_a_closed_later_index_refuses_new_events() -> None:
    later = LaterIndex(lambda events: None, lambda events, exc: None)
    later.close()
    try:
        later.add({"event": "item.received", "seq": 1})
    except RuntimeError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed LaterIndex took an event")
