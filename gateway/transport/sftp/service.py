"""``SFTPService``: the partner-facing SFTP listener as a Twisted service."""

from __future__ import annotations

import os
import shutil
from typing import Any

import structlog
from twisted.application import service
from twisted.conch.checkers import InMemorySSHKeyDB, SSHPublicKeyChecker
from twisted.conch.interfaces import IConchUser
from twisted.conch.ssh import connection, factory, keys, transport
from twisted.cred import portal
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from zope.interface import implementer

from gateway.transport.inbox import Inbox
from gateway.transport.sftp.auth import HashedPasswordChecker, LoginRateLimiter, RateLimitedUserAuth
from gateway.transport.sftp.avatar import PartnerUser, UserState
from gateway.transport.sftp.config import SFTPLimits, SFTPUserConfig
from gateway.transport.sftp.hostkey import fingerprint, load_or_create_host_key
from gateway.transport.sftp.server import DONE, INCOMING

log = structlog.get_logger()

USER_KEY_ALGORITHMS = b",".join(
    [
        b"ssh-ed25519",
        b"ecdsa-sha2-nistp256",
        b"ecdsa-sha2-nistp384",
        b"ecdsa-sha2-nistp521",
        b"rsa-sha2-512",
        b"rsa-sha2-256",
    ]
)


class HardenedServerTransport(transport.SSHServerTransport):
    """Fast key exchange first (curve25519), CTR ciphers, SHA-2 MACs; advertises user key algorithms."""

    supportedKeyExchanges = [
        b"curve25519-sha256",
        b"curve25519-sha256@libssh.org",
        b"ecdh-sha2-nistp256",
        b"ecdh-sha2-nistp384",
        b"ecdh-sha2-nistp521",
    ]
    supportedCiphers = [b"aes128-ctr", b"aes256-ctr", b"aes192-ctr"]
    supportedMACs = [b"hmac-sha2-256", b"hmac-sha2-512"]
    supportedCompressions = [b"none"]
    factory: GatewaySSHFactory
    closed: defer.Deferred[None]  # set by SFTPService._stop on the connections it waits for

    def sendExtInfo(self, extensions: list[tuple[bytes, bytes]]) -> None:
        fixed = [(n, USER_KEY_ALGORITHMS if n == b"server-sig-algs" else v) for n, v in extensions]
        super().sendExtInfo(fixed)

    def connectionLost(self, reason: Any) -> None:  # type: ignore[override]  # Twisted always passes the reason
        super().connectionLost(reason)
        self.factory.connections.discard(self)
        waiter = getattr(self, "closed", None)
        if waiter is not None and not waiter.called:
            waiter.callback(None)


@implementer(portal.IRealm)
class PartnerRealm:
    def __init__(self, svc: SFTPService) -> None:
        self.svc = svc

    def requestAvatar(self, avatarId: bytes, mind: Any, *interfaces: Any) -> tuple[Any, Any, Any]:
        if IConchUser not in interfaces:
            raise NotImplementedError("only SSH logins")
        name = avatarId.decode()
        config = self.svc.users[name]
        state = self.svc.states[name]
        if state.sessions >= self.svc.limits.max_sessions_per_user:
            log.warning("sftp_session_limit", user=name, partner=config.partner, sessions=state.sessions)
            raise UnauthorizedLogin("too many sessions for this user")
        state.sessions += 1
        avatar = PartnerUser(
            config, self.svc.user_root(name), state, self.svc.inbox, self.svc.limits, self.svc.reactor
        )

        def logout() -> None:
            state.sessions -= 1
            log.info("sftp_logout", user=name, partner=config.partner, remote=avatar.remote)

        return IConchUser, avatar, logout


def build_portal(svc: SFTPService) -> portal.Portal:
    """The login portal for the service's current users (keys and password hashes)."""
    key_db = {u.name.encode(): u.public_keys() for u in svc.users.values()}
    hashes = {u.name.encode(): u.password_hash for u in svc.users.values() if u.password_hash}
    checkers: list[Any] = [SSHPublicKeyChecker(InMemorySSHKeyDB(key_db))]  # type: ignore[arg-type]  # implements IAuthorizedKeysDB (zope)
    if hashes:
        checkers.append(HashedPasswordChecker(hashes))
    return portal.Portal(PartnerRealm(svc), checkers)  # type: ignore[arg-type]  # implements IRealm (zope)


class GatewaySSHFactory(factory.SSHFactory):
    protocol = HardenedServerTransport
    services = {b"ssh-userauth": RateLimitedUserAuth, b"ssh-connection": connection.SSHConnection}

    def __init__(self, svc: SFTPService, host_key: keys.Key) -> None:
        self.clock = svc.reactor
        self.limits = svc.limits
        self.limiter = LoginRateLimiter(svc.reactor, svc.limits.failed_logins_per_window, svc.limits.failed_login_window_s)
        self.privateKeys = {host_key.sshType(): host_key}
        self.publicKeys = {host_key.sshType(): host_key.public()}
        self.primes = None
        self.connections: set[HardenedServerTransport] = set()
        self.portal = build_portal(svc)

    def buildProtocol(self, addr: Any) -> transport.SSHServerTransport:
        t = super().buildProtocol(addr)
        self.connections.add(t)  # type: ignore[arg-type]
        return t


class SFTPService(service.Service):
    """Listens on ``endpoint`` and serves each user from ``<jail_root>/<user name>/{inbox,outbox}``.

    The jail root must be on the same file system as the spool, so that ``Inbox.accept_file`` can move
    finished uploads with a rename.
    """

    def __init__(
        self,
        reactor: Any,
        endpoint: str,
        users: list[SFTPUserConfig],
        jail_root: str,
        host_key_path: str,
        inbox: Inbox,
        limits: SFTPLimits | None = None,
    ) -> None:
        self.reactor = reactor
        self.endpoint = endpoint
        self.users = {u.name: u for u in users}
        self.states = {u.name: UserState() for u in users}
        self.jail_root = jail_root
        self.host_key_path = host_key_path
        self.inbox = inbox
        self.limits = limits or SFTPLimits()
        self.port: IListeningPort | None = None
        self.factory: GatewaySSHFactory | None = None

    def set_users(self, users: list[SFTPUserConfig]) -> None:
        """Swap the user list (a config reload): new logins use it; open sessions keep theirs."""
        self.users = {u.name: u for u in users}
        for u in users:
            self.states.setdefault(u.name, UserState())
            for sub in ("inbox", os.path.join("inbox", INCOMING), os.path.join("inbox", DONE), "outbox"):
                os.makedirs(os.path.join(self.user_root(u.name), sub), mode=0o750, exist_ok=True)
        if self.factory is not None:
            self.factory.portal = build_portal(self)

    def user_root(self, name: str) -> str:
        return os.path.join(os.path.realpath(self.jail_root), name)

    def prepare_jails(self) -> None:
        """Create every user's folders; drop staging files of uploads that were never acknowledged."""
        for name in self.users:
            root = self.user_root(name)
            for sub in ("inbox", os.path.join("inbox", INCOMING), os.path.join("inbox", DONE), "outbox"):
                os.makedirs(os.path.join(root, sub), mode=0o750, exist_ok=True)
            incoming = os.path.join(root, "inbox", INCOMING)
            shutil.rmtree(incoming)
            os.mkdir(incoming, 0o750)

    async def _start(self) -> None:
        self.prepare_jails()
        key = load_or_create_host_key(self.host_key_path)
        self.factory = GatewaySSHFactory(self, key)
        self.port = await serverFromString(self.reactor, self.endpoint).listen(self.factory)
        log.info("sftp_listening", address=str(self.port.getHost()), host_key=fingerprint(key))  # type: ignore[misc]  # zope interface method

    def startService(self) -> defer.Deferred[None]:
        super().startService()
        return defer.Deferred.fromCoroutine(self._start())

    async def _stop(self) -> None:
        if self.port is not None:
            await self.port.stopListening()  # type: ignore[misc]  # zope interface method; a listening port returns a Deferred
            self.port = None
        if self.factory is not None:
            waits = []
            for t in list(self.factory.connections):
                t.closed = defer.Deferred()
                waits.append(t.closed)
                t.transport.loseConnection()  # type: ignore[misc,union-attr]  # zope interface; transport is set while connected
            await defer.DeferredList(waits)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return defer.Deferred.fromCoroutine(self._stop())
