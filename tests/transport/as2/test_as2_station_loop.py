"""Our sender against our receiving station, both on real loopback sockets with real stores: sync and
async MDNs, MIC checking, and what a sender reports when the MDN is wrong or never comes."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint

from gateway.store import SpoolInbox
from gateway.store.store import Store
from gateway.transport.as2.directory import As2Partner, Directory
from gateway.transport.as2.pool import CodecPool
from gateway.transport.as2.profiles import LocalIdentity, MdnOptions, PartnerProfile
from gateway.transport.as2.receiver import build_site
from gateway.transport.as2.sender import As2Sender
from gateway.transport.as2.service import AsyncMdnSender
from gateway.transport.as2.station import MDN_QUEUE, Station
from gateway.transport.delivery.senders import Parcel

from .conftest import Party


class Side:
    """One AS2 station (store, pool in threads, listener on port 0)."""

    def __init__(self, root: Path, local: LocalIdentity, partners: list[As2Partner]) -> None:
        self.store = Store.open(
            str(root / "spool"), str(root / "audit"), str(root / "index.sqlite"), node=local.as2_id
        )
        self.directory = Directory(
            local, {p.profile.as2_id: p for p in partners}, {p.id: p for p in partners}
        )
        tmp = root / "spool" / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.station = Station(
            reactor,
            CodecPool(reactor, workers=0),
            self.directory,
            self.store,
            SpoolInbox(self.store),
            str(tmp),
            1 << 26,
            queued=self._post_mdns,
        )
        self.site = build_site(self.station, 1 << 24, str(tmp))
        self.port = None
        self.posted: list[str] = []

    async def listen(self) -> int:
        self.port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(self.site)
        return self.port.getHost().port

    def _post_mdns(self) -> None:
        async def run() -> None:
            for item_id in self.store.spool.list(f"out/{MDN_QUEUE}"):
                payload, meta = self.store.spool.get(item_id)
                out = await AsyncMdnSender(reactor, timeout=5)(
                    Parcel(item_id, payload, MDN_QUEUE, item_id, meta.get("partner"), None, None, "")
                )
                assert out.ok, out.detail
                self.store.move(item_id, "done")
                self.posted.append(item_id)

        defer.Deferred.fromCoroutine(run())

    async def close(self) -> None:
        if self.port is not None:
            await self.port.stopListening()
        for ch in list(self.site.channels):
            ch.transport.abortConnection()
        self.store.close()


async def _pair(tmp_path: Path, us: Party, them: Party, mode: str) -> tuple[Side, Side, As2Sender]:
    partner_side = Side(
        tmp_path / "partner",
        LocalIdentity("PARTNER", (them.pair,)),
        [As2Partner("acme", PartnerProfile("ACMEVENDOR", (us.pair.cert,)), None, 5.0)],
    )
    pport = await partner_side.listen()
    our_side = Side(tmp_path / "us", LocalIdentity("ACMEVENDOR", (us.pair,)), [])
    oport = await our_side.listen()
    profile = PartnerProfile(
        "PARTNER",
        (them.pair.cert,),
        sign="sha384",
        encrypt="aes_256_cbc",
        compress=True,
        mdn=MdnOptions(mode, True, f"http://127.0.0.1:{oport}/as2" if mode == "async" else None),
    )
    entry = As2Partner("partner-x", profile, f"http://127.0.0.1:{pport}/as2", 5.0)
    our_side.directory.partners["PARTNER"] = our_side.directory.by_id["partner-x"] = entry
    return partner_side, our_side, As2Sender(reactor, our_side.station, our_side.store)


@pytest_twisted.ensureDeferred
async def test_sync_mdn_checked_and_payload_stored_at_the_partner(
    tmp_path: Path, us: Party, them: Party
) -> None:
    partner, ours, sender = await _pair(tmp_path, us, them, "sync")
    try:
        payload = b"ISA*00*~" + b"X" * 3000
        report = await sender.send("partner-x", payload, "inv-1.x12")
        assert report.ok, report.detail
        assert report.mdn is not None and report.mdn.signed and report.mdn.mic_ok
        assert report.outbound is not None and report.outbound.cipher == "aes_256_cbc"
        items = partner.store.spool.list("in")
        assert len(items) == 1
        got, meta = partner.store.spool.get(items[0])
        assert got == payload and meta["filename"] == "inv-1.x12" and meta["partner"] == "acme"
        row = ours.store.index.message("partner-x", report.message_id, "out")
        assert row is not None and row["mdn_status"] == "processed"
        # the delivery-service face of the same sender
        outcome = await sender.for_partner(type("P", (), {"id": "partner-x"}))(
            Parcel(
                "item1", b"ISA*01~", "partner.partner-x", "k", "partner-x", None, None, "application/edi-x12"
            )
        )
        assert outcome.ok and len(partner.store.spool.list("in")) == 2
    finally:
        await partner.close()
        await ours.close()


@pytest_twisted.ensureDeferred
async def test_async_mdn_comes_back_to_our_endpoint_and_is_matched(
    tmp_path: Path, us: Party, them: Party
) -> None:
    partner, ours, sender = await _pair(tmp_path, us, them, "async")
    try:
        report = await sender.send("partner-x", b"ISA*02~async", "a.x12")
        assert report.ok, report.detail
        assert report.mdn is not None and report.mdn.signed and report.mdn.mic_ok
        assert partner.posted and not ours.station.waiters
    finally:
        await partner.close()
        await ours.close()


@pytest_twisted.ensureDeferred
async def test_failures_are_reported_not_raised(
    tmp_path: Path, us: Party, them: Party, stranger: Party
) -> None:
    partner, ours, sender = await _pair(tmp_path, us, them, "sync")
    try:
        # the partner holds the wrong certificate for us: its signed MDN says authentication-failed
        wrong = As2Partner("acme", PartnerProfile("ACMEVENDOR", (stranger.pair.cert,)), None, 5.0)
        partner.station.reconfigure(
            Directory(partner.directory.local, {"ACMEVENDOR": wrong}, {"acme": wrong})
        )
        report = await sender.send("partner-x", b"ISA*03~")
        assert not report.ok and "authentication-failed" in report.detail, report.detail
        assert not partner.store.spool.list("in")
        # an MDN signed with a key we do not know for the partner is not trusted
        right = As2Partner("acme", PartnerProfile("ACMEVENDOR", (us.pair.cert,)), None, 5.0)
        impostor = LocalIdentity("PARTNER", (stranger.pair,))
        partner.station.reconfigure(Directory(impostor, {"ACMEVENDOR": right}, {"acme": right}))
        report = await sender.send("partner-x", b"ISA*04~")
        assert not report.ok and report.mdn is not None and not report.mdn.ok, report.detail
        # nobody listening: a failure with the reason (the delivery service retries it)
        await partner.close()
        report = await sender.send("partner-x", b"ISA*05~")
        assert not report.ok and "ConnectionRefused" in report.detail
        row = ours.store.index.message("partner-x", report.message_id, "out")
        assert row is not None and row["mdn_status"].startswith("failed")
    finally:
        await ours.close()
