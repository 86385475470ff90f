"""The spool side of :class:`gateway.transport.inbox.Inbox`."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from gateway.store.intake import Arrival
from gateway.transport.inbox import Received

if TYPE_CHECKING:
    from gateway.store.store import Store


class SpoolInbox:
    """Stores what transports receive in ``in/``, durably and audited, before they answer. Arrivals are
    written in batches by the store's intake thread (:mod:`gateway.store.intake`); the index row of each
    is written just after, off the answer path (``Store.message_received`` knows the arrival
    meanwhile)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def accept(self, payload: bytes, received: Received) -> str:
        return self.submit(payload, received).result()

    def accept_file(self, path: str, received: Received) -> str:
        return self.submit_file(path, received).result()

    def submit(self, payload: bytes, received: Received, stage_now: bool = False) -> Future[str]:
        """Queue ``payload``; with ``stage_now`` the item is written here first (see
        :meth:`submit_file`)."""
        if not stage_now:
            return self.store.intake.submit(payload, None, received)
        return self._stage_now((payload, None, received))

    def submit_file(self, path: str, received: Received, stage_now: bool = False) -> Future[str]:
        """Queue the file at ``path``. With ``stage_now`` the item is written here, in the caller's
        thread, and only its durability round is queued: the intake thread's round for the arrival
        before it then overlaps with this one's writing. For a caller with time to spare (SFTP's
        reactor: uploads into the store 829 -> 887 files/s, 8 interleaved rounds, bench/sftp/RESULTS.md),
        not for AS2's busy reactor (837 -> 778 msg/s in the same kind of A/B). Nothing here waits for
        a lock held elsewhere: when another thread or process is appending to the audit trail, the
        events are appended in the round instead."""
        if not stage_now:
            return self.store.intake.submit(None, path, received)
        return self._stage_now((None, path, received))

    def _stage_now(self, arrival: Arrival) -> Future[str]:
        intake = self.store.intake
        if intake.closed:  # stopping: nothing is written that no round would make durable
            return _failed(RuntimeError("the store is closed"))
        try:
            staged = self.store.stage_arrivals([arrival], wait=False)
        except Exception as exc:  # the caller gets its answer from the future, as when queued
            return _failed(exc)
        if isinstance(staged.out[0], Exception):  # not staged (the file went away, the disk is full)
            return _failed(staged.out[0])
        try:
            return intake.submit_staged(staged)[0]
        except RuntimeError as exc:  # the intake closed meanwhile (another thread stopped the store)
            self.store.drop_staged(staged, exc)
            return _failed(exc)


def _failed(exc: Exception) -> Future[str]:
    fut: Future[str] = Future()
    fut.set_exception(exc)
    return fut
