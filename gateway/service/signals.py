"""Signal handlers that only schedule work for the reactor, never do it themselves.

A Python signal handler runs in the main thread between two bytecodes of whatever that thread was doing:
possibly in the middle of writing a log line, holding the log writer's lock. Twisted's own SIGTERM and
SIGINT handlers log ("Received SIGTERM, shutting down.") right there; when the signal lands inside a log
write, the handler waits for a lock its own thread holds and the daemon never stops (seen when a partner's
SFTP disconnect was being logged as systemd stopped the service). These handlers take no lock and write
nothing: they hand the signal to the reactor (``callFromThread``, which is what Twisted itself relies on
from a handler), and the reactor logs it and stops, or reloads, as ordinary work.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog
from twisted.internet.error import ReactorNotRunning

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_handler(reactor: Any) -> Callable[[int, FrameType | None], None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(_stop, reactor, signum)

    return on_signal


def reload_handler(reactor: Any, reload: Callable[[], object]) -> Callable[[int, FrameType | None], None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(reload)

    return on_signal


def _stop(reactor: Any, signum: int) -> None:
    log.info("signal_received", signal=signal.Signals(signum).name, action="stop")
    try:
        reactor.stop()
    except ReactorNotRunning:
        pass  # a second signal while the first stop is under way


def install(reactor: Any, reload: Callable[[], object]) -> None:
    """SIGHUP reloads now; SIGTERM and SIGINT stop, replacing Twisted's handlers once the reactor has
    installed them (its after-startup phase)."""
    signal.signal(signal.SIGHUP, reload_handler(reactor, reload))

    def replace() -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, stop_handler(reactor))

    reactor.addSystemEventTrigger("after", "startup", replace)
