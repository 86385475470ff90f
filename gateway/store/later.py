"""Index projection off the answer path: audited events applied by one background thread, in batches.

A transport answers its partner once the item and its ``item.received`` event are durable; the index
row that event projects (the ``messages`` row used to spot a resent AS2 Message-ID) is derived data.
Writing it before answering made every arrival wait for the index lock, which a worker applying a
batch of events holds for tens of milliseconds. Here arrivals only queue the event; one thread applies
everything queued in one SQLite transaction. Until then :meth:`LaterIndex.has_message` still knows
the arrival, so a resend in that window is recognised.

The thread rests ``LINGER`` seconds after each transaction, so the next one takes what arrived
meanwhile: under load a few large transactions instead of one per intake round, and fewer turns at the
GIL taken from the reactor. An A/B of the AS2 intake (8 rounds of 3,000 messages, 8 in flight) went
from 792 to 845 msg/s, every round faster (1.03-1.19x). :meth:`LaterIndex.flush` cuts the rest short.

The trail is the record: after a crash the index catches up from it (``rebuild.catch_up``) as it does
for any applied-but-not-synced index commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import structlog

from gateway.store.drain import Drain

log = structlog.get_logger(__name__)

Event = dict[str, Any]
LINGER = 0.02  # seconds the thread rests between transactions


class LaterIndex(Drain[Event]):
    thread_name = "index-later"

    def __init__(self, apply_many: Callable[[list[tuple[Event, None]]], None],
                 on_error: Callable[[list[Event], Exception], None]) -> None:
        super().__init__()
        self._apply_many = apply_many
        self._on_error = on_error
        self._messages: dict[tuple[str, str], int] = {}  # (partner, message id) -> events queued or applying
        self._busy = False
        self._hurry = threading.Event()  # set by flush(): no rest before the next transaction
        self.linger = LINGER
        self.batches = 0  # transactions run (for tests and benchmarks)

    def add(self, ev: Event) -> None:
        """Queue an audited (durable) event for the index."""
        with self._cv:
            self._queue_locked(ev)
            key = _message_key(ev)
            if key is not None:
                self._messages[key] = self._messages.get(key, 0) + 1

    def has_message(self, partner: str, message_id: str) -> bool:
        """Whether an arrival with this message id is queued or being applied."""
        with self._cv:
            return (partner, message_id) in self._messages

    def flush(self) -> None:
        """Return once everything queued so far is applied (or reported as failed)."""
        with self._cv:
            while self._queue or self._busy:
                if self._thread is None or not self._thread.is_alive():
                    break
                self._hurry.set()
                self._cv.wait(0.5)

    def close(self, timeout: float | None = 5.0) -> None:
        self.flush()
        self._hurry.set()  # a resting thread gets up at once
        super().close(timeout)
        if self._queue:  # the thread is gone (it never is, short of a bug): apply what is left here
            self._apply(self._queue)

    def _taken(self, batch: list[Event]) -> None:
        self._busy = True

    def _rest(self) -> None:
        if self.linger > 0 and not self._closed:
            self._hurry.wait(self.linger)
        self._hurry.clear()

    def _handle(self, batch: list[Event]) -> None:
        try:
            self._apply(batch)
        finally:
            with self._cv:
                for ev in batch:
                    key = _message_key(ev)
                    if key is not None:
                        left = self._messages.get(key, 1) - 1
                        if left > 0:
                            self._messages[key] = left
                        else:
                            self._messages.pop(key, None)
                self._busy = False
                self._cv.notify_all()

    def _apply(self, batch: list[Event]) -> None:
        try:
            self._apply_many([(ev, None) for ev in batch])
            self.batches += 1
        except (sqlite3.Error, OSError) as exc:
            self._on_error(batch, exc)
        except Exception as exc:  # a bug must not kill the thread: the trail keeps the events
            log.exception("index.later_failed", events=len(batch))
            self._on_error(batch, exc)


def _message_key(ev: Event) -> tuple[str, str] | None:
    message_id = (ev.get("keys") or {}).get("message_id")
    if ev.get("event") == "item.received" and message_id and ev.get("partner"):
        return (ev["partner"], message_id)
    return None
