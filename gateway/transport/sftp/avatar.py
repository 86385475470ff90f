"""The logged-in partner user: SFTP subsystem only; no shell, no exec, no pty, no forwarding."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from twisted.conch.avatar import ConchUser
from twisted.conch.ssh import filetransfer, session
from twisted.internet import defer, threads
from twisted.logger import Logger

from gateway.store.fsio import fsync_dir
from gateway.transport.futures import when_done
from gateway.transport.inbox import Inbox, Received
from gateway.transport.sftp.config import InboxDoneMode, SFTPLimits, SFTPUserConfig

log = structlog.get_logger()
STAGE_NOW_MAX = 256 * 1024  # uploads up to this size are written into the spool on the reactor


class _QuietLogger(Logger):
    """conch's file transfer logs every packet at info level: those calls are dropped before an event
    is even built (about 5% of the reactor's time in an upload burst); warnings and worse go on."""

    def debug(self, format: str | None = None, **kwargs: object) -> None:
        pass

    def info(self, format: str | None = None, **kwargs: object) -> None:
        pass


class UserState:
    """What all sessions of one user share: the session count and the recently taken uploads."""

    def __init__(self) -> None:
        self.sessions = 0
        self.recent: OrderedDict[str, dict[str, int]] = OrderedDict()

    def remember(self, virtual: str, attrs: dict[str, int]) -> None:
        self.recent[virtual] = attrs
        self.recent.move_to_end(virtual)
        while len(self.recent) > 1000:
            self.recent.popitem(last=False)


class PartnerUser(ConchUser):
    """The avatar of one SFTP login, jailed in ``root``."""

    def __init__(
        self,
        config: SFTPUserConfig,
        root: str,
        state: UserState,
        inbox: Inbox,
        limits: SFTPLimits,
        reactor: Any,
    ) -> None:
        super().__init__()
        self.config = config
        self.root = root
        self.state = state
        self.inbox = inbox
        self.limits = limits
        self.reactor = reactor
        self.remote = "?"
        self.channelLookup[b"session"] = SFTPOnlySession
        self.subsystemLookup[b"sftp"] = PartnerFileTransferServer

    def log_event(self, event: str, **kw: Any) -> None:
        level = "warning" if "escape" in event or "denied" in event or "too_large" in event else "info"
        getattr(log, level)(event, partner=self.config.partner, user=self.config.name, remote=self.remote, **kw)

    def in_thread(self, fn: Callable[[], Any]) -> defer.Deferred[Any]:
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), fn)

    def fsync_dir(self, path: str) -> None:
        fsync_dir(path)

    def hand_off_later(self, real: str, virtual: str, name: str) -> defer.Deferred[str]:
        """Give a complete upload to the gateway (on the reactor); fires with the spool item id once
        it is durable. An inbox that can queue (the store's, see ``AsyncInbox``) takes it without a
        thread; keeping a hard link in ``inbox/.done/`` (an fsync) or a blocking inbox uses one."""
        submit = getattr(self.inbox, "submit_file", None)
        if submit is None or self.config.inbox_done_mode is InboxDoneMode.KEEP:
            stored = self.in_thread(lambda: self._hand_off_blocking(real, name))
        else:
            size = os.stat(real).st_size
            # a small upload is written into the spool right here (see SpoolInbox.submit_file)
            future = submit(real, self._received(name, size), stage_now=size <= STAGE_NOW_MAX)
            stored = when_done(self.reactor, future).addCallback(lambda item_id: (item_id, size))
        return stored.addCallback(lambda got: self._handed_off(virtual, name, *got))

    def hand_off_payload(self, payload: bytes, virtual: str, name: str) -> defer.Deferred[str]:
        """Like :meth:`hand_off_later`, for an upload held in memory (never in ``keep`` mode: that one
        needs a file to link). An inbox that can queue writes it into the spool at once (it is small)
        and queues its durability round; a blocking one takes it in a thread."""
        received = self._received(name, len(payload))
        submit = getattr(self.inbox, "submit", None)
        if submit is None:
            stored = self.in_thread(lambda: self.inbox.accept(payload, received))
        else:
            stored = when_done(self.reactor, submit(payload, received, stage_now=True))
        return stored.addCallback(lambda item_id: self._handed_off(virtual, name, item_id, len(payload)))

    def _hand_off_blocking(self, real: str, name: str) -> tuple[str, int]:
        """The hand-off in a thread: keep the hard link in ``inbox/.done/`` if so configured, then wait
        for the inbox to make the upload durable. Returns its item id and size."""
        size = os.stat(real).st_size
        if self.config.inbox_done_mode is InboxDoneMode.KEEP:
            done_dir = os.path.join(self.root, "inbox", ".done")
            done = os.path.join(done_dir, name)
            try:
                os.unlink(done)
            except FileNotFoundError:
                pass
            os.link(real, done)
            self.fsync_dir(done_dir)
        return self.inbox.accept_file(real, self._received(name, size)), size

    def _handed_off(self, virtual: str, name: str, item_id: str, size: int) -> str:
        self.state.remember(f"/inbox/{name}", {"size": size, "permissions": 0o100640})
        self.log_event("sftp_upload_complete", path=virtual, name=name, bytes=size, item_id=item_id)
        return item_id

    def _received(self, name: str, size: int) -> Received:
        return Received(
            partner=self.config.partner,
            transport="sftp",
            message_id=f"{self.config.name}:/inbox/{name}",
            filename=name,
            extra={"user": self.config.name, "remote": self.remote, "size": size},
        )


class SFTPOnlySession(session.SSHSession):
    """A session channel that only starts the ``sftp`` subsystem."""

    avatar: PartnerUser  # type: ignore[assignment]  # implements IConchUser (zope); the realm only hands out these

    def _refuse(self, what: str) -> int:
        self.avatar.log_event("sftp_session_request_denied", request=what)
        return 0

    def request_env(self, data: bytes) -> int:
        return 0

    def request_pty_req(self, data: bytes) -> int:
        return 0

    def request_window_change(self, data: bytes) -> int:
        return 0

    def request_x11_req(self, data: bytes) -> int:
        return 0

    def request_auth_agent_req_openssh_com(self, data: bytes) -> int:
        return 0

    def request_shell(self, data: bytes) -> int:
        self.avatar.reactor.callLater(0, self.loseConnection)
        return self._refuse("shell")

    def request_exec(self, data: bytes) -> int:
        self.avatar.reactor.callLater(0, self.loseConnection)
        return self._refuse("exec")


class PartnerFileTransferServer(filetransfer.FileTransferServer):
    """SFTP protocol bound to our jailed server; marks open files aborted when the channel dies."""

    _log = _QuietLogger()

    def __init__(self, data: bytes | None = None, avatar: PartnerUser | None = None) -> None:
        from gateway.transport.sftp.server import JailedSFTPServer

        filetransfer.FileTransferBase.__init__(self)
        assert avatar is not None
        self.client = JailedSFTPServer(avatar)  # type: ignore[assignment]  # implements ISFTPServer (zope)
        self.openFiles: dict[bytes, Any] = {}
        self.openDirs: dict[bytes, Any] = {}

    def connectionLost(self, reason: Any) -> None:  # type: ignore[override]  # Twisted always passes the reason
        for f in self.openFiles.values():
            f.aborted = True
        super().connectionLost(reason)
