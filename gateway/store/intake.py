"""Arrivals made durable in batches by one thread.

Every transport hands what it received to the store and answers its partner only once that is durable.
With one thread per arrival, eight AS2 messages in flight meant eight threads each writing two files and
an audit line, taking the trail's lock and waiting for a durability round, all of them passing the GIL
back and forth with the reactor. Here the reactor (or a transport's own thread) only queues the arrival
and gets a :class:`concurrent.futures.Future`; one thread takes everything queued, stages it, appends
all the ``item.received`` events under one hold of the trail's lock and makes the lot durable in one
round (:meth:`Store.stage_arrivals`, :meth:`Store.commit_arrivals`), then resolves each future with the
item id or the error that kept the arrival out. While a batch runs, new arrivals queue for the next one.

A caller may also stage its arrival itself and queue only the round (:meth:`Intake.submit_staged`):
SFTP does so on the reactor, which has time to spare there, so the upload is written while the round
before it waits for the disk (see ``SpoolInbox.submit_file``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

import structlog

from gateway.store.drain import Drain
from gateway.transport.inbox import Received

if TYPE_CHECKING:
    from gateway.store.store import StagedArrivals

log = structlog.get_logger(__name__)

Arrival = tuple[bytes | None, str | None, Received]
MAX_BATCH = 64
# queued: an arrival to stage here, with its future; or a batch its caller staged, with its futures
Entry = tuple[Arrival, "Future[str]"] | tuple["StagedArrivals", "list[Future[str]]"]


class Intake(Drain[Entry]):
    thread_name = "intake"
    batch_max = MAX_BATCH

    def __init__(
        self,
        stage: Callable[[Sequence[Arrival]], StagedArrivals],
        commit: Callable[[list[StagedArrivals]], list[list[str | Exception]]],
    ) -> None:
        super().__init__()
        self._stage = stage
        self._commit = commit
        self.batches = 0  # rounds written (for tests and benchmarks)

    def submit(self, payload: bytes | None, path: str | None, received: Received) -> Future[str]:
        """Queue an arrival (``payload``, or the file at ``path`` to move in); the future resolves to
        its spool item id once it is durable, or to the error that kept it out."""
        fut: Future[str] = Future()
        with self._cv:
            self._queue_locked(((payload, path, received), fut))
        return fut

    def submit_staged(self, staged: StagedArrivals) -> list[Future[str]]:
        """Queue the round of arrivals the caller staged (:meth:`Store.stage_arrivals`); one future per
        arrival, resolved as :meth:`submit`'s."""
        futures: list[Future[str]] = [Future() for _ in staged.out]
        with self._cv:
            self._queue_locked((staged, futures))
        return futures

    def _handle(self, batch: list[Entry]) -> None:
        arrivals: list[Arrival] = []
        arrival_futures: list[Future[str]] = []
        staged: list[StagedArrivals] = []
        futures: list[list[Future[str]]] = []
        for head, fut in batch:
            if isinstance(fut, Future):  # an arrival, with its future
                arrivals.append(head)  # type: ignore[arg-type]
                arrival_futures.append(fut)
            else:  # a batch its caller staged, with a future per arrival
                staged.append(head)  # type: ignore[arg-type]
                futures.append(fut)
        if arrivals:
            try:
                staged.append(self._stage(arrivals))
                futures.append(arrival_futures)
            except Exception as exc:  # a bug must not kill the thread: each caller gets an error answer
                log.exception("intake.batch_failed", arrivals=len(arrivals))
                _resolve(arrival_futures, [RuntimeError(f"not stored: {exc}")] * len(arrival_futures))
        if not staged:
            return
        try:
            results = self._commit(staged)
        except Exception as exc:  # a bug, as above: each caller gets an error answer
            log.exception("intake.round_failed", arrivals=sum(len(f) for f in futures))
            results = [[RuntimeError(f"not stored: {exc}")] * len(f) for f in futures]
        self.batches += 1
        for futs, got in zip(futures, results, strict=True):
            _resolve(futs, got)


def _resolve(futures: list[Future[str]], results: Sequence[str | Exception]) -> None:
    for fut, result in zip(futures, results, strict=True):
        if isinstance(result, Exception):
            fut.set_exception(result)
        else:
            fut.set_result(result)
