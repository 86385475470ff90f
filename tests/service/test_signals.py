"""Signal handlers only hand the signal to the reactor: they must never block on the log writer's lock,
which the interrupted main thread may be holding (the daemon then never stopped)."""

from __future__ import annotations

import io
import signal
import threading

import structlog
from twisted.internet.error import ReactorNotRunning

from gateway.service import signals


class FakeReactor:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.running = True
        self.stopped = 0
        self.triggers: list[tuple] = []

    def callFromThread(self, fn, *args):  # noqa: N802 (Twisted's name)
        self.calls.append((fn, args))

    def stop(self) -> None:  # like Twisted's: a second stop before shutdown ends raises
        if self.stopped:
            raise ReactorNotRunning("Can't stop reactor that isn't running.")
        self.stopped += 1

    def addSystemEventTrigger(self, phase, event, fn):  # noqa: N802
        self.triggers.append((phase, event, fn))


def _interrupted_write(logger: structlog.WriteLogger, handler) -> bool:
    """Run ``handler`` as a signal would: while this thread holds the log writer's lock mid-write."""
    done = threading.Event()

    def main_thread() -> None:
        logger._lock.acquire()
        handler(signal.SIGTERM, None)
        done.set()
        try:
            logger._lock.release()
        except RuntimeError:
            pass  # the test released it to free a handler that was stuck on it

    threading.Thread(target=main_thread, daemon=True).start()
    return done.wait(3)


def test_stop_handler_does_not_log_or_lock_inside_the_handler() -> None:
    out = io.StringIO()
    structlog.configure(processors=[structlog.processors.JSONRenderer()],
                        logger_factory=structlog.WriteLoggerFactory(file=out), cache_logger_on_first_use=False)
    try:
        writer = structlog.WriteLogger(out)  # the same per-file lock every logger on `out` takes
        # What Twisted's handler does (log, then schedule) blocks for good in that spot:
        assert not _interrupted_write(writer, lambda signum, frame: structlog.get_logger().info("received"))
        writer._lock.release()  # let the stuck thread finish
        reactor = FakeReactor()
        assert _interrupted_write(writer, signals.stop_handler(reactor)), "the SIGTERM handler blocked"
        assert reactor.stopped == 0 and len(reactor.calls) == 1  # nothing done in the handler itself
        fn, args = reactor.calls[0]
        fn(*args)  # the reactor runs it as ordinary work: logged, stopped
        assert reactor.stopped == 1 and '"signal": "SIGTERM"' in out.getvalue()
        fn(*args)  # a second signal while stopping is harmless
        assert reactor.stopped == 1
    finally:
        structlog.reset_defaults()


def test_install_replaces_twisteds_handlers_after_startup_and_hup_reloads() -> None:
    reactor = FakeReactor()
    reloads: list[int] = []
    before = {s: signal.getsignal(s) for s in (signal.SIGHUP, *signals.STOP_SIGNALS)}
    try:
        signals.install(reactor, lambda: reloads.append(1))
        phase, event, replace = reactor.triggers[0]
        assert (phase, event) == ("after", "startup")
        replace()
        for sig in signals.STOP_SIGNALS:
            signal.getsignal(sig)(sig, None)
        signal.getsignal(signal.SIGHUP)(signal.SIGHUP, None)
        for fn, args in reactor.calls:
            fn(*args)
        assert reactor.stopped == 1 and reloads == [1]
    finally:
        for s, h in before.items():
            signal.signal(s, h)
