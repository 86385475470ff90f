"""``SFTPPoller``: polls one partner's SFTP server.

Each poll downloads every new file in the remote inbound folder into a local staging file and hands
it to the gateway (``Inbox.accept_file``, which makes it durable); only once that returned is the
remote file deleted (or moved to ``.done/``). Then every file queued locally for the partner is uploaded as ``<name>.part`` and
renamed to ``<name>`` once complete; the local copy goes only after the rename succeeded.

A crash between "durable here" and "deleted there" downloads that file again on the next poll: delivery
is at least once, and the spool's duplicate checks (interchange control numbers) catch the repeat.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from typing import Any

import structlog
from twisted.application import service
from twisted.conch.ssh import filetransfer
from twisted.internet import defer, task, threads
from twisted.internet.interfaces import IReactorTime

from gateway.transport.inbox import Inbox, Received
from gateway.transport.sftp.client import SFTPConnectError, connect_sftp
from gateway.transport.sftp.config import SFTPRemoteConfig
from gateway.transport.sftp.files import is_temp_name
from gateway.transport.sftp.outbox import write_durably

log = structlog.get_logger()
CHUNK = 32 * 1024
WRITE_FLAGS = filetransfer.FXF_WRITE | filetransfer.FXF_CREAT | filetransfer.FXF_TRUNC


@dataclass
class PollResult:
    downloaded: list[str] = field(default_factory=list)  # spool item ids
    uploaded: list[str] = field(default_factory=list)  # file names
    errors: list[str] = field(default_factory=list)


class SFTPPoller(service.Service):
    def __init__(
        self,
        reactor: Any,
        clock: IReactorTime,
        remote: SFTPRemoteConfig,
        inbox: Inbox,
        staging_dir: str,
        outgoing_dir: str,
    ) -> None:
        """``staging_dir`` must be on the spool's file system; ``outgoing_dir`` holds files to upload."""
        self.reactor = reactor
        self.clock = clock
        self.remote = remote
        self.inbox = inbox
        self.staging_dir = staging_dir
        self.outgoing_dir = outgoing_dir
        self._loop: task.LoopingCall | None = None
        self._running: defer.Deferred[PollResult] | None = None
        self.last_result: PollResult | None = None

    def queue(self, filename: str, payload: bytes) -> str:
        """Durably queue ``payload`` for upload as ``filename`` (blocking: fsync)."""
        return write_durably(self.outgoing_dir, filename, payload)

    def startService(self) -> None:
        super().startService()
        os.makedirs(self.staging_dir, exist_ok=True)
        os.makedirs(self.outgoing_dir, exist_ok=True)
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._loop.start(self.remote.poll_interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._running is not None:
            return self._running.addBoth(lambda _: None)
        return defer.succeed(None)

    def _tick(self) -> None:
        if self._running is not None:
            return  # the previous poll is still going
        self._running = self.poll()
        self._running.addBoth(self._done)

    def _done(self, result: Any) -> Any:
        self._running = None
        return result

    def poll(self) -> defer.Deferred[PollResult]:
        """One poll now; never raises (errors are logged and returned in the result)."""
        return defer.Deferred.fromCoroutine(self._poll())

    async def _poll(self) -> PollResult:
        result = PollResult()
        r = self.remote
        os.makedirs(self.staging_dir, exist_ok=True)
        os.makedirs(self.outgoing_dir, exist_ok=True)
        try:
            session = await connect_sftp(self.reactor, r)
        except SFTPConnectError as e:
            log.error("sftp_poll_connect_failed", partner=r.partner, host=r.host, port=r.port, error=str(e))
            result.errors.append(str(e))
            self.last_result = result
            return result
        try:
            await self._download_all(session.sftp, result)
            await self._upload_all(session.sftp, result)
        except Exception as e:  # a failed request: log, keep what is done, try again next poll
            text = describe(e)
            log.error("sftp_poll_failed", partner=r.partner, host=r.host, error=text)
            result.errors.append(text)
        finally:
            session.close()
        if result.downloaded or result.uploaded:
            log.info("sftp_poll", partner=r.partner, downloaded=len(result.downloaded), uploaded=len(result.uploaded))
        self.last_result = result
        return result

    async def _list(self, sftp: filetransfer.FileTransferClient, path: str) -> list[tuple[str, dict[str, Any]]]:
        d = await sftp.openDirectory(path.encode())
        out: list[tuple[str, dict[str, Any]]] = []
        try:
            while True:
                try:
                    batch = await d.read()
                except EOFError:
                    break
                out += [(n.decode(), attrs) for n, _long, attrs in batch]
        finally:
            await d.close()
        return sorted(out)

    async def _download_all(self, sftp: filetransfer.FileTransferClient, result: PollResult) -> None:
        r = self.remote
        for name, attrs in await self._list(sftp, r.inbound_dir):
            if is_temp_name(name) or not stat.S_ISREG(attrs.get("permissions", 0)):
                continue
            remote_path = f"{r.inbound_dir.rstrip('/')}/{name}"
            item_id = await self._download(sftp, remote_path, name)
            result.downloaded.append(item_id)
            if r.after_download == "rename":
                done_dir = f"{r.inbound_dir.rstrip('/')}/.done"
                try:
                    await sftp.makeDirectory(done_dir.encode(), {})
                except filetransfer.SFTPError:
                    pass  # exists already
                await sftp.renameFile(remote_path.encode(), f"{done_dir}/{name}".encode())
            else:
                try:
                    await sftp.removeFile(remote_path.encode())
                except filetransfer.SFTPError as e:
                    if e.code != filetransfer.FX_NO_SUCH_FILE:  # some servers delete on download
                        raise

    async def _download(self, sftp: filetransfer.FileTransferClient, remote_path: str, name: str) -> str:
        f = await sftp.openFile(remote_path.encode(), filetransfer.FXF_READ, {})
        local = os.path.join(self.staging_dir, f".dl-{secrets.token_hex(8)}")
        fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        try:
            offset = 0
            while True:
                try:
                    data = await f.readChunk(offset, CHUNK)
                except EOFError:
                    break
                os.pwrite(fd, data, offset)
                offset += len(data)
            await f.close()
        except BaseException:
            os.close(fd)
            os.unlink(local)
            raise
        received = Received(
            partner=self.remote.partner,
            transport="sftp",
            message_id=f"{self.remote.user}@{self.remote.host}:{remote_path}",
            filename=name,
            extra={"remote": self.remote.host, "size": offset, "direction": "polled"},
        )

        def durable() -> str:
            os.close(fd)  # accept_file makes the data durable, in its shared round
            try:
                return self.inbox.accept_file(local, received)
            except BaseException:
                if os.path.exists(local):
                    os.unlink(local)
                raise

        item_id: str = await threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), durable)
        log.info("sftp_downloaded", partner=self.remote.partner, path=remote_path, bytes=offset, item_id=item_id)
        return item_id

    async def _upload_all(self, sftp: filetransfer.FileTransferClient, result: PollResult) -> None:
        r = self.remote
        for name in sorted(os.listdir(self.outgoing_dir)):
            local = os.path.join(self.outgoing_dir, name)
            if name.startswith(".") or not os.path.isfile(local):
                continue
            with open(local, "rb") as fh:
                payload = fh.read()
            base = r.outbound_dir.rstrip("/")
            part, final = f"{base}/{name}.part", f"{base}/{name}"
            f = await sftp.openFile(part.encode(), WRITE_FLAGS, {})
            writes = [f.writeChunk(off, payload[off : off + CHUNK]) for off in range(0, len(payload), CHUNK)]
            await defer.gatherResults(writes, consumeErrors=True)
            await f.close()
            await sftp.renameFile(part.encode(), final.encode())
            os.unlink(local)
            log.info("sftp_uploaded", partner=r.partner, path=final, bytes=len(payload))
            result.uploaded.append(name)


def describe(e: Exception) -> str:
    if isinstance(e, filetransfer.SFTPError):
        return f"SFTP status {e.code}: {e.message}"
    return f"{type(e).__name__}: {e}"
