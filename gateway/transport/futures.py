"""Waiting on the reactor for work done in another thread (the store's intake, see ``AsyncInbox``)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from twisted.internet import defer


def when_done(reactor: Any, fut: Future[str]) -> defer.Deferred[str]:
    """A Deferred that fires on the reactor thread with ``fut``'s result (or its error)."""
    d: defer.Deferred[str] = defer.Deferred()

    def fire(f: Future[str]) -> None:
        exc = f.exception()
        if exc is not None:
            d.errback(exc)
        else:
            d.callback(f.result())

    fut.add_done_callback(lambda f: reactor.callFromThread(fire, f))
    return d
