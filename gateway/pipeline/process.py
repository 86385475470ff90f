"""The pipeline service, process mode (``pipeline.process: true``, the default): the daemon hands
items to a worker process (:mod:`gateway.pipeline.worker`) and reads back what became of them.

The daemon keeps what needs its view of the spool: it lists ``in/`` (its own arrivals are listed only
once durable), feeds the worker up to 32 ids at a time, counts the outcomes into ``/metrics``, kicks
the delivery service after each batch, and hides the worker's new items from every listing until the
worker reports them durable (``Spool.hide_other``).

If the worker dies (a bug, the OOM killer, a signal), nothing it did is lost: the daemon makes the
filesystem durable (whatever the worker wrote is in the page cache), puts the items left in ``work/``
back in ``in/`` (audited as ``item.requeued``) and starts a new worker; running an item again finds its
documents already queued. A worker that keeps dying is restarted with a growing delay (1 s to 60 s).
On stop, the worker finishes its batch and exits; past the drain timeout it is killed (the same
recovery runs at the next start).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import defer, error, protocol, task, threads

from gateway.config import EX_CONFIG, GatewayConfig
from gateway.pipeline.service import count, log_hold
from gateway.service import logging as gwlog
from gateway.service import metrics
from gateway.service.notify import child_env

log = structlog.get_logger(__name__)
RESTART_DELAYS = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)


class _WorkerProtocol(protocol.ProcessProtocol):
    def __init__(self, owner: ProcessPipelineService) -> None:
        self.owner = owner
        self.buf = b""
        self.ended: defer.Deferred[None] = defer.Deferred()

    def childDataReceived(self, fd: int, data: bytes) -> None:
        if fd != 3:
            return
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                msg = json.loads(line)
            except ValueError:
                log.error("pipeline_worker_garbled", line=line[:200].decode("utf-8", "replace"))
                continue
            self.owner._message(self, msg)

    def send(self, msg: dict[str, Any]) -> None:
        if self.transport is not None:
            self.transport.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")  # type: ignore[call-arg,misc]  # zope interface method

    def processEnded(self, reason: Any) -> None:
        self.owner._ended(self, reason)
        self.ended.callback(None)


class ProcessPipelineService(service.Service):
    name = "pipeline"

    def __init__(self, reactor: Any, store: Any, config: GatewayConfig, after_batch: Any = None,
                 poll_interval: float = 0.2, alerts: Any = None) -> None:
        self.reactor = reactor
        self.alerts = alerts
        self.store = store
        self.config = config
        self.hold = config.pipeline_hold
        self.after_batch = after_batch
        self.poll_interval = poll_interval
        self.processed = 0
        self.restarts = 0
        self._worker: _WorkerProtocol | None = None
        self._token: str | None = None
        self._wants = 0
        self._listing = False
        self._stopping = False
        self._restart_now = False  # a reload: start the next worker at once
        self._failures = 0
        self._idle_told = False  # the worker was told there is nothing to do (it flushed its last moves)
        self._handed: set[str] = set()  # ids sent to the worker and not yet reported back
        self._recovered: defer.Deferred[Any] | None = None
        self._loop: task.LoopingCall | None = None
        metrics.describe("acorn_pipeline_worker_restarts_total", "counter",
                         "pipeline worker processes that died and were replaced")

    # -- the worker process -------------------------------------------------------------------------
    def _spawn(self) -> None:
        if self._stopping or self._worker is not None:
            return
        proto = _WorkerProtocol(self)
        args = [sys.executable, "-m", "gateway.pipeline.worker", "--config", str(self.config.file),
                "--log-format", gwlog.CURRENT["format"], "--parent", str(os.getpid()),
                "--checksum", self.config.checksum]
        transport = self.reactor.spawnProcess(proto, sys.executable, args, env=child_env(),
                                              childFDs={0: "w", 1: 1, 2: 2, 3: "r"})
        self._worker, self._wants, self._token, self._idle_told = proto, 0, None, False
        self._handed.clear()
        log.info("pipeline_worker_spawned", pid=getattr(transport, "pid", None))

    def _message(self, proto: _WorkerProtocol, msg: dict[str, Any]) -> None:
        if proto is not self._worker:
            return
        if "hello" in msg:
            self._token = str(msg["hello"])
            if self.alerts is not None and self.alerts.clear("pipeline_config_invalid"):
                log.info("pipeline_worker_config_loaded", note="the pipeline runs again")
            self.store.spool.hide_other(self._token, "")
        elif "batch" in msg:
            # every id of the take is settled: processed, left in in/ (no room), or gone meanwhile
            self._handed.difference_update(str(i) for i in msg.get("take", ()))
            if self._token is not None:
                self.store.spool.hide_other(self._token, str(msg.get("watermark", "")))
            for report in msg["batch"]:
                count(report)
                self.processed += 1
            self._failures = 0
            if msg["batch"] and self.after_batch is not None:
                self.after_batch()
        elif "durable" in msg:
            if self._token is not None:
                self.store.spool.hide_other(self._token, str(msg["durable"]))
            if self.after_batch is not None:
                self.after_batch()
        elif "want" in msg:
            self._wants = int(msg["want"])
            self.kick()

    def _ended(self, proto: _WorkerProtocol, reason: Any) -> None:
        if proto is not self._worker:
            return
        self._worker, self._wants = None, 0
        code = getattr(reason.value, "exitCode", None)
        clean = reason.check(error.ProcessDone) is not None
        if self._stopping or (clean and self._restart_now):
            if clean:
                log.info("pipeline_worker_exited")
            else:
                log.warning("pipeline_worker_ended", exit_code=code, signal=getattr(reason.value, "signal", None))
            self._after_worker(restart=not self._stopping, delay=0.0)
            return
        self._failures += 1
        self.restarts += 1
        metrics.inc("acorn_pipeline_worker_restarts_total")
        delay = RESTART_DELAYS[min(self._failures, len(RESTART_DELAYS)) - 1]
        if code == EX_CONFIG:
            log.error("pipeline_worker_config_invalid", restart_in_seconds=delay, config=str(self.config.file),
                      note="the worker could not load the configuration on disk (its problems are in the "
                           "line before); documents wait in in/ until it can")
            if self.alerts is not None:
                self.alerts.raise_("pipeline_config_invalid",
                                   f"the pipeline worker cannot load {self.config.file}: documents wait in in/ "
                                   "until the file is fixed (`gatewayctl config check`)",
                                   key="pipeline_config_invalid")
        else:
            log.error("pipeline_worker_died", exit_code=code, signal=getattr(reason.value, "signal", None),
                      restart_in_seconds=delay, note="its items in work/ go back to in/")
        self._after_worker(restart=True, delay=delay)

    def _after_worker(self, restart: bool, delay: float) -> None:
        """The worker is gone: make what it wrote durable, requeue its claimed items, start another."""
        self._restart_now = False
        d = threads.deferToThread(self._recover, self._token)
        d.addErrback(lambda f: log.error("pipeline_worker_recovery_failed", error=str(f.value)))
        if restart:
            d.addBoth(lambda _: self.reactor.callLater(delay, self._spawn))
        self._recovered = d

    def _recover(self, token: str | None) -> None:
        from gateway.store import fsio
        from gateway.store.recovery import rejoin_work, remove_temp, requeue_work

        spool = self.store.spool
        fsio.syncfs(spool.root)  # every file the worker wrote, renamed or not, is now on disk
        spool.hide_other(None)
        mended = rejoin_work(spool)  # a claim cut short between its two renames
        if mended:
            log.warning("pipeline_worker_claims_mended", items=mended)
        requeued = requeue_work(spool, "requeued: the pipeline worker ended")
        if token is not None:  # its unfinished writes: new items and the staged moves of claimed ones
            remove_temp(spool, token)
        for item_id in requeued:
            self.store.record("item.requeued", item_id=item_id, data={"reason": "the pipeline worker ended"})

    # -- feeding --------------------------------------------------------------------------------------
    def kick(self) -> None:
        """Hand the waiting worker the oldest items of ``in/`` (listed off the reactor thread)."""
        if self._wants <= 0 or self._listing or self.hold or self._stopping or self._worker is None:
            return
        self._listing = True
        want = self._wants
        handed = set(self._handed)
        d = threads.deferToThread(lambda: [i for i in self.store.spool.list("in") if i not in handed][:want])
        d.addCallbacks(self._feed, lambda f: log.error("pipeline_listing_failed", error=str(f.value)))
        d.addBoth(self._listed)

    def _listed(self, _: Any) -> None:
        self._listing = False

    def _feed(self, ids: list[str]) -> None:
        worker = self._worker
        if worker is None or self._wants <= 0 or self.hold or self._stopping:
            return
        if ids:  # the listing left out what was handed already (only _feed hands out, one listing at a time)
            self._wants, self._idle_told = 0, False
            self._handed.update(ids)
            worker.send({"take": ids})
        elif not self._idle_told:  # once per idle spell: the worker makes its last moves durable
            self._wants, self._idle_told = 0, True
            worker.send({"take": []})

    # -- service --------------------------------------------------------------------------------------
    def startService(self) -> None:
        super().startService()
        self._stopping = False
        if self.hold:
            log_hold(self.store, True)
        else:
            metrics.set_gauge("acorn_pipeline_held", 0.0)
        self._spawn()
        self._loop = task.LoopingCall(self.kick)
        self._loop.clock = self.reactor
        self._loop.start(self.poll_interval, now=False)

    def reconfigure(self, config: GatewayConfig) -> None:
        """A reload: the worker finishes its batch and a new one starts with the new configuration."""
        self.config = config
        if config.pipeline_hold != self.hold:
            self.hold = config.pipeline_hold
            log_hold(self.store, self.hold)
        if self._worker is not None:
            self._restart_now = True
            self._worker.send({"stop": True})

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self._stopping = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        worker = self._worker
        if worker is None:
            return defer.succeed(None)
        worker.send({"stop": True})
        killer = self.reactor.callLater(self.config.drain_timeout, self._kill, worker)
        done: defer.Deferred[None] = defer.Deferred()

        def ended(_: Any) -> None:
            if killer.active():
                killer.cancel()
            rec = self._recovered if self._recovered is not None else defer.succeed(None)
            rec.addBoth(lambda _: done.callback(None))

        worker.ended.addBoth(ended)
        return done

    def _kill(self, worker: _WorkerProtocol) -> None:
        if worker.transport is not None:
            log.warning("pipeline_worker_killed", reason="did not stop within the drain timeout")
            try:
                worker.transport.signalProcess("KILL")  # type: ignore[call-arg,misc]  # zope interface method
            except error.ProcessExitedAlready:
                pass

