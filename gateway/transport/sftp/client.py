"""A conch SFTP client connection with a pinned host key and public key login.

``await connect_sftp(reactor, remote)`` returns an :class:`SFTPSession` whose ``sftp`` attribute is a
``FileTransferClient``; an unknown or changed host key fails with :class:`HostKeyMismatch`.
"""

from __future__ import annotations

from typing import Any

from twisted.conch.ssh import channel, common, connection, filetransfer, keys, transport, userauth
from twisted.internet import defer, protocol
from twisted.internet.endpoints import HostnameEndpoint
from twisted.python.failure import Failure

from gateway.transport.sftp.config import SFTPRemoteConfig


class SFTPConnectError(Exception):
    """The SFTP connection could not be set up (network, host key, login, subsystem)."""


class HostKeyMismatch(SFTPConnectError):
    pass


class _Channel(channel.SSHChannel):
    name = b"session"

    def __init__(self, ready: defer.Deferred[filetransfer.FileTransferClient], **kw: Any) -> None:
        super().__init__(**kw)
        self.ready = ready

    def channelOpen(self, specificData: bytes) -> None:
        d = self.conn.sendRequest(self, b"subsystem", common.NS(b"sftp"), wantReply=True)  # type: ignore[union-attr]  # conn is set once the channel is open
        d.addCallbacks(self._subsystem_started, self._subsystem_refused)

    def openFailed(self, reason: Any) -> None:
        self._fail(SFTPConnectError(f"session channel refused: {reason}"))

    def _subsystem_started(self, _: Any) -> None:
        client = filetransfer.FileTransferClient()
        client.makeConnection(self)
        self.dataReceived = client.dataReceived  # type: ignore[method-assign]
        self.client = client
        if not self.ready.called:
            self.ready.callback(client)

    def _subsystem_refused(self, f: Failure) -> None:
        self._fail(SFTPConnectError("the server refused the sftp subsystem"))

    def _fail(self, exc: Exception) -> None:
        if not self.ready.called:
            self.ready.errback(exc)

    def closed(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.connectionLost(Failure(SFTPConnectError("channel closed")))
        self._fail(SFTPConnectError("channel closed"))


class _Connection(connection.SSHConnection):
    def __init__(self, ready: defer.Deferred[filetransfer.FileTransferClient]) -> None:
        super().__init__()
        self.ready = ready

    def serviceStarted(self) -> None:
        self.openChannel(_Channel(self.ready, conn=self))


class _UserAuth(userauth.SSHUserAuthClient):
    preferredOrder = [b"publickey"]

    def __init__(self, user: bytes, instance: Any, key: keys.Key) -> None:
        super().__init__(user, instance)
        self._key = key
        self._offered = False

    def getPublicKey(self) -> keys.Key | None:
        if self._offered:
            return None
        self._offered = True
        return self._key.public()

    def getPrivateKey(self) -> defer.Deferred[keys.Key]:
        return defer.succeed(self._key)

    def getPassword(self, prompt: bytes | None = None) -> None:
        return None


class _ClientTransport(transport.SSHClientTransport):
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

    def __init__(self, remote: SFTPRemoteConfig, key: keys.Key, ready: defer.Deferred[Any]) -> None:
        self.remote = remote
        self.key = key
        self.ready = ready
        self.error: Exception | None = None
        self.known = keys.Key.fromString(remote.known_host_key.strip().encode())

    def verifyHostKey(self, hostKey: bytes, fingerprint: bytes) -> defer.Deferred[bool]:
        got = keys.Key.fromString(hostKey)
        if got.public() != self.known.public():
            self.error = HostKeyMismatch(
                f"host key of {self.remote.host}:{self.remote.port} does not match the pinned key: "
                f"got {got.sshType().decode()} {got.fingerprint(keys.FingerprintFormats.SHA256_BASE64)}, "
                f"expected {self.known.sshType().decode()} "
                f"{self.known.fingerprint(keys.FingerprintFormats.SHA256_BASE64)}; refusing to connect"
            )
            return defer.fail(self.error)
        return defer.succeed(True)

    def connectionSecure(self) -> None:
        auth = _UserAuth(self.remote.user.encode(), _Connection(self.ready), self.key)
        self.requestService(auth)

    def receiveError(self, reasonCode: int, description: bytes) -> None:
        if self.error is None:
            self.error = SFTPConnectError(f"server disconnected: {description.decode('utf-8', 'replace')}")

    def connectionLost(self, reason: Any) -> None:  # type: ignore[override]  # Twisted always passes the reason
        super().connectionLost(reason)
        if not self.ready.called:
            err = self.error or SFTPConnectError(f"connection lost: {reason.getErrorMessage()}")
            self.ready.errback(err)


class _Factory(protocol.ClientFactory):
    def __init__(self, remote: SFTPRemoteConfig, key: keys.Key, ready: defer.Deferred[Any]) -> None:
        self.args = (remote, key, ready)

    def buildProtocol(self, addr: Any) -> _ClientTransport:
        t = _ClientTransport(*self.args)
        t.factory = self
        return t


class SFTPSession:
    def __init__(self, sftp: filetransfer.FileTransferClient, proto: _ClientTransport) -> None:
        self.sftp = sftp
        self._proto = proto

    def close(self) -> None:
        self._proto.transport.loseConnection()  # type: ignore[misc,union-attr]  # zope interface; transport is set while connected


async def connect_sftp(reactor: Any, remote: SFTPRemoteConfig) -> SFTPSession:
    key = keys.Key.fromFile(remote.key_path)
    ready: defer.Deferred[filetransfer.FileTransferClient] = defer.Deferred()
    endpoint = HostnameEndpoint(reactor, remote.host, remote.port, timeout=remote.connect_timeout_s)
    try:
        proto = await endpoint.connect(_Factory(remote, key, ready))  # type: ignore[arg-type]  # ClientFactory implements IProtocolFactory (zope)
    except Exception as e:
        raise SFTPConnectError(f"cannot connect to {remote.host}:{remote.port}: {e}") from e
    timeout = reactor.callLater(remote.connect_timeout_s, ready.cancel)
    try:
        sftp = await ready
    except defer.CancelledError:
        proto.transport.loseConnection()
        raise SFTPConnectError(f"{remote.host}:{remote.port}: no SFTP session within the timeout") from None
    except Exception:
        proto.transport.loseConnection()
        raise
    finally:
        if timeout.active():
            timeout.cancel()
    return SFTPSession(sftp, proto)
