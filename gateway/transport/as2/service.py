"""AS2 in the daemon: the ``as2`` listener, the codec pool, async MDN delivery, certificate expiry.

``install(gateway, store, inbox)`` adds to the service tree:

- ``as2`` (when ``listen.as2`` is set): ``POST /as2`` on the configured endpoint string (``tcp:`` or
  ``ssl:...:privateKey=...:certKey=...`` for TLS), awaited before READY=1, drained on stop;
- ``as2-pool``: the codec process pool, stopped after the listeners and workers;
- ``as2-certs``: a daily check that alerts 30 days before any certificate of ours or a partner's
  expires (once per certificate);
- the ``as2-mdn`` delivery queue, through which async MDNs we owe are posted with retries;

and returns the ``As2Sender`` whose ``for_partner`` drains the partner queues.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import defer, task
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from gateway.config import Destination, GatewayConfig
from gateway.service.http import HTTPListenerService
from gateway.transport.as2 import directory as as2dir
from gateway.transport.as2.pool import CodecPool
from gateway.transport.as2.receiver import build_site
from gateway.transport.as2.sender import As2Sender
from gateway.transport.as2.station import MDN_QUEUE, Station
from gateway.transport.delivery.policy import Outcome, http_outcome
from gateway.transport.delivery.senders import Parcel

log = structlog.get_logger(__name__)


class PoolService(service.Service):
    name = "as2-pool"

    def __init__(self, pool: CodecPool) -> None:
        self.pool = pool

    def startService(self) -> None:
        super().startService()
        self.pool.start()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return self.pool.stop()


class As2Listener(HTTPListenerService):
    """The AS2 endpoint (``POST /as2``)."""

    def __init__(self, reactor: Any, config: GatewayConfig, station: Station) -> None:
        site = build_site(station, config.as2_body_max, str(config.paths.spool / "tmp" / "as2"))
        super().__init__("as2", reactor, config.listen["as2"], site, config.drain_timeout)
        self.station = station

    async def _stop(self) -> None:
        await super()._stop()
        if self.station._flush_call is not None:
            self.station._flush_call.cancel()
        await self.station.flush_audit()


class CertExpiryService(service.Service):
    name = "as2-certs"

    def __init__(self, clock: Any, station: Station, alerts: Any, interval: float = 6 * 3600) -> None:
        self.clock = clock
        self.station = station
        self.alerts = alerts
        self.interval = interval
        self._loop: task.LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True)

    def stopService(self) -> None:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def reconfigure(self, config: GatewayConfig) -> None:
        """On reload: re-read keys and partner certificates (the previous ones are kept on failure)."""
        try:
            self.station.reconfigure(as2dir.build_directory(config))
        except (OSError, ValueError) as exc:
            log.error("as2_reload_failed", error=str(exc), kept="previous keys and certificates")
            return
        self.check()

    def check(self) -> int:
        now = datetime.fromtimestamp(self.clock.seconds(), UTC)
        raised = 0
        for info in as2dir.expiring(self.station.directory, now):
            days = (info.not_after - now).total_seconds() / 86400
            what = "expired" if days < 0 else f"expires in {days:.0f} days"
            raised += self.alerts.raise_(
                "certificate_expiring",
                f"AS2 certificate of {info.source} ({info.subject}) {what}, on {info.not_after.isoformat()}",
                key=f"cert-expiry:{info.fingerprint}",
                certificate=info.fingerprint,
                not_after=info.not_after.isoformat(),
                owner=info.source,
            )
        return raised


class AsyncMdnSender:
    """Posts an MDN we owe to the URL the partner gave in ``Receipt-Delivery-Option``."""

    def __init__(self, reactor: Any, timeout: float = 60.0) -> None:
        self.reactor = reactor
        self.timeout = timeout
        self.agent = Agent(reactor)

    async def __call__(self, parcel: Parcel) -> Outcome:
        job = json.loads(parcel.payload)
        url: str = job["url"]
        if not url.startswith(("http://", "https://")):
            return Outcome(
                False, retry=False, detail=f"Receipt-Delivery-Option {url!r} is not an http(s) URL"
            )
        headers = Headers({k.encode("latin-1"): [v.encode("latin-1")] for k, v in job["headers"].items()})
        body = job["body"].encode("latin-1")
        d = self.agent.request(b"POST", url.encode(), headers, FileBodyProducer(BytesIO(body)))  # type: ignore[arg-type]  # FileBodyProducer implements IBodyProducer (zope)
        d.addTimeout(self.timeout, self.reactor)
        try:
            response = await d
            text = await readBody(response).addTimeout(self.timeout, self.reactor)
        except defer.TimeoutError:
            return Outcome(False, retry=True, detail=f"no answer within {self.timeout:g}s")
        except Exception as exc:
            return Outcome(False, retry=True, detail=f"{type(exc).__name__}: {exc}")
        return http_outcome(response.code, text)


def workers(config: GatewayConfig) -> int:
    return config.as2_workers or (os.cpu_count() or 1)


def clear_leftovers(tmp_dir: str) -> int:
    """Remove the request bodies and payloads a stopped daemon left in ``tmp_dir`` (their messages got
    no positive MDN, so the partners resend them); return how many. Called before the listener starts."""
    gone = 0
    for name in os.listdir(tmp_dir):
        if name.startswith(("as2-body-", "as2-payload-")):
            try:
                os.unlink(os.path.join(tmp_dir, name))
                gone += 1
            except FileNotFoundError:
                pass
    if gone:
        log.info("as2_leftovers_removed", folder=tmp_dir, files=gone)
    return gone


def install(gw: Any, store: Any, inbox: Any) -> As2Sender | None:
    """Add the AS2 services to the daemon ``gw``; None when there is nothing to do (no partner, no key)."""
    config: GatewayConfig = gw.config
    if not any(p.as2 for p in config.partners.values()) and "as2" not in config.listen:
        return None
    try:
        directory = as2dir.build_directory(config)
    except (OSError, ValueError) as exc:
        log.error("as2_not_started", error=str(exc))
        raise
    pool = CodecPool(gw.reactor, workers(config))
    PoolService(pool).setServiceParent(gw)
    tmp_dir = str(config.paths.spool / "tmp" / "as2")
    os.makedirs(tmp_dir, exist_ok=True)
    clear_leftovers(tmp_dir)
    station = Station(
        gw.reactor, pool, directory, store, inbox, tmp_dir, config.as2_body_max * 8, queued=gw.delivery.kick
    )
    gw.as2_station = station
    if "as2" in config.listen:
        As2Listener(gw.reactor, config, station).setServiceParent(gw)
    CertExpiryService(gw.reactor, station, gw.alerts).setServiceParent(gw)
    gw.delivery.add_queue(
        Destination(MDN_QUEUE, "as2-mdn", None, None, None, None, 60.0, 10, "multipart/signed"),
        AsyncMdnSender(gw.reactor),
    )
    return As2Sender(gw.reactor, station, store)
