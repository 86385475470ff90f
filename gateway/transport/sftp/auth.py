"""SFTP logins: public keys, hashed passwords (bcrypt or scrypt), per-address failure rate limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections import deque
from typing import TYPE_CHECKING

import bcrypt
import structlog
from twisted.conch import error
from twisted.conch.ssh import userauth
from twisted.cred import credentials
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

if TYPE_CHECKING:
    from gateway.transport.sftp.service import HardenedServerTransport

log = structlog.get_logger()

_SCRYPT_PREFIX = "$scrypt$"


def hash_password(password: str, scheme: str = "bcrypt") -> str:
    """Hash a password for ``SFTPUserConfig.password_hash`` (what ``gatewayctl sftp hash-password`` prints)."""
    if scheme == "bcrypt":
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(12)).decode()
    if scheme == "scrypt":
        salt = os.urandom(16)
        n, r, p = 2**15, 8, 1
        digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024)
        b64 = base64.b64encode
        return f"{_SCRYPT_PREFIX}ln=15,r={r},p={p}${b64(salt).decode()}${b64(digest).decode()}"
    raise ValueError(f"unknown password scheme {scheme!r}")


def verify_password(password: bytes, stored: str) -> bool:
    """Check ``password`` against a bcrypt or scrypt hash; blocking (run it in a thread)."""
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        return bcrypt.checkpw(password, stored.encode())
    if stored.startswith(_SCRYPT_PREFIX):
        params, salt, digest = stored[len(_SCRYPT_PREFIX) :].split("$")
        kv = dict(item.split("=") for item in params.split(","))
        got = hashlib.scrypt(
            password,
            salt=base64.b64decode(salt),
            n=2 ** int(kv["ln"]),
            r=int(kv["r"]),
            p=int(kv["p"]),
            maxmem=256 * 1024 * 1024,
        )
        return hmac.compare_digest(got, base64.b64decode(digest))
    raise ValueError("password hash is neither bcrypt nor scrypt")


@implementer(ICredentialsChecker)
class HashedPasswordChecker:
    """Checks ``IUsernamePassword`` against stored hashes, off the reactor thread."""

    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, hashes: dict[bytes, str]) -> None:
        self._hashes = hashes

    def requestAvatarId(self, creds: credentials.IUsernamePassword) -> defer.Deferred[bytes]:
        stored = self._hashes.get(creds.username)
        if stored is None:
            return defer.fail(UnauthorizedLogin("no password login for this user"))

        def check(ok: bool) -> bytes:
            if not ok:
                raise UnauthorizedLogin("wrong password")
            return creds.username

        return threads.deferToThread(verify_password, creds.password, stored).addCallback(check)


class LoginRateLimiter:
    """At most ``limit`` failed logins per source address in any ``window`` seconds."""

    def __init__(self, clock: IReactorTime, limit: int, window: float) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, host: str) -> deque[float]:
        q = self._failures.get(host)
        if q is None:
            return deque()
        cutoff = self._clock.seconds() - self._window  # type: ignore[misc]  # zope interface method
        while q and q[0] <= cutoff:
            q.popleft()
        if not q:
            del self._failures[host]
        return q

    def blocked(self, host: str) -> bool:
        return len(self._recent(host)) >= self._limit

    def failed(self, host: str) -> None:
        if len(self._failures) > 10_000:  # bound memory under a scan from many addresses
            for h in list(self._failures)[:5_000]:
                self._recent(h)
        self._failures.setdefault(host, deque()).append(self._clock.seconds())  # type: ignore[misc]  # zope interface method


class RateLimitedUserAuth(userauth.SSHUserAuthServer):
    """``ssh-userauth`` that counts failures per source address and disconnects blocked ones."""

    transport: HardenedServerTransport  # set by the SSH transport before the service starts

    def serviceStarted(self) -> None:
        factory = self.transport.factory
        self.clock = factory.clock
        self.loginTimeout = factory.limits.login_timeout_s  # type: ignore[assignment]  # Twisted declares int; it only goes to callLater
        self.attemptsBeforeDisconnect = 6
        super().serviceStarted()

    def _host(self) -> str:
        return getattr(self.transport.transport.getPeer(), "host", "?")  # type: ignore[misc,union-attr]  # zope interface; transport is set while connected

    def tryAuth(self, kind: bytes, user: bytes, data: bytes):  # type: ignore[no-untyped-def]
        if kind != b"none" and self.transport.factory.limiter.blocked(self._host()):
            log.warning("sftp_login_rate_limited", remote=self._host(), user=user.decode("utf-8", "replace"))
            self.transport.sendDisconnect(
                userauth.transport.DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE,
                b"too many failed logins from this address, try later",
            )
            return defer.fail(error.IgnoreAuthentication())
        return super().tryAuth(kind, user, data)

    def _ebBadAuth(self, reason):  # type: ignore[no-untyped-def]
        if self.method != b"none" and reason.check(UnauthorizedLogin):
            self.transport.factory.limiter.failed(self._host())
            log.info(
                "sftp_login_failed",
                remote=self._host(),
                user=self.user.decode("utf-8", "replace"),  # type: ignore[union-attr]  # set by tryAuth before a failed attempt
                method=self.method.decode("ascii", "replace"),
                reason=reason.getErrorMessage(),
            )
        return super()._ebBadAuth(reason)

    def _cbFinishedAuth(self, result):  # type: ignore[no-untyped-def]
        _iface, avatar, _logout = result
        avatar.remote = self._host()
        log.info("sftp_login", remote=avatar.remote, user=avatar.config.name, method=self.method.decode())
        return super()._cbFinishedAuth(result)
