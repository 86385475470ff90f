"""The daemon's service tree.

``Gateway`` is the root ``MultiService``. Named children: the listeners (``api``, later ``as2`` and
``sftp``), the workers (pipeline, delivery, scheduler) and the ``watchdog``. Start binds every listener
and only then tells systemd ``READY=1``. Stop runs in a set order: ``STOPPING=1``, listeners drain
first (concurrently), then workers, then storage, and the watchdog last so it keeps pinging during the
drain. ``reload()`` (SIGHUP) loads and checks the whole configuration before swapping anything; on any
problem it logs every problem and keeps the last good configuration.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import defer

import gateway
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.service import metrics, notify
from gateway.service.api import ApiRoot
from gateway.service.http import DrainingSite, HTTPListenerService

log = structlog.get_logger(__name__)

LISTENERS = ("api", "as2", "sftp", "folder-intake")
WORKERS = ("pipeline", "delivery", "scheduler")
STORAGE = ("store",)


class Gateway(service.MultiService):
    def __init__(self, config: GatewayConfig, reactor: Any, store: Any = None) -> None:
        super().__init__()
        self.config = config
        self.reactor = reactor
        self.store = store
        self.started_at = reactor.seconds()
        self.exit_code = 0
        self.reloads = 0
        self._reloading = False
        self._reload_again = False
        self.api_root = ApiRoot(self.health)
        HTTPListenerService(
            "api", reactor, config.listen["api"], DrainingSite(self.api_root, config.api_body_max),
            config.drain_timeout,
        ).setServiceParent(self) if "api" in config.listen else None
        notify.WatchdogService(reactor, notify.watchdog_interval()).setServiceParent(self)
        if store is not None:
            self._add_store_services(store)
        metrics.describe("acorn_config_reloads_total", "counter", "configuration reloads by outcome")

    def _add_store_services(self, store: Any) -> None:
        from gateway.pipeline.catalog import Catalog
        from gateway.pipeline.deadlines import DeadlineService
        from gateway.pipeline.folder_intake import FolderIntakeService
        from gateway.pipeline.service import PipelineService
        from gateway.service import erp_api
        from gateway.service.alerts import Alerts
        from gateway.service.erp_api import load_clients
        from gateway.service.storage import StoreService
        from gateway.transport.delivery.service import DeliveryService

        StoreService(store).setServiceParent(self)
        secret = None
        if self.config.alerts.get("secret_file"):
            with open(self.config.base / self.config.alerts["secret_file"], "rb") as fh:
                secret = fh.read().strip()
        self.alerts = Alerts(self.reactor, self.config.node, self.config.alerts.get("webhook"), secret, store.record)
        self.delivery = DeliveryService(self.reactor, store, self.config, self.alerts)
        self.delivery.setServiceParent(self)
        if self.config.pipeline_process:
            from gateway.pipeline.process import ProcessPipelineService

            self.pipeline: Any = ProcessPipelineService(self.reactor, store, self.config, after_batch=self.delivery.kick,
                                                             alerts=self.alerts)
        else:
            self.pipeline = PipelineService(self.reactor, store, self.config, after_batch=self.delivery.kick)
        self.pipeline.setServiceParent(self)
        DeadlineService(self.reactor, store, self.config, self.alerts).setServiceParent(self)
        self._add_partner_transports(store)
        self.catalog = Catalog(self.config)
        self.api_clients = load_clients(self.config)
        erp_api.install(self.api_root, self)
        FolderIntakeService(self.reactor, store, self.config).setServiceParent(self)

    def _add_partner_transports(self, store: Any) -> None:
        from gateway.service import transports
        from gateway.store import SpoolInbox

        inbox = SpoolInbox(store)
        sftp = transports.build_sftp(self.reactor, self.config, inbox)
        if sftp is not None:
            sftp.setServiceParent(self)
        pollers = transports.build_pollers(self.reactor, self.config, inbox)
        for poller in pollers:
            poller.setServiceParent(self)
        from gateway.transport.as2.service import install as install_as2

        self.as2_sender = install_as2(self, store, inbox)
        self._pollers = pollers
        self._add_partner_queues(self.config)

    def _add_partner_queues(self, config: GatewayConfig) -> None:
        """A delivery queue per partner we can send to; on reload, new partners get theirs."""
        from gateway.service import transports

        as2_factory = self.as2_sender.for_partner if self.as2_sender is not None else None
        for dest, sender in transports.partner_senders(config, self._pollers, as2_factory):
            if dest.name not in self.delivery.extra_queues:
                self.delivery.add_queue(dest, sender)

    # -- health ---------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.running else "stopping",
            "node": self.config.node,
            "version": gateway.__version__,
            "uptime": round(self.reactor.seconds() - self.started_at, 3),
            "config_checksum": self.config.checksum,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }

    # -- start ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start every child, bind every listener, then READY=1. Raises when a listener cannot bind."""
        self.startService()
        listeners = [s for s in self if getattr(s, "name", None) in LISTENERS and hasattr(s, "listen")]
        await defer.gatherResults([defer.Deferred.fromCoroutine(s.listen()) for s in listeners],
                                  consumeErrors=True)
        notify.sd_notify("READY=1", f"STATUS=serving {', '.join(sorted(self.config.listen))}",
                         f"MAINPID={os.getpid()}")
        log.info("gateway_ready", node=self.config.node, version=gateway.__version__,
                 partners=len(self.config.partners), checksum=self.config.checksum[:12])

    # -- reload ---------------------------------------------------------------------------------------
    def reload(self) -> defer.Deferred[bool]:
        return defer.Deferred.fromCoroutine(self._reload())

    async def _reload(self) -> bool:
        if self._reloading:  # coalesce: one more pass after the running one
            self._reload_again = True
            return False
        self._reloading = True
        notify.reloading()
        ok = False
        try:
            while True:
                self._reload_again = False
                ok = self._reload_once()
                if not self._reload_again:
                    break
        finally:
            self._reloading = False
            notify.sd_notify("READY=1", "STATUS=serving (reloaded)" if ok else "STATUS=serving (reload failed)")
        return ok

    def _reload_once(self) -> bool:
        try:
            new = load_config(self.config.file)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("config_reload_problem", file=problem.file, line=problem.line, key=problem.key,
                          problem=problem.message)
            log.error("config_reload_failed", problems=len(exc.problems), kept=self.config.checksum[:12])
            metrics.inc("acorn_config_reloads_total", outcome="failed")
            return False
        old = self.config
        if self.store is not None:
            from gateway.pipeline.catalog import Catalog
            from gateway.service.erp_api import load_clients

            self.catalog = Catalog(new)
            self.api_clients = load_clients(new)
        for child in self:
            reconfigure = getattr(child, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(new)
        if self.store is not None:
            self._add_partner_queues(new)
        self.config = new
        self.reloads += 1
        metrics.inc("acorn_config_reloads_total", outcome="ok")
        changed_listeners = sorted(k for k in set(old.listen) | set(new.listen) if old.listen.get(k) != new.listen.get(k))
        log.info("config_reloaded", checksum=new.checksum[:12], previous=old.checksum[:12],
                 partners=len(new.partners),
                 **({"restart_needed_for": changed_listeners} if changed_listeners else {}))
        return True

    # -- stop -----------------------------------------------------------------------------------------
    def stopService(self) -> defer.Deferred[None]:
        return defer.Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if not self.running:
            return
        notify.sd_notify("STOPPING=1")
        log.info("gateway_stopping", node=self.config.node)
        service.Service.stopService(self)
        for group in (LISTENERS, WORKERS, STORAGE):
            await self._stop_named(group)
        rest = [s for s in self if s.running and s.name != "watchdog"]
        await defer.gatherResults([defer.maybeDeferred(s.stopService) for s in rest], consumeErrors=True)
        await self._stop_named(("watchdog",))
        log.info("gateway_stopped", node=self.config.node, exit_code=self.exit_code)

    async def _stop_named(self, names: tuple[str, ...]) -> None:
        """Stop these services together, each given at most the drain timeout (plus a margin): a stop
        is bounded, so systemd never has to kill us. Work cut short resumes from the spool on restart."""
        targets = [s for s in self if s.name in names and s.running]
        bound = self.config.drain_timeout + 5.0
        waits = [defer.maybeDeferred(s.stopService).addTimeout(bound, self.reactor) for s in targets]
        results = await defer.DeferredList(waits, consumeErrors=True)
        for svc, (ok, value) in zip(targets, results, strict=True):
            if ok:
                continue
            if value.check(defer.TimeoutError):
                log.warning("service_stop_timeout", service=svc.name, seconds=bound,
                            note="unfinished work resumes from the spool at the next start")
            else:
                log.error("service_stop_failed", service=svc.name, error=str(value.value))
                self.exit_code = 1
