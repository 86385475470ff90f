"""The queue that :class:`~gateway.store.intake.Intake` and :class:`~gateway.store.later.LaterIndex` share:
items queued by any thread, taken in batches by one thread of its own, started with the first item."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Drain(Generic[T]):
    thread_name = "drain"
    batch_max: int | None = None  # items per batch; None: everything queued

    def __init__(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._queue: list[T] = []
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def closed(self) -> bool:
        """Whether the queue refuses new items (``close`` was called)."""
        return self._closed

    def _queue_locked(self, item: T) -> None:
        """Queue ``item`` (the caller holds ``_cv``); refused once closed."""
        if self._closed:
            raise RuntimeError("the store is closed")
        self._queue.append(item)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
        self._cv.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Let the thread finish what is queued, then stop it (waiting up to ``timeout`` seconds for
        it); later items are refused."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                n = len(self._queue) if self.batch_max is None else self.batch_max
                batch, self._queue = self._queue[:n], self._queue[n:]
                self._taken(batch)
            self._handle(batch)
            self._rest()

    def _rest(self) -> None:
        """Called after each batch, without ``_cv``: a subclass may wait here for the next batch to
        gather more items."""

    def _taken(self, batch: list[T]) -> None:
        """Called with ``_cv`` held as ``batch`` leaves the queue."""

    def _handle(self, batch: list[T]) -> None:
        raise NotImplementedError
