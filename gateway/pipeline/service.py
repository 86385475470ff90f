"""The pipeline service: drains ``in/`` through the inbound processor, off the reactor thread.

Items are claimed (``in/`` -> ``work/``) and processed in a worker thread, so the spool and the index
see one writer and the reactor keeps answering (AS2, SFTP, /healthz). Up to ``batch_items`` items
go into one batch (``InboundProcessor.process_many``): one durability round makes all their outputs
durable, then all of them move to ``done/``. Any unexpected error while processing an item parks it
alone in ``failed/`` with the error; the others and the service carry on. After each batch, the
delivery service is kicked so queued documents leave at once.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import defer, task, threads

from gateway.config import GatewayConfig
from gateway.pipeline.inbound import InboundProcessor, Report, Timings
from gateway.service import metrics

log = structlog.get_logger(__name__)
PHASES = ("parse", "validate", "map", "rules", "store")
BATCH_ITEMS = 32  # items at most whose outputs one durability round makes durable together
# The interpreter hands the GIL to a waiting thread after 1 ms instead of 5 ms, so the reactor (AS2, SFTP,
# /healthz) gets its turn promptly. gatewayd sets it for its whole life (the AS2 intake is faster with
# it: see gatewayd.py); the pipeline thread sets it while it works wherever it runs, since with a 50 MB
# interchange in work the /healthz p95 went from 12-17 ms to 7-10 ms and the worst probe from 37-73 ms
# to 21-42 ms (see bench/pipeline/RESULTS.md).
REACTOR_TURN = 0.001
metrics.describe("acorn_pipeline_held", "gauge", "1 while pipeline.hold keeps arrivals from being processed")
metrics.describe("acorn_pipeline_seconds_total", "counter",
                 "pipeline seconds: claim, item (whole processing), and within it parse, validate, map, rules, store")


def log_hold(store: Any, hold: bool) -> None:
    """The ``pipeline.hold`` gauge, and a log line saying how many items wait."""
    metrics.set_gauge("acorn_pipeline_held", 1.0 if hold else 0.0)
    if hold:
        log.warning("pipeline_held", waiting=len(store.spool.list("in")),
                    hint="arrivals are stored and acknowledged, not processed; set pipeline.hold: false and reload")
    else:
        log.info("pipeline_released", waiting=len(store.spool.list("in")))


def item_report(item_id: str, result: Report | Exception) -> dict[str, Any]:
    """What became of one item, as plain data (the worker process sends it to the daemon)."""
    if not isinstance(result, Report):
        return {"id": item_id, "crashed": f"{type(result).__name__}: {result}"}
    t = result.timings
    return {"id": item_id, "state": result.state, "documents": len(result.documents),
            "rejected": len(result.rejected), "timings": {k: getattr(t, k) for k in PHASES}}


def count(report: dict[str, Any]) -> None:
    """The metrics of one processed item (an ``item_report`` with its ``seconds``)."""
    if "crashed" in report:
        metrics.inc("acorn_pipeline_items_total", outcome="crashed")
        return
    metrics.inc("acorn_pipeline_seconds_total", float(report.get("seconds", 0.0)), phase="item")
    for phase in PHASES:
        metrics.inc("acorn_pipeline_seconds_total", float(report["timings"].get(phase, 0.0)), phase=phase)
    metrics.inc("acorn_pipeline_items_total", outcome=report["state"])
    metrics.inc("acorn_documents_total", float(report["documents"]), outcome="queued")
    metrics.inc("acorn_documents_total", float(report["rejected"]), outcome="rejected")


def park(store: Any, item_id: str, exc: Exception, only_in_work: bool = False) -> None:
    """Park an item that a bug stopped in ``failed/`` with the error; ``only_in_work``: unless the batch
    parked it itself already."""
    try:
        if only_in_work:
            found = store.spool.find(item_id)
            if found is None or found.state != "work":
                return
        store.fail(item_id, f"internal error while processing: {type(exc).__name__}: {exc}")
    except Exception:
        log.exception("pipeline_cannot_park", item_id=item_id)


class PipelineService(service.Service):
    name = "pipeline"

    def __init__(self, reactor: Any, store: Any, config: GatewayConfig, after_batch: Callable[[], None] | None = None,
                 poll_interval: float = 0.2, batch_items: int = BATCH_ITEMS) -> None:
        self.reactor = reactor
        self.store = store
        self.processor = InboundProcessor(store, config)
        self.hold = config.pipeline_hold
        self.after_batch = after_batch
        self.poll_interval = poll_interval
        self.batch_items = batch_items
        self.timings = Timings()
        self.processed = 0
        self._loop: task.LoopingCall | None = None
        self._batch: defer.Deferred[Any] | None = None
        self._stopping = False
        self._claiming = 0.0

    def reconfigure(self, config: GatewayConfig) -> None:
        self.processor = InboundProcessor(self.store, config)  # swapped between items
        if config.pipeline_hold != self.hold:
            self.hold = config.pipeline_hold
            self._log_hold()
            if not self.hold:
                self.kick()

    def _log_hold(self) -> None:
        log_hold(self.store, self.hold)

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        if self.hold:
            self._log_hold()
        self._loop = task.LoopingCall(self.kick)
        self._loop.clock = self.reactor
        self._loop.start(self.poll_interval, now=True)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self._stopping = True
        log.info("pipeline_timings", items=self.processed,
                 **{f"{k}_seconds": round(getattr(self.timings, k), 3) for k in PHASES})
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._batch is None:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        self._batch.addBoth(lambda _: done.callback(None))
        return done

    def kick(self) -> None:
        if self._batch is not None or self._stopping or self.hold:
            return
        self._batch = threads.deferToThread(self._drain)
        self._batch.addCallbacks(self._drained, lambda f: log.error("pipeline_batch_failed", error=str(f.value)))
        self._batch.addBoth(self._clear)

    def _clear(self, _: Any) -> None:
        self._batch = None

    def _drained(self, count: int) -> None:
        if count and self.after_batch is not None:
            self.after_batch()

    def _drain(self) -> int:
        count = 0
        previous = sys.getswitchinterval()
        sys.setswitchinterval(min(previous, REACTOR_TURN))
        try:
            while not self._stopping:
                taken: list[str] = []
                self._claiming = 0.0
                t0 = time.perf_counter()
                outcomes = self.processor.process_many(self._take(taken))
                share = (time.perf_counter() - t0 - self._claiming) / max(1, len(outcomes))
                for item_id, result in outcomes:
                    self._account(item_id, result, share)
                if not taken:
                    break
                count += len(taken)
                if self.after_batch is not None:
                    self.reactor.callFromThread(self.after_batch)  # deliveries start while we go on
        finally:
            try:
                self.store.spool.group_commit.flush()  # the last items' moves to done/ are durable before we idle
            finally:
                sys.setswitchinterval(previous)
        return count

    def _take(self, taken: list[str]) -> Iterator[str]:
        """Claim up to ``batch_items`` items (``in/`` -> ``work/``), one as the processor asks for it.

        A claim costs no round of its own: it becomes durable with the batch's outputs (one round).
        ``in/`` is listed once per batch (and once more when that listing runs out before the batch
        is full), not once per claim: listing a long backlog per take was quadratic.
        """
        candidates: list[str] = []
        listings = 0
        while len(taken) < self.batch_items and not self._stopping and not self.hold:
            t0 = time.perf_counter()
            item = None
            while item is None:
                if not candidates:
                    if listings == 2:
                        break
                    candidates = self.store.spool.list("in")[: self.batch_items - len(taken)]
                    listings += 1
                    if not candidates:
                        break
                item = self.store.spool.take("in", "work", candidates)
            if item is None:
                return
            claim = time.perf_counter() - t0
            self._claiming += claim
            metrics.inc("acorn_pipeline_seconds_total", claim, phase="claim")
            taken.append(item.id)
            yield item.id

    def _account(self, item_id: str, result: Report | Exception, seconds: float) -> None:
        if isinstance(result, Exception):
            park(self.store, item_id, result, only_in_work=True)
            metrics.inc("acorn_pipeline_items_total", outcome="crashed")
            return
        self._count(result, seconds)

    def _count(self, report: Report, seconds: float) -> None:
        self.processed += 1
        self.timings.add(report.timings)
        count({**item_report("", report), "seconds": seconds})
