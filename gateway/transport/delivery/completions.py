"""Finished deliveries, recorded in batches: one durability round for every item delivered meanwhile.

Each delivered item needs its ``delivery.attempted`` event and its move to ``done/``. Done one by one,
that is four durability rounds per document, and they queue behind the pipeline's rounds. Instead,
:meth:`Completions.delivered` queues the item; one thread writes the queued items as one store batch
(see :mod:`gateway.store.batch`) while the next ones queue for the following batch, so a busy
destination pays one round per batch, not per document. Each caller's Deferred fires once its
item is out of the queue folder (or fails with the error, leaving the item queued: it is sent again
later under the same idempotency key).
"""

from __future__ import annotations

from typing import Any

import structlog
from twisted.internet import defer, threads

log = structlog.get_logger(__name__)
MAX_BATCH = 64


class Completions:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._queue: list[tuple[str, str, defer.Deferred[None]]] = []
        self._running = False
        self.batches = 0

    def delivered(self, item_id: str, destination: str) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self._queue.append((item_id, destination, d))
        self._pump()
        return d

    def _pump(self) -> None:
        if self._running:
            return
        if not self._queue:
            return
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        self._running = True
        work = threads.deferToThread(self._write, [(item_id, dest) for item_id, dest, _ in batch])
        work.addBoth(self._written, batch)

    def _written(self, result: Any, batch: list[tuple[str, str, defer.Deferred[None]]]) -> None:
        self._running = False
        self.batches += 1
        for i, (_, _, d) in enumerate(batch):
            if isinstance(result, list) and result[i] is None:
                d.callback(None)
            else:
                error = result[i] if isinstance(result, list) else result
                d.errback(error if not isinstance(error, BaseException) else error)
        self._pump()
        if not self._running:  # idle: what the last batch deferred (moves' folders) made durable now
            threads.deferToThread(self.store.spool.group_commit.flush).addErrback(
                lambda f: log.error("delivery_flush_failed", error=str(f.value)))

    def _write(self, items: list[tuple[str, str]]) -> list[BaseException | None]:
        """Blocking: stage every item, one round, then the moves. Returns one error (or None) per item."""
        batch = self.store.batch()
        errors: list[BaseException | None] = []
        for item_id, dest in items:
            try:
                batch.delivery_attempted(item_id, dest, True)
                batch.move(item_id, "done", f"delivered to {dest}")
                errors.append(None)
            except Exception as exc:  # e.g. the item vanished: that item only
                errors.append(exc)
        try:
            batch.commit()
        except Exception as exc:
            return [exc] * len(items)
        return errors
