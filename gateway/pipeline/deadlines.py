"""The deadline scheduler: alerts when a purchase order is not acknowledged in time.

Every ``interval`` seconds on the injected clock it reads the PO board and raises, once per PO, a
``po_ack_due_soon`` alert when less than ``warn_before`` is left before the partner's
``edi.ack_deadline`` (Amazon: 24 h) and a ``po_ack_overdue`` alert once the deadline has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import defer, task, threads

from gateway.config import GatewayConfig
from gateway.pipeline.board import board

log = structlog.get_logger(__name__)


class DeadlineService(service.Service):
    name = "scheduler"

    def __init__(self, clock: Any, store: Any, config: GatewayConfig, alerts: Any, interval: float = 60.0,
                 warn_before: float = 4 * 3600, now: Callable[[], datetime] | None = None,
                 in_thread: bool = True) -> None:
        self.clock = clock
        self.store = store
        self.config = config
        self.alerts = alerts
        self.interval = interval
        self.warn_before = warn_before
        self.now = now or (lambda: datetime.fromtimestamp(clock.seconds(), UTC))
        self.in_thread = in_thread
        self._loop: task.LoopingCall | None = None

    def reconfigure(self, config: GatewayConfig) -> None:
        self.config = config

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def check(self) -> defer.Deferred[int]:
        now = self.now()
        d = (threads.deferToThread(board, self.store.index, self.config, now) if self.in_thread
             else defer.succeed(board(self.store.index, self.config, now)))
        d.addCallback(self._alert)
        d.addErrback(lambda f: log.error("deadline_check_failed", error=str(f.value)) or 0)
        return d  # type: ignore[return-value]  # the callbacks added above make the result an int

    def _alert(self, columns: dict[str, list[dict[str, Any]]]) -> int:
        raised = 0
        for po in columns["received"]:
            ctx = {"partner": po["partner"], "doc_id": po["doc_id"], "po_number": po["po_number"],
                   "deadline": po["ack_deadline"]}
            if po["overdue"]:
                raised += self.alerts.raise_("po_ack_overdue", f"PO {po['po_number']} from {po['partner']} was not "
                                             f"acknowledged by its deadline {po['ack_deadline']}",
                                             key=f"overdue:{po['doc_id']}", **ctx)
            elif po["seconds_left"] <= self.warn_before:
                raised += self.alerts.raise_("po_ack_due_soon", f"PO {po['po_number']} from {po['partner']} must be "
                                             f"acknowledged by {po['ack_deadline']}", key=f"soon:{po['doc_id']}", **ctx)
        return raised
