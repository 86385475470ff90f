"""Delivery against a real HTTP sink on loopback: signature, idempotency key, retries, give-up, alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.web import resource, server

from gateway.config import Destination
from gateway.service.alerts import Alerts
from gateway.store import Store
from gateway.transport.delivery.policy import Backoff, http_outcome
from gateway.transport.delivery.service import DeliveryService

SECRET = b"s3cret-for-tests"


class Sink(resource.Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict] = []
        self.status = 200
        self.times: list[float] = []

    def render_POST(self, request):
        body = request.content.read()
        self.times.append(reactor.seconds())
        self.seen.append({"body": body, "headers": {k.decode().lower(): v[0].decode()
                                                   for k, v in request.requestHeaders.getAllRawHeaders()},
                          "status": self.status})
        request.setResponseCode(self.status)
        return b"nope" if self.status >= 400 else b"ok"


class Config:
    """The two fields DeliveryService reads from a GatewayConfig."""

    def __init__(self, destinations: dict[str, Destination]) -> None:
        self.destinations = destinations


@pytest.fixture
def store(tmp_path):
    s = Store.open(str(tmp_path / "spool"), str(tmp_path / "audit"), str(tmp_path / "index.sqlite"), node="t")
    yield s
    s.close()


@pytest.fixture
def sink():
    site = server.Site(Sink())
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield site.resource, port.getHost().port
    port.stopListening()


def http_dest(tmp_path, port: int, max_attempts: int = 5) -> Destination:
    secret = tmp_path / "erp.secret"
    secret.write_bytes(SECRET + b"\n")
    secret.chmod(0o600)
    return Destination("erp", "http", f"http://127.0.0.1:{port}/edi", None, None, secret, 5.0, max_attempts,
                       "application/json")


def queue(store: Store, dest: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        doc = {"document": "purchase_order", "po_number": f"PO{i}", "doc_id": f"doc-{i}"}
        ids.append(store.spool.put(f"out/{dest}", json.dumps(doc).encode(), {
            "partner": "amazon-us", "doc_id": f"doc-{i}", "document": "purchase_order",
            "idempotency_key": f"doc-{i}:{dest}", "content_type": "application/json"}))
        store.schedule_delivery(ids[-1], dest, f"doc-{i}:{dest}")
    return ids


async def wait_until(predicate, timeout: float = 10.0) -> None:
    waited = 0.0
    while not predicate():
        if waited > timeout:
            raise AssertionError("condition not reached")
        await task.deferLater(reactor, 0.02, lambda: None)
        waited += 0.02


def service(store, dests, **kw) -> tuple[DeliveryService, Alerts]:
    alerts = Alerts(reactor, "t", record=store.record)
    svc = DeliveryService(reactor, store, Config(dests), alerts, poll_interval=0.02, rng=random.Random(7), **kw)
    return svc, alerts


def test_http_outcome_classification():
    assert http_outcome(202).ok
    assert http_outcome(503).retry and http_outcome(429).retry and http_outcome(408).retry
    refused = http_outcome(422, b"bad po")
    assert not refused.ok and not refused.retry and refused.detail == "HTTP 422: bad po"


def test_backoff_grows_and_is_capped():
    b = Backoff(initial=1, factor=2, maximum=10, jitter=0.5)
    rng = random.Random(1)
    delays = [b.delay(n, rng) for n in range(1, 8)]
    assert 0.5 <= delays[0] <= 1 and 4 <= delays[3] <= 8 and all(d <= 10 for d in delays)
    assert delays[6] >= 5  # capped at 10 with jitter


@pytest_twisted.ensureDeferred
async def test_delivers_with_signature_and_idempotency_key(store, sink, tmp_path):
    resource_, port = sink
    ids = queue(store, "erp", 3)
    svc, _ = service(store, {"erp": http_dest(tmp_path, port)})
    svc.startService()
    try:
        await wait_until(lambda: len(store.spool.list("done")) == 3)
    finally:
        await svc.stopService()
    assert len(resource_.seen) == 3
    for hit in resource_.seen:
        h = hit["headers"]
        assert h["content-type"] == "application/json"
        doc = json.loads(hit["body"])
        assert h["idempotency-key"] == f"{doc['doc_id']}:erp"
        expected = "sha256=" + hmac.new(SECRET, hit["body"], hashlib.sha256).hexdigest()
        assert h["x-acorn-signature"] == expected
        assert h["x-acorn-partner"] == "amazon-us"
    assert store.spool.list("out/erp") == []
    rows = store.index.deliveries(ids[0])
    assert rows and rows[0]["state"] in ("delivered", "done", "ok")


@pytest_twisted.ensureDeferred
async def test_sink_down_then_up_retries_with_backoff_and_alerts_once(store, sink, tmp_path):
    resource_, port = sink
    resource_.status = 503
    queue(store, "erp", 2)
    svc, alerts = service(store, {"erp": http_dest(tmp_path, port, max_attempts=50)},
                          backoff=Backoff(initial=0.05, factor=2, maximum=0.4, jitter=0.2))
    svc.startService()
    try:
        await wait_until(lambda: len(resource_.seen) >= 10)
        resource_.status = 200
        await wait_until(lambda: len(store.spool.list("done")) == 2)
    finally:
        await svc.stopService()
    down = [a for a in alerts.sent if a["kind"] == "destination_down"]
    assert len(down) == 1, alerts.sent
    # Retries of one item were spaced by growing delays.
    key = resource_.seen[0]["headers"]["idempotency-key"]
    times = [t for t, hit in zip(resource_.times, resource_.seen, strict=True) if hit["headers"]["idempotency-key"] == key]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 3 and gaps[0] >= 0.035 and max(gaps) > gaps[0] * 1.5, gaps
    # Every repeated POST carried an idempotency key already seen.
    keys = [h["headers"]["idempotency-key"] for h in resource_.seen]
    assert set(keys) == {"doc-0:erp", "doc-1:erp"}


@pytest_twisted.ensureDeferred
async def test_4xx_is_not_retried_and_goes_to_failed(store, sink, tmp_path):
    resource_, port = sink
    resource_.status = 422
    ids = queue(store, "erp", 1)
    svc, alerts = service(store, {"erp": http_dest(tmp_path, port)})
    svc.startService()
    try:
        await wait_until(lambda: store.spool.list("failed") == ids)
    finally:
        await svc.stopService()
    assert len(resource_.seen) == 1
    item = store.spool.item(ids[0])
    assert "HTTP 422: nope" in json.dumps(item.meta)
    assert [a["kind"] for a in alerts.sent] == ["delivery_failed"]


@pytest_twisted.ensureDeferred
async def test_down_destination_does_not_block_folder(store, tmp_path):
    dead = Destination("erp", "http", "http://127.0.0.1:9/edi", None, None, None, 1.0, 100, "application/json")
    folder = Destination("archive", "folder", None, tmp_path / "archive", None, None, 1.0, 3, "application/json")
    queue(store, "erp", 3)
    ids = queue(store, "archive", 3)
    svc, _ = service(store, {"erp": dead, "archive": folder},
                     backoff=Backoff(initial=5, factor=2, maximum=10, jitter=0))
    svc.startService()
    try:
        await wait_until(lambda: len(store.spool.list("done")) == 3)
    finally:
        await svc.stopService()
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == ["doc-0.json", "doc-1.json", "doc-2.json"]
    assert len(store.spool.list("out/erp")) == 3 and set(store.spool.list("done")) == set(ids)


def test_partner_queues_survive_a_reload(store, tmp_path):
    folder = Destination("archive", "folder", None, tmp_path / "archive", None, None, 1.0, 3, "application/json")
    svc, _ = service(store, {"archive": folder})

    async def to_partner(parcel):  # a transport's sender, e.g. AS2 to the partner
        raise AssertionError("not called")

    svc.add_queue(Destination("partner.amazon-us", "as2", "http://127.0.0.1:9/as2", None, "amazon-us", None, 1.0,
                              3, "application/edi-x12"), to_partner)
    svc.reconfigure(Config({"archive": folder}))
    assert svc.senders["partner.amazon-us"] is to_partner and "archive" in svc.senders
    assert "partner.amazon-us" in svc.destinations
