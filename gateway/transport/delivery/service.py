"""The delivery service: drains ``out/<destination>/`` queues in the spool.

For each queued item: send it with the destination's sender; on success move it to ``done/``; on a
retryable failure wait (exponential backoff with jitter, per item) and try again, up to the destination's
``max_attempts``; on a permanent failure or exhaustion move it to ``failed/`` with the reason and raise an
alert. Every attempt is audited. Destinations are independent: each has its own concurrency slots, so one
that is down never holds up the others. A destination that fails ``DOWN_AFTER`` times in a row raises one
alert for the outage, cleared by its next success.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import defer, task, threads

from gateway.config import Destination, GatewayConfig
from gateway.service import metrics
from gateway.service.alerts import Alerts
from gateway.transport.delivery import senders
from gateway.transport.delivery.completions import Completions
from gateway.transport.delivery.policy import Backoff, Outcome

log = structlog.get_logger(__name__)
DOWN_AFTER = 3


class DeliveryService(service.Service):
    name = "delivery"

    def __init__(self, reactor: Any, store: Any, config: GatewayConfig, alerts: Alerts,
                 backoff: Backoff | None = None, rng: random.Random | None = None,
                 poll_interval: float = 0.25, concurrency: int = 4) -> None:
        self.reactor = reactor
        self.store = store
        self.alerts = alerts
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()
        self.poll_interval = poll_interval
        self.concurrency = concurrency
        self.inflight: dict[str, defer.Deferred[None]] = {}
        self.next_at: dict[str, float] = {}
        self.attempts: dict[str, int] = {}
        self.failures_in_row: dict[str, int] = {}
        self.last_ok: dict[str, float] = {}  # start of the latest successful attempt, per destination
        self.extra_queues: dict[str, Destination] = {}
        self.extra_senders: dict[str, senders.Sender] = {}  # partner queues registered by transports
        self._loop: task.LoopingCall | None = None
        self._ticking = False
        self._tick_again = False
        self.completions = Completions(store)
        self.reconfigure(config)

    # -- configuration --------------------------------------------------------------------------
    def reconfigure(self, config: GatewayConfig) -> None:
        self.destinations = dict(config.destinations)
        self.destinations.update(self.extra_queues)
        self.senders = {name: s for name, d in config.destinations.items()
                        if (s := senders.build(self.reactor, d)) is not None}
        self.senders.update(self.extra_senders)  # partner queues registered by transports survive a reload

    def add_queue(self, dest: Destination, sender: senders.Sender) -> None:
        self.extra_queues[dest.name] = dest
        self.extra_senders[dest.name] = sender
        self.destinations[dest.name] = dest
        self.senders[dest.name] = sender

    # -- lifecycle --------------------------------------------------------------------------------
    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.kick)
        self._loop.clock = self.reactor
        self._loop.start(self.poll_interval, now=True)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        pending = list(self.inflight.values())
        return defer.DeferredList(pending, consumeErrors=True).addCallback(lambda _: None)

    def kick(self) -> None:
        """Look at the queues now (called by the poll loop, and by the pipeline after queueing)."""
        if not self.running:
            return
        if self._ticking:  # look again once the running pass ends: an item finished meanwhile
            self._tick_again = True
            return
        self._ticking = True
        self._tick_again = False
        defer.Deferred.fromCoroutine(self._tick()).addBoth(self._ticked)

    def _ticked(self, result: Any) -> None:
        self._ticking = False
        if isinstance(result, Exception) or hasattr(result, "getTraceback"):
            log.error("delivery_tick_failed", error=str(getattr(result, "value", result)))
        if self._tick_again:
            self.kick()

    def _finished(self, key: str) -> None:
        """An attempt ended: its slot is free, so start the next queued item now, not at the next poll."""
        self.inflight.pop(key, None)
        self.kick()

    async def _tick(self) -> None:
        queues = {name: f"out/{name}" for name in self.senders}
        listing = await threads.deferToThread(lambda: {n: self.store.spool.list(s) for n, s in queues.items()})
        now = self.reactor.seconds()
        for name, items in listing.items():
            busy = sum(1 for k in self.inflight if k.startswith(name + "/"))
            for item_id in items:
                if busy >= self.concurrency:
                    break
                key = f"{name}/{item_id}"
                if key in self.inflight or self.next_at.get(key, 0) > now:
                    continue
                busy += 1
                d = defer.Deferred.fromCoroutine(self._attempt(name, item_id))
                self.inflight[key] = d
                d.addErrback(lambda f, k=key: log.error("delivery_attempt_crashed", key=k, error=str(f.value)))  # type: ignore[call-overload]  # the default argument binds the key
                d.addBoth(lambda _, k=key: self._finished(k))  # type: ignore[call-overload]  # the default argument binds the key

    # -- one attempt --------------------------------------------------------------------------------
    def _load(self, name: str, item_id: str, count_attempts: bool) -> tuple[bytes, dict[str, Any], int | None] | None:
        """Blocking, in one thread hop: the queued item's payload and meta, and the attempts the index
        knows of (when asked), or ``None`` when the item has left the queue."""
        it = self.store.spool.find(item_id)
        if it is None or it.state != f"out/{name}":
            return None
        try:
            with open(it.path, "rb") as f:
                payload = f.read()
        except FileNotFoundError:
            return None  # moved on meanwhile
        attempts = None
        if count_attempts:
            rows = self.store.index.deliveries(item_id)
            attempts = max((r.get("attempts") or 0 for r in rows if r["destination"] == name), default=0)
        return payload, it.meta, attempts

    async def _attempt(self, name: str, item_id: str) -> None:
        dest = self.destinations[name]
        key = f"{name}/{item_id}"
        loaded = await threads.deferToThread(self._load, name, item_id, key not in self.attempts)
        if loaded is None:
            return  # finished meanwhile (a listing taken before its move): nothing to send again
        payload, meta, attempts = loaded
        if attempts is not None:
            self.attempts[key] = attempts
        parcel = senders.Parcel(
            item_id=item_id, payload=payload, destination=name,
            idempotency_key=meta.get("idempotency_key") or f"{meta.get('doc_id', item_id)}:{name}",
            partner=meta.get("partner"), document=meta.get("document"), doc_id=meta.get("doc_id"),
            content_type=meta.get("content_type", dest.content_type), filename=meta.get("filename"),
        )
        started = self.reactor.seconds()
        try:
            outcome = await self.senders[name](parcel)
        except Exception as exc:  # a sender bug must not lose the item: treat as retryable
            outcome = Outcome(False, retry=True, detail=f"{type(exc).__name__}: {exc}")
        elapsed = self.reactor.seconds() - started
        self.attempts[key] += 1
        attempt = self.attempts[key]
        bound = log.bind(destination=name, item_id=item_id, partner=parcel.partner, doc_id=parcel.doc_id,
                         attempt=attempt, idempotency_key=parcel.idempotency_key)
        metrics.inc("acorn_delivery_attempts_total", destination=name, outcome="ok" if outcome.ok else "failed")
        if outcome.ok:
            # The destination answers: the outage (if any) is over from this attempt's start on.
            self.last_ok[name] = max(self.last_ok.get(name, started), started)
            self.failures_in_row[name] = 0
            if self.alerts.clear(f"destination-down:{name}"):
                log.info("destination_recovered", destination=name)
            await self.completions.delivered(item_id, name)
            bound.info("delivered", seconds=round(elapsed, 4), status=outcome.status)
            self._forget(key)
            return
        if started >= self.last_ok.get(name, started):  # a failure older than the last success is no news
            self.failures_in_row[name] = self.failures_in_row.get(name, 0) + 1
        if self.failures_in_row[name] >= DOWN_AFTER and outcome.retry:
            self.alerts.raise_("destination_down", f"destination {name} failing: {outcome.detail}",
                               key=f"destination-down:{name}", destination=name)
        if not outcome.retry or attempt >= dest.max_attempts:
            why = outcome.detail if not outcome.retry else f"gave up after {attempt} attempts: {outcome.detail}"
            await threads.deferToThread(self._give_up, item_id, name, why)
            bound.error("delivery_failed", reason=why)
            self.alerts.raise_("delivery_failed", f"delivery of {item_id} to {name} failed: {why}",
                               key=f"delivery-failed:{key}", destination=name, item_id=item_id,
                               partner=parcel.partner, doc_id=parcel.doc_id)
            self._forget(key)
            return
        delay = self.backoff.delay(attempt, self.rng)
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        await threads.deferToThread(self.store.delivery_attempted, item_id, name, False, outcome.detail, retry_at)
        self.next_at[key] = self.reactor.seconds() + delay  # counted from when the failure is on record
        bound.warning("delivery_retry", error=outcome.detail, retry_in=round(delay, 3))

    def _forget(self, key: str) -> None:
        self.next_at.pop(key, None)
        self.attempts.pop(key, None)

    def _done(self, item_id: str, name: str) -> None:
        self.store.delivery_attempted(item_id, name, True)
        self.store.move(item_id, "done", f"delivered to {name}")

    def _give_up(self, item_id: str, name: str, why: str) -> None:
        self.store.delivery_attempted(item_id, name, False, why)
        self.store.fail(item_id, f"delivery to {name}: {why}")
