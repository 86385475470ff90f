"""The AS2 station: what happens to one inbound POST, and the state it shares with the sender.

Receive order (the non-negotiable): decode in the codec pool, store the payload durably through the
inbox, and only then answer with the MDN (sync, in the HTTP response; async, queued for the delivery
service to post to the partner's ``Receipt-Delivery-Option``). A repeated Message-ID from the same
partner is decoded (so the MDN carries the MIC) but not stored again, and gets ``duplicate-document``.
Every message, taken or refused, leaves an ``as2.received`` audit event with the cipher, digest and
MIC actually used.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import structlog
from twisted.internet import defer, threads

from gateway.service import metrics
from gateway.transport.as2 import as2headers
from gateway.transport.as2.codec import InboundResult
from gateway.transport.as2.directory import As2Partner, Directory
from gateway.transport.as2.pool import CodecPool, Received, receive_job
from gateway.transport.futures import when_done
from gateway.transport.inbox import AsyncInbox
from gateway.transport.inbox import Received as Arrival

log = structlog.get_logger(__name__)
MDN_QUEUE = "as2-mdn"
AUDIT_BATCH = (
    0.1  # seconds between as2.received audit batches  # out/as2-mdn/: async MDNs waiting to be posted
)
_ORIG_ID = re.compile(rb"Original-Message-ID:\s*<?([^>\r\n]+)>?", re.I)
_MDN_SCAN = 256 * 1024


@dataclass
class Waiter:
    """An outbound message whose asynchronous MDN we expect."""

    partner: As2Partner
    outbound: Any  # OutboundMessage
    done: defer.Deferred[tuple[dict[str, str], bytes]] = field(default_factory=defer.Deferred)


def _headers(request: Any) -> dict[str, str]:
    return {
        k.decode("latin-1"): ", ".join(v.decode("latin-1") for v in vals)
        for k, vals in request.requestHeaders.getAllRawHeaders()
    }


def _answer(
    request: Any,
    gone: list[bool],
    code: int,
    text: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> None:
    if gone or request.finished:
        return
    request.setResponseCode(code)
    if body is None:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        body = (text + "\n").encode()
    for k, v in (headers or {}).items():
        request.setHeader(k.encode("latin-1"), v.encode("latin-1", "replace"))
    request.setHeader(b"content-length", str(len(body)).encode())
    request.write(body)
    request.finish()


class Station:
    def __init__(
        self,
        reactor: Any,
        pool: CodecPool,
        directory: Directory,
        store: Any,
        inbox: AsyncInbox | None,  # None: a station that only sends (gatewayctl as2 send)
        tmp_dir: str,
        max_size: int,
        queued: Callable[[], None] | None = None,
    ) -> None:
        self.reactor = reactor
        self.pool = pool
        self.directory = directory
        self.store = store
        self.inbox = inbox
        self.tmp_dir = tmp_dir
        self.max_size = max_size
        self.queued = queued or (lambda: None)  # called after an async MDN was queued (delivery kick)
        self.inflight: set[tuple[str, str]] = set()
        self.waiters: dict[str, Waiter] = {}  # outbound Message-ID -> waiter for its async MDN
        self._facts: dict[str, list[dict[str, Any]]] = {}  # partner id -> as2.received facts to write
        self._flush_call: Any = None
        for name, kind in (("acorn_as2_received_total", "counter"), ("acorn_as2_seconds", "counter")):
            metrics.describe(
                name,
                kind,
                "AS2 messages received by outcome"
                if "total" in name
                else "seconds spent per AS2 receive stage",
            )

    def reconfigure(self, directory: Directory) -> None:
        self.directory = directory

    # -- one POST --------------------------------------------------------------------------------------
    async def handle(self, request: Any, gone: list[bool]) -> None:
        t0 = time.perf_counter()
        h = _headers(request)
        lh = as2headers.lower(h)
        as2_from, as2_to = as2headers.as2_ids(lh)
        msg_id = as2headers.message_id(lh)
        try:
            if not as2_from or not as2_to:
                return _answer(request, gone, 400, "AS2-From and AS2-To headers are required")
            partner = self.directory.find(as2_from, as2_to)
            if partner is None:
                if as2_to != self.directory.local.as2_id:
                    return _answer(
                        request,
                        gone,
                        404,
                        f"AS2-To {as2_to!r} is not this station ({self.directory.local.as2_id!r})",
                    )
                return _answer(
                    request, gone, 403, f"unknown-trading-partner: AS2-From {as2_from!r} is not a partner"
                )
            if not partner.auth_ok(request.getHeader(b"authorization")):
                return _answer(
                    request, gone, 401, "authentication required", {"WWW-Authenticate": 'Basic realm="AS2"'}
                )
            if not lh.get("content-type"):
                return _answer(request, gone, 400, "Content-Type header is required")
            if await self._maybe_mdn(request, gone, partner, h, lh):
                return None
            if not msg_id:
                return _answer(request, gone, 400, "Message-ID header is required")
            await self._receive(request, gone, partner, h, msg_id, t0)
        finally:
            request.drop_body()
        return None

    async def _receive(
        self, request: Any, gone: list[bool], partner: As2Partner, h: dict[str, str], msg_id: str, t0: float
    ) -> None:
        key = (partner.id, msg_id)
        body = request.take_body()
        got: Received | None = None
        duplicate = key in self.inflight
        self.inflight.add(key)
        try:
            if not duplicate:  # one indexed SQLite read (~20 us): cheaper here than a thread hop
                duplicate = self.store.message_received(partner.id, msg_id)
            t1 = time.perf_counter()
            got = await self.pool.run(
                receive_job,
                partner.profile.codec,
                h,
                body,
                self.directory.local,
                partner.profile,
                duplicate,
                self.tmp_dir if isinstance(body, str) else None,
                self.max_size,
            )
            t2 = time.perf_counter()
            result = got.result
            item_id = None
            if result.ok and not result.warning:
                try:
                    item_id = await when_done(self.reactor, self._store(partner, result, got, msg_id))
                except OSError as exc:
                    log.error("as2_store_failed", partner=partner.id, message_id=msg_id, error=str(exc))
                    _answer(request, gone, 503, "the message could not be stored; please resend later")
                    return
            t3 = time.perf_counter()
        finally:
            if isinstance(body, str):
                _unlink(body)
            if got is not None and got.payload_path:
                _unlink(got.payload_path)  # moved into the spool unless refused or failed
            if not duplicate:
                self.inflight.discard(key)
        self._respond(request, gone, partner, result, got)
        t4 = time.perf_counter()
        outcome = "ok" if result.ok and not result.warning else (result.warning or result.error or "error")
        metrics.inc("acorn_as2_received_total", outcome=outcome)
        timings = {
            "dup_check": t1 - t0,
            "pool": t2 - t1,
            "codec": got.codec_seconds,
            "mdn_build": got.mdn_seconds,
            "store": t3 - t2,
            "respond": t4 - t3,
        }
        log.info(
            "as2_received",
            partner=partner.id,
            message_id=msg_id,
            item_id=item_id,
            doc_id=None,
            disposition=result.disposition,
            cipher=result.cipher,
            digest=result.digest,
            mdn="async" if result.mdn.url else ("sync" if result.mdn.wanted else "none"),
            ms={k: round(v * 1000, 3) for k, v in timings.items()},
        )
        self._audit(partner, result, item_id)

    def _store(self, partner: As2Partner, result: InboundResult, got: Received, msg_id: str) -> Future[str]:
        """Queue the payload for the spool (written with other arrivals by the store's intake thread)."""
        extra = {
            "as2_from": result.as2_from,
            "as2_to": result.as2_to,
            "mic": result.mic,
            "mic_alg": result.mic_alg,
            "signed": result.signed,
            "encrypted": result.encrypted,
            "compressed": result.compressed,
            "cipher": result.cipher,
            "key_enc": result.key_enc,
            "digest": result.digest,
            "signer": result.signer_fingerprint,
            "content_type": result.content_type,
        }
        arrival = Arrival(partner.id, "as2", msg_id, result.filename, extra)
        assert self.inbox is not None, "a send-only station has no inbox"
        if got.payload_path is not None:
            return self.inbox.submit_file(got.payload_path, arrival)
        assert result.payload is not None
        return self.inbox.submit(result.payload, arrival)

    def _respond(
        self, request: Any, gone: list[bool], partner: As2Partner, result: InboundResult, got: Received
    ) -> None:
        if got.mdn_headers is None or got.mdn_body is None:
            return _answer(request, gone, 200, "received" if result.ok else f"not processed: {result.error}")
        if result.mdn.url:
            defer.Deferred.fromCoroutine(self._queue_mdn(partner, result, got.mdn_headers, got.mdn_body)).addErrback(
                lambda f: log.error(
                    "as2_async_mdn_not_queued", message_id=result.message_id, error=str(f.value)
                )
            )
            return _answer(request, gone, 200, f"received; the MDN will be posted to {result.mdn.url}")
        return _answer(request, gone, 200, "", got.mdn_headers, got.mdn_body)

    async def _queue_mdn(
        self, partner: As2Partner, result: InboundResult, headers: dict[str, str], body: bytes
    ) -> None:
        item = json.dumps(
            {"url": result.mdn.url, "headers": headers, "body": body.decode("latin-1")}
        ).encode()
        meta = {
            "partner": partner.id,
            "message_id": result.message_id,
            "content_type": headers.get("Content-Type", ""),
        }
        await threads.deferToThread(self.store.spool.put, f"out/{MDN_QUEUE}", item, meta)
        self.queued()

    def _audit(self, partner: As2Partner, result: InboundResult, item_id: str | None) -> None:
        """Queue the message's ``as2.received`` facts; they are written in batches (one audit event per
        partner per ``AUDIT_BATCH`` seconds), so the trail costs one durability round per batch, not one
        per message. The stored item's meta carries the same facts from the moment it is durable."""
        fact = {
            "message_id": result.message_id,
            "item_id": item_id,
            "disposition": result.disposition,
            "detail": result.detail or None,
            "signed": result.signed,
            "encrypted": result.encrypted,
            "compressed": result.compressed,
            "cipher": result.cipher,
            "key_enc": result.key_enc,
            "digest": result.digest,
            "mic": result.mic,
            "mic_alg": result.mic_alg,
            "signer": result.signer_fingerprint,
            "filename": result.filename,
            "codec": partner.profile.codec,
            "mdn": "async" if result.mdn.url else ("sync" if result.mdn.wanted else "none"),
        }
        self._facts.setdefault(partner.id, []).append(fact)
        if self._flush_call is None:
            self._flush_call = self.reactor.callLater(AUDIT_BATCH, self.flush_audit)

    def flush_audit(self) -> defer.Deferred[None]:
        self._flush_call = None
        facts, self._facts = self._facts, {}

        def write() -> None:
            for partner_id, msgs in facts.items():
                self.store.record("as2.received", partner=partner_id, data={"messages": msgs})

        d = threads.deferToThread(write) if facts else defer.succeed(None)
        d.addErrback(
            lambda f: log.error(
                "as2_audit_failed", messages=sum(map(len, facts.values())), error=str(f.value)
            )
        )
        return d

    # -- asynchronous MDNs coming back to us ------------------------------------------------------------
    async def _maybe_mdn(
        self, request: Any, gone: list[bool], partner: As2Partner, h: dict[str, str], lh: Any
    ) -> bool:
        """Take the POST as an asynchronous MDN when it answers one of our waiting messages."""
        ctype = lh.ctype()[0]
        if ctype not in ("multipart/report", "multipart/signed"):
            return False
        if request.spool_path is not None:  # MDNs are small; a large body is a message
            return False
        body = request.content.getvalue()
        m = _ORIG_ID.search(body[:_MDN_SCAN])
        waiter = self.waiters.get(m.group(1).decode("latin-1").strip()) if m else None
        if waiter is None or waiter.partner.id != partner.id:
            if ctype == "multipart/report":
                _answer(request, gone, 200, "MDN received; no message of ours is waiting for it")
                return True
            return False  # an ordinary signed message
        self.waiters.pop(waiter.outbound.message_id, None)
        waiter.done.callback((h, body))
        _answer(request, gone, 200, "MDN received")
        return True

    def expect_mdn(self, partner: As2Partner, outbound: Any) -> Waiter:
        w = Waiter(partner, outbound)
        self.waiters[outbound.message_id] = w
        return w

    def forget(self, message_id: str) -> None:
        self.waiters.pop(message_id, None)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
