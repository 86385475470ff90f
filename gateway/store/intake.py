"""Arrivals made durable in batches by one thread.

Every transport hands what it received to the store and answers its partner only once that is durable.
With one thread per arrival, eight AS2 messages in flight meant eight threads each writing two files and
an audit line, taking the trail's lock and waiting for a durability round, all of them passing the GIL
back and forth with the reactor. Here the reactor (or a transport's own thread) only queues the arrival
and gets a :class:`concurrent.futures.Future`; one thread takes everything queued, stages it, appends
all the ``item.received`` events under one hold of the trail's lock and makes the lot durable in one
round (:meth:`Store.accept_many`), then resolves each future with the item id or the error that kept
the arrival out. While a batch runs, new arrivals queue for the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future

import structlog

from gateway.store.drain import Drain
from gateway.transport.inbox import Received

log = structlog.get_logger(__name__)

Arrival = tuple[bytes | None, str | None, Received]
MAX_BATCH = 64


class Intake(Drain[tuple[Arrival, Future[str]]]):
    thread_name = "intake"
    batch_max = MAX_BATCH

    def __init__(self, accept_many: Callable[[Sequence[Arrival]], list[str | Exception]]) -> None:
        super().__init__()
        self._accept_many = accept_many
        self.batches = 0  # batches written (for tests and benchmarks)

    def submit(self, payload: bytes | None, path: str | None, received: Received) -> Future[str]:
        """Queue an arrival (``payload``, or the file at ``path`` to move in); the future resolves to
        its spool item id once it is durable, or to the error that kept it out."""
        fut: Future[str] = Future()
        with self._cv:
            self._queue_locked(((payload, path, received), fut))
        return fut

    def close(self) -> None:
        """Write everything queued, then stop the thread; later submissions are refused."""
        with self._cv:
            self._closed = True
            self._cv.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _handle(self, batch: list[tuple[Arrival, Future[str]]]) -> None:
        try:
            results = self._accept_many([arrival for arrival, _ in batch])
        except Exception as exc:  # a bug must not kill the thread: each caller gets an error answer
            log.exception("intake.batch_failed", arrivals=len(batch))
            results = [RuntimeError(f"not stored: {exc}") for _ in batch]
        self.batches += 1
        for (_, fut), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)
