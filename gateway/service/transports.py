"""Building the partner-facing transports from the configuration, and the partner delivery queues.

Every partner gets an outbound queue ``out/partner.<id>/`` (acknowledgements, ASNs, invoices). What
drains it depends on the partner profile: AS2 to ``as2.url`` when the partner has one; otherwise the SFTP
outbox of its first SFTP user; otherwise an upload to its own SFTP server (``sftp.remote``).
"""

from __future__ import annotations

import os
from typing import Any

import structlog
from twisted.application import service
from twisted.internet import threads

from gateway.config import Destination, GatewayConfig, Partner
from gateway.pipeline.inbound import partner_queue
from gateway.transport.delivery.policy import Outcome
from gateway.transport.delivery.senders import Parcel, Sender
from gateway.transport.sftp.config import InboxDoneMode, SFTPLimits, SFTPRemoteConfig, SFTPUserConfig
from gateway.transport.sftp.outbox import SFTPOutbox
from gateway.transport.sftp.poller import SFTPPoller
from gateway.transport.sftp.service import SFTPService

log = structlog.get_logger(__name__)


class DaemonSFTPService(SFTPService):
    """The SFTP server as a daemon listener: ``listen()`` is awaited before READY=1."""

    name = "sftp"

    def startService(self) -> None:  # type: ignore[override]
        service.Service.startService(self)

    async def listen(self) -> Any:
        await self._start()
        return self.port

    def reconfigure(self, config: GatewayConfig) -> None:
        self.set_users(sftp_users(config))


def sftp_users(config: GatewayConfig) -> list[SFTPUserConfig]:
    users = []
    for partner in config.partners.values():
        for u in (partner.sftp or {}).get("users") or []:
            password_hash = None
            if u.get("password_hash_file"):
                with open(config.base / u["password_hash_file"], encoding="utf-8") as fh:
                    password_hash = fh.read().strip()
            keys = (str(config.base / u["authorized_keys"]),) if u.get("authorized_keys") else ()
            users.append(SFTPUserConfig(
                name=u["name"], partner=partner.id, authorized_keys=keys, password_hash=password_hash,
                delete_after_download=u.get("delete_after_download", True),
                inbox_done_mode=InboxDoneMode(u.get("inbox_done", "delete"))))
    return users


def build_sftp(reactor: Any, config: GatewayConfig, inbox: Any) -> DaemonSFTPService | None:
    users = sftp_users(config)
    if "sftp" not in config.listen:
        return None
    return DaemonSFTPService(reactor, config.listen["sftp"], users, str(config.paths.sftp_root),
                             str(config.paths.keys / "sftp_host_ed25519"), inbox,
                             SFTPLimits(max_upload_bytes=config.sftp_upload_max))


def remote_config(partner: Partner, config: GatewayConfig) -> SFTPRemoteConfig | None:
    r = (partner.sftp or {}).get("remote")
    if not r:
        return None
    from gateway.config import parse_duration

    host_key = r["host_key"]
    if not host_key.startswith(("ssh-", "ecdsa-")):
        with open(config.base / host_key, encoding="utf-8") as fh:
            host_key = fh.read().strip()
    return SFTPRemoteConfig(partner=partner.id, host=r["host"], port=r["port"], user=r["user"],
                            key_path=str(config.base / r["key"]), known_host_key=host_key,
                            inbound_dir=r["inbound_dir"], outbound_dir=r["outbound_dir"],
                            poll_interval_s=parse_duration(r["poll_interval"]), after_download=r["after_download"])


def build_pollers(reactor: Any, config: GatewayConfig, inbox: Any) -> list[SFTPPoller]:
    pollers = []
    for partner in config.partners.values():
        remote = remote_config(partner, config)
        if remote is None:
            continue
        base = config.paths.spool / "sftp-client" / partner.id
        poller = SFTPPoller(reactor, reactor, remote, inbox, str(base / "staging"), str(base / "outgoing"))
        poller.setName(f"sftp-poller.{partner.id}")
        pollers.append(poller)
    return pollers


class SFTPOutboxSender:
    """Drains a partner queue into the partner's SFTP outbox (they download from us)."""

    def __init__(self, outbox: SFTPOutbox, user: str) -> None:
        self.outbox = outbox
        self.user = user

    async def __call__(self, parcel: Parcel) -> Outcome:
        name = parcel.filename or f"{parcel.doc_id or parcel.item_id}.edi"
        name = f"{parcel.item_id}-{name}"  # unique per queued item: a retry never collides with another file
        try:
            await threads.deferToThread(self.outbox.put, self.user, name, parcel.payload)
        except FileExistsError:
            return Outcome(True, detail="already in the outbox")
        except OSError as exc:
            return Outcome(False, retry=True, detail=f"cannot write the SFTP outbox: {exc}")
        return Outcome(True)


class SFTPUploadSender:
    """Queues a partner item for upload to the partner's own SFTP server (the poller uploads it)."""

    def __init__(self, poller: SFTPPoller) -> None:
        self.poller = poller

    async def __call__(self, parcel: Parcel) -> Outcome:
        name = f"{parcel.item_id}-{parcel.filename or 'document.edi'}"
        try:
            await threads.deferToThread(self.poller.queue, name, parcel.payload)
        except FileExistsError:
            return Outcome(True, detail="already queued")
        except OSError as exc:
            return Outcome(False, retry=True, detail=f"cannot queue for upload: {exc}")
        return Outcome(True)


def partner_senders(config: GatewayConfig, pollers: list[SFTPPoller],
                    as2_sender: Any = None) -> list[tuple[Destination, Sender]]:
    """One (queue, sender) per partner that we can send to."""
    out: list[tuple[Destination, Sender]] = []
    by_partner = {p.remote.partner: p for p in pollers}
    for partner in config.partners.values():
        name = partner_queue(partner.id)
        sender: Sender | None = None
        kind = ""
        if partner.as2 and partner.as2.get("url") and as2_sender is not None:
            sender, kind = as2_sender(partner), "as2"
        elif (partner.sftp or {}).get("users"):
            sender, kind = SFTPOutboxSender(SFTPOutbox(str(config.paths.sftp_root)), partner.sftp["users"][0]["name"]), "sftp"  # type: ignore[index]  # the test above saw partner.sftp set
        elif partner.id in by_partner:
            sender, kind = SFTPUploadSender(by_partner[partner.id]), "sftp"
        if sender is None:
            log.warning("partner_without_outbound_transport", partner=partner.id,
                        hint="give the partner as2.url, sftp.users or sftp.remote; its queue waits until then")
            continue
        dest = Destination(name, kind, partner.as2.get("url") if kind == "as2" and partner.as2 else None,
                           None, partner.id, None, 120.0, 20, "application/edi-x12")
        out.append((dest, sender))
    return out


def ensure_dirs(config: GatewayConfig) -> None:
    os.makedirs(config.paths.sftp_root, exist_ok=True)
