"""Alerts: things a person must look at (a delivery given up, a destination down, a PO about to miss its
acknowledgement deadline, a certificate about to expire).

Every alert is a log line at error level (``event: alert``), an audit event, and, when
``alerts.webhook`` is configured, a JSON POST signed like ERP deliveries. ``raise_`` with a ``key``
fires once per key until ``clear(key)``: one alert per outage, per document, per certificate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from io import BytesIO
from typing import Any

import structlog
from twisted.internet import defer, threads
from twisted.web.client import Agent, FileBodyProducer
from twisted.web.http_headers import Headers

from gateway.service import metrics

log = structlog.get_logger(__name__)


class Alerts:
    def __init__(self, reactor: Any, node: str, webhook: str | None = None, secret: bytes | None = None,
                 record: Callable[..., Any] | None = None) -> None:
        self.reactor = reactor
        self.node = node
        self.webhook = webhook
        self.secret = secret
        self.record = record  # store.record, run in a thread by the caller's service
        self.active: set[str] = set()
        self.sent: list[dict[str, Any]] = []

    def raise_(self, kind: str, message: str, key: str | None = None, **context: Any) -> bool:
        """Raise an alert; return False when the same key is already active."""
        if key is not None:
            if key in self.active:
                return False
            self.active.add(key)
        alert = {"kind": kind, "message": message, "node": self.node, **context}
        log.error("alert", **alert)
        metrics.inc("acorn_alerts_total", kind=kind)
        self.sent.append(alert)
        if self.record is not None:
            self._audit(alert, context.get("partner"))
        if self.webhook:
            defer.Deferred.fromCoroutine(self._post(alert)).addErrback(
                lambda f: log.error("alert_webhook_failed", error=str(f.value)))
        return True

    def _audit(self, alert: dict[str, Any], partner: str | None) -> None:
        """Put the alert on record off the reactor thread (an audit append waits for a disk flush)."""
        assert self.record is not None
        record = self.record

        def write() -> None:
            record("alert.raised", partner=partner, data=alert)

        pool = getattr(self.reactor, "getThreadPool", None)
        if pool is None:  # a test clock: no threads to use
            try:
                write()
            except OSError as exc:
                log.error("alert_not_audited", error=str(exc))
            return
        threads.deferToThreadPool(self.reactor, pool(), write).addErrback(
            lambda f: log.error("alert_not_audited", error=str(f.value)))

    def clear(self, key: str) -> bool:
        if key in self.active:
            self.active.discard(key)
            return True
        return False

    async def _post(self, alert: dict[str, Any]) -> None:
        from gateway.transport.delivery.senders import signature

        body = json.dumps(alert, default=str).encode()
        headers = Headers({b"content-type": [b"application/json"]})
        if self.secret:
            headers.addRawHeader(b"x-acorn-signature", signature(self.secret, body).encode())
        assert self.webhook is not None
        d = Agent(self.reactor).request(b"POST", self.webhook.encode(), headers, FileBodyProducer(BytesIO(body)))  # type: ignore[arg-type]  # FileBodyProducer implements IBodyProducer (zope)
        d.addTimeout(10, self.reactor)
        response = await d
        if response.code >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.code}")
