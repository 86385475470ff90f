"""Sending AS2 messages to partners and checking their MDNs.

One attempt: build (sign, compress, encrypt per the partner profile) in the codec pool, POST, and
check the MDN: signature valid when we asked for a signed one, disposition ``processed``, and the
Received-Content-MIC equal to the MIC we computed (a missing or different MIC is a failure). The MDN
comes back in the HTTP response (sync) or later as a POST to our endpoint (async; the station hands it
to the waiting attempt). Anything short of a valid MDN within ``as2.mdn.timeout`` is a failed attempt
that the delivery service retries with backoff, then moves to ``failed/`` with an alert.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import structlog
from twisted.internet import defer, threads
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers

from gateway.transport.as2.codec import MdnResult, OutboundMessage
from gateway.transport.as2.directory import As2Partner
from gateway.transport.as2.pool import build_job, check_mdn_job
from gateway.transport.as2.station import Station
from gateway.transport.delivery.policy import Outcome
from gateway.transport.delivery.senders import Parcel

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SendReport:
    partner: str
    message_id: str | None
    ok: bool
    detail: str
    http_status: int | None = None
    mdn: MdnResult | None = None
    outbound: OutboundMessage | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        m = self.mdn
        return {
            "partner": self.partner,
            "message_id": self.message_id,
            "ok": self.ok,
            "detail": self.detail,
            "http_status": self.http_status,
            "seconds": round(self.seconds, 4),
            "mdn": None
            if m is None
            else {
                "disposition": m.disposition,
                "signed": m.signed,
                "mic_ok": m.mic_ok,
                "mic": m.mic,
                "mic_alg": m.mic_alg,
                "original_message_id": m.original_message_id,
                "error": m.error,
            },
            "sent": None
            if self.outbound is None
            else {
                "signed": self.outbound.signed,
                "encrypted": self.outbound.encrypted,
                "compressed": self.outbound.compressed,
                "cipher": self.outbound.cipher,
                "mic": self.outbound.mic,
                "mic_alg": self.outbound.mic_alg,
            },
        }


class As2Sender:
    def __init__(self, reactor: Any, station: Station, store: Any = None, agent: Any = None) -> None:
        self.reactor = reactor
        self.station = station
        self.store = store
        if agent is None:
            pool = HTTPConnectionPool(reactor, persistent=True)
            pool.maxPersistentPerHost = 4
            agent = Agent(reactor, pool=pool)
        self.agent = agent

    def for_partner(self, partner: Any) -> Any:
        """The delivery-service sender (``Parcel -> Outcome``) for a configured partner."""
        partner_id = partner.id

        async def send(parcel: Parcel) -> Outcome:
            report = await self.send(
                partner_id, parcel.payload, parcel.filename, parcel.content_type, parcel.item_id
            )
            return Outcome(report.ok, retry=True, status=report.http_status, detail=report.detail)

        return send

    async def send(
        self,
        partner_id: str,
        payload: bytes,
        filename: str | None = None,
        content_type: str = "application/edi-x12",
        item_id: str | None = None,
    ) -> SendReport:
        started = self.reactor.seconds()
        entry = self.station.directory.by_id.get(partner_id)
        if entry is None or not entry.url:
            return SendReport(partner_id, None, False, f"partner {partner_id} has no AS2 url")
        local, profile = self.station.directory.local, entry.profile
        try:
            outbound = await self.station.pool.run(
                build_job, profile.codec, payload, local, profile, filename, content_type
            )
        except Exception as exc:  # no valid certificate, a bad key: the admin must act; retried meanwhile
            return SendReport(
                partner_id, None, False, f"cannot build the message: {type(exc).__name__}: {exc}"
            )
        report = await self._post(entry, outbound, item_id, started)
        log.log(
            20 if report.ok else 30,
            "as2_sent",
            partner=partner_id,
            message_id=outbound.message_id,
            item_id=item_id,
            ok=report.ok,
            detail=report.detail,
            cipher=outbound.cipher,
            digest=outbound.mic_alg,
            seconds=round(report.seconds, 4),
        )
        if self.store is not None:
            await self._audit(report, item_id)
        return report

    async def _post(
        self, entry: As2Partner, outbound: OutboundMessage, item_id: str | None, started: float
    ) -> SendReport:
        mode = entry.profile.mdn.mode
        waiter = self.station.expect_mdn(entry, outbound) if mode == "async" else None

        def report(
            ok: bool, detail: str, status: int | None = None, mdn: MdnResult | None = None
        ) -> SendReport:
            return SendReport(
                entry.id,
                outbound.message_id,
                ok,
                detail,
                status,
                mdn,
                outbound,
                self.reactor.seconds() - started,
            )

        try:
            if self.store is not None:
                await threads.deferToThread(self.store.message_sent, entry.id, outbound.message_id, item_id)
            headers = Headers(
                {k.encode("latin-1"): [v.encode("latin-1")] for k, v in outbound.headers.items()}
            )
            if entry.basic_auth is not None:
                user, pw = entry.basic_auth
                headers.addRawHeader(
                    b"authorization", b"Basic " + base64.b64encode(user.encode() + b":" + pw)
                )
            assert entry.url is not None
            d = self.agent.request(
                b"POST", entry.url.encode(), headers, FileBodyProducer(BytesIO(outbound.body))
            )
            d.addTimeout(entry.mdn_timeout, self.reactor)
            try:
                response = await d
                body = await readBody(response).addTimeout(entry.mdn_timeout, self.reactor)
            except defer.TimeoutError:
                return report(False, f"no answer within {entry.mdn_timeout:g}s")
            except Exception as exc:  # refused, reset, TLS: retried
                return report(False, f"{type(exc).__name__}: {exc}")
            if not 200 <= response.code < 300:
                text = body[:200].decode("utf-8", "replace").strip()
                return report(False, f"HTTP {response.code}: {text}", response.code)
            resp_h = {
                k.decode("latin-1"): b", ".join(v).decode("latin-1")
                for k, v in response.headers.getAllRawHeaders()
            }
            if waiter is not None:
                try:
                    resp_h, body = await waiter.done.addTimeout(entry.mdn_timeout, self.reactor)
                except defer.TimeoutError:
                    return report(False, f"no asynchronous MDN within {entry.mdn_timeout:g}s", response.code)
            elif mode == "none":
                return report(True, "sent (no MDN requested)", response.code)
            mdn = await self.station.pool.run(
                check_mdn_job, entry.profile.codec, resp_h, body, outbound, entry.profile
            )
            detail = (mdn.disposition or "") if mdn.ok else (mdn.error or "invalid MDN")
            return report(mdn.ok, detail, response.code, mdn)
        finally:
            if waiter is not None:
                self.station.forget(outbound.message_id)

    async def _audit(self, report: SendReport, item_id: str | None) -> None:
        if report.message_id is None:
            return
        data = report.as_json()
        status = (report.mdn.disposition if report.mdn else None) or ("failed: " + report.detail)
        try:
            await threads.deferToThread(self.store.mdn_received, report.partner, report.message_id, status)
            await threads.deferToThread(
                self.store.record,
                "as2.sent",
                partner=report.partner,
                keys={"message_id": report.message_id},
                item_id=item_id,
                data=data,
            )
        except OSError as exc:
            log.error(
                "as2_audit_failed", partner=report.partner, message_id=report.message_id, error=str(exc)
            )
