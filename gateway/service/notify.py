"""systemd's notify protocol, without systemd: READY, WATCHDOG, RELOADING, STOPPING.

``sd_notify`` sends one datagram to ``$NOTIFY_SOCKET`` (abstract ``@name`` sockets included) and
returns False when there is no socket, so the daemon runs the same with or without systemd.
``WatchdogService`` pings ``WATCHDOG=1`` at half of ``$WATCHDOG_USEC`` on the injected clock.
"""

from __future__ import annotations

import os
import socket
import time

import structlog
from twisted.application import service
from twisted.internet import task
from twisted.internet.interfaces import IReactorTime

log = structlog.get_logger(__name__)


NOTIFY_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def child_env() -> dict[str, str]:
    """This process's environment without systemd's notify variables, for the processes it spawns:
    only the daemon itself speaks for the unit (READY, WATCHDOG)."""
    return {k: v for k, v in os.environ.items() if k not in NOTIFY_VARS}


def sd_notify(*lines: str) -> bool:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        # Never block the reactor: a datagram that does not fit the receiver's queue is dropped (a
        # missed WATCHDOG=1 is repeated at the next interval), and the failure is logged.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
            sock.connect(addr)
            sock.send("\n".join(lines).encode())
    except OSError as exc:
        log.warning("sd_notify_failed", error=str(exc), message=lines[0] if lines else "")
        return False
    return True


def reloading() -> bool:
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return sd_notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def watchdog_interval() -> float | None:
    """Half of WATCHDOG_USEC in seconds, when the watchdog is meant for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 / 2 if value > 0 else None


class WatchdogService(service.Service):
    name = "watchdog"

    def __init__(self, clock: IReactorTime, interval: float | None) -> None:
        self.clock = clock
        self.interval = interval
        self._loop: task.LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        if self.interval:
            self._loop = task.LoopingCall(sd_notify, "WATCHDOG=1")
            self._loop.clock = self.clock
            self._loop.start(self.interval, now=True)

    def stopService(self) -> None:
        # Stopped last by the root service so pings continue during the drain.
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        super().stopService()
