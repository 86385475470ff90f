"""One log stream: structlog JSON lines on stdout, with twisted.logger bridged into it.

Each line is one JSON object with ``event``, ``level``, ``timestamp`` and context keys. Under systemd the
line is prefixed with a syslog priority (``<6>`` info, ``<4>`` warning, ...) so ``journalctl -p`` works;
``--log-format console`` renders for humans instead. Never log secrets or payloads.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, TextIO

import structlog
import structlog.tracebacks
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2, "exception": 3}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_TWISTED = {LogLevel.debug: "debug", LogLevel.info: "info", LogLevel.warn: "warning", LogLevel.error: "error",
            LogLevel.critical: "critical"}
# Chatty namespaces kept below warning: conch logs every SFTP packet; factories log every start/stop.
QUIET = ("twisted.conch.ssh.filetransfer", "twisted.conch.ssh.transport", "twisted.conch.ssh.service",
         "twisted.conch.ssh.connection", "twisted.conch.ssh.channel", "twisted.web.server",
         "twisted.internet.protocol", "twisted.web.http", "twisted.conch.ssh.session", "twisted.conch.ssh.userauth",
         "twisted.conch.ssh.factory", "log_legacy")


class JournalJSONRenderer:
    """JSON, one line; with a ``<N>`` priority prefix when ``journal`` is true."""

    def __init__(self, journal: bool) -> None:
        self.journal = journal

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        line = json.dumps(event, default=str, separators=(",", ":"))
        if self.journal:
            return f"<{_PRIORITY.get(event.get('level', 'info'), 6)}>{line}"
        return line


CURRENT = {"format": "json", "level": "info"}  # as last configured (a worker process is started alike)


def configure(fmt: str = "json", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog; call once at process start (and again on reload to change the level)."""
    CURRENT.update(format=fmt, level=level)
    out = stream or sys.stdout
    journal = fmt == "json" and bool(os.environ.get("JOURNAL_STREAM"))
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=False) if fmt == "console"
                     else JournalJSONRenderer(journal))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
            if fmt == "json" else structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=structlog.WriteLoggerFactory(file=out),
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        cache_logger_on_first_use=False,
    )


@implementer(ILogObserver)
class TwistedToStructlog:
    """Forwards twisted.logger events into structlog (quiet namespaces only from warning up)."""

    def __init__(self) -> None:
        self.log = structlog.get_logger("twisted")

    def __call__(self, event: dict[str, Any]) -> None:
        ns = event.get("log_namespace", "twisted")
        level = event.get("log_level", LogLevel.info)
        if ns.startswith(QUIET) and level < LogLevel.warn:
            return
        kw: dict[str, Any] = {"logger": ns}
        failure = event.get("log_failure")
        if failure is not None:
            kw["exc_info"] = (failure.type, failure.value, failure.getTracebackObject())
        getattr(self.log, _TWISTED.get(level, "info"))(formatEvent(event), **kw)


def bridge_twisted() -> None:
    """Send twisted.logger events to structlog. Standard streams are left alone."""
    observer = FilteringLogObserver(TwistedToStructlog(), [LogLevelFilterPredicate(LogLevel.info)])  # type: ignore[arg-type,list-item]  # zope ILogObserver, ILogFilterPredicate
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False, discardBuffer=True)  # type: ignore[list-item]  # FilteringLogObserver implements ILogObserver (zope)
