"""Open SFTP handles: uploads into ``inbox/`` and downloads from ``outbox/``.

An upload to a final name is never visible and never taken half-written. While small it is held in
memory (up to ``MEMORY_MAX`` bytes per upload, ``MEMORY_BUDGET`` for all uploads at once); past that it
goes on in a private staging file (``inbox/.incoming/``). On a clean ``close`` it is handed to the
gateway (``submit``, or ``submit_file`` for a staging file: written into the spool at once when small,
then made durable in a round shared with concurrent uploads) before the client gets its ``OK``; on a
dropped connection it is dropped. Held in memory, an upload costs no staging file created, written,
closed, read back and renamed: uploads into the store went from 898 to 924 files/s (A/B, 8 interleaved
rounds of 1,000 files, bench/sftp/RESULTS.md).
Uploads to a temporary name (``*.part``, ``*.filepart``, ``*.tmp``, dotfiles) are written in place and
handed over when the client renames them to a final name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from twisted.conch.interfaces import ISFTPFile
from twisted.conch.ssh.filetransfer import FX_FAILURE, SFTPError
from twisted.internet import defer
from zope.interface import implementer

if TYPE_CHECKING:
    from gateway.transport.sftp.avatar import PartnerUser

log = structlog.get_logger()

TEMP_SUFFIXES = (".part", ".filepart", ".tmp", ".partial")
MEMORY_MAX = 256 * 1024  # an upload is held in memory up to this size (most EDI files are far smaller)
MEMORY_BUDGET = 64 * 1024 * 1024  # bytes held by all uploads in memory at once, all sessions together


class _Held:
    """Bytes held in memory by open uploads (changed on the reactor thread only)."""

    bytes = 0


def memory_held() -> int:
    return _Held.bytes


def is_temp_name(name: str) -> bool:
    return name.startswith(".") or name.endswith(TEMP_SUFFIXES)


def stat_attrs(st: os.stat_result) -> dict[str, int]:
    return {
        "size": st.st_size,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "permissions": st.st_mode,
        "atime": int(st.st_atime),
        "mtime": int(st.st_mtime),
    }


@implementer(ISFTPFile)
class UploadFile:
    """A writable handle. ``final_name`` is set when closing it completes an upload.

    Opened with ``fd`` (a temporary name, written in place; or a staging file) it writes to that file.
    Opened without one (a final name) it holds the data in memory until it would grow past
    ``MEMORY_MAX`` or take all uploads in memory past ``MEMORY_BUDGET``; then ``staging()`` makes a
    staging file (returns its descriptor and path) and the upload goes on there."""

    def __init__(
        self,
        avatar: PartnerUser,
        virtual: str,
        final_name: str | None,
        fd: int = -1,
        real: str = "",
        staging: Callable[[], tuple[int, str]] | None = None,
    ) -> None:
        self.avatar = avatar
        self.fd = fd
        self.real = real
        self.virtual = virtual
        self.final_name = final_name
        self.buf: bytearray | None = bytearray() if fd < 0 else None
        self._staging = staging
        self.aborted = False
        self.failed = False
        self.size = 0
        self.opened = int(time.time())

    def writeChunk(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end > self.avatar.limits.max_upload_bytes:
            self.failed = True
            self.avatar.log_event("sftp_upload_too_large", path=self.virtual, bytes=end)
            raise SFTPError(FX_FAILURE, "file exceeds the upload size limit")
        buf = self.buf
        if buf is not None:
            grow = max(0, end - len(buf))
            if end <= MEMORY_MAX and _Held.bytes + grow <= MEMORY_BUDGET:
                if offset > len(buf):
                    buf.extend(bytes(offset - len(buf)))  # a gap reads as zeros, as in a file
                buf[offset:end] = data
                _Held.bytes += grow
                self.size = len(buf)
                return
            self._spill()
        os.pwrite(self.fd, data, offset)
        if end > self.size:
            self.size = end

    def _spill(self) -> None:
        """Go on in a staging file, with what was held so far."""
        assert self.buf is not None and self._staging is not None
        self.fd, self.real = self._staging()
        held = self._release()
        if held:
            os.pwrite(self.fd, held, 0)

    def _release(self) -> bytes:
        """Stop holding the upload in memory; return what was held."""
        held, self.buf = self.buf, None
        if held is None:
            return b""
        _Held.bytes -= len(held)
        return bytes(held)

    def readChunk(self, offset: int, length: int) -> bytes:
        if self.buf is not None:
            data = bytes(self.buf[offset : offset + length])
        else:
            data = os.pread(self.fd, length, offset)
        if not data:
            raise EOFError("end of file")
        return data

    def getAttrs(self) -> dict[str, int]:
        if self.buf is not None:
            return {"size": len(self.buf), "uid": os.getuid(), "gid": os.getgid(), "permissions": 0o100640,
                    "atime": self.opened, "mtime": self.opened}
        return stat_attrs(os.fstat(self.fd))

    def setAttrs(self, attrs: dict[str, Any]) -> None:
        return None  # accepted and ignored (clients set mtimes)

    def close(self) -> defer.Deferred[None] | None:
        if self.buf is not None:  # held in memory
            payload = self._release()
            if self.aborted or self.failed:
                self.avatar.log_event("sftp_upload_aborted", path=self.virtual, bytes=self.size)
                return None
            assert self.final_name is not None  # (only uploads to a final name are held)
            return self.avatar.hand_off_payload(payload, self.virtual, self.final_name).addCallback(
                lambda _id: None
            )
        fd, self.fd = self.fd, -1
        if fd < 0:
            return None
        if self.aborted or self.failed:
            os.close(fd)
            _unlink(self.real)
            self.avatar.log_event("sftp_upload_aborted", path=self.virtual, bytes=self.size)
            return None

        os.close(fd)
        if self.final_name is None:
            return None  # a temporary name: handed off (and made durable) when renamed to a final one
        return self.avatar.hand_off_later(self.real, self.virtual, self.final_name).addCallback(lambda _id: None)


@implementer(ISFTPFile)
class DownloadFile:
    """A read-only handle on an outbox file, deleted on close once it was read to the end if so set."""

    def __init__(self, avatar: PartnerUser, fd: int, real: str, virtual: str, delete_when_read: bool) -> None:
        self.avatar = avatar
        self.fd = fd
        self.real = real
        self.virtual = virtual
        self.delete_when_read = delete_when_read
        self.size = os.fstat(fd).st_size
        self.read_to = 0
        self.aborted = False

    def readChunk(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if not data:
            self.read_to = max(self.read_to, offset)
            raise EOFError("end of file")
        self.read_to = max(self.read_to, offset + len(data))
        return data

    def writeChunk(self, offset: int, data: bytes) -> None:
        raise SFTPError(FX_FAILURE, "handle is read-only")

    def getAttrs(self) -> dict[str, int]:
        return stat_attrs(os.fstat(self.fd))

    def setAttrs(self, attrs: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd < 0:
            return
        os.close(fd)
        complete = self.read_to >= self.size and not self.aborted
        if complete:
            self.avatar.log_event("sftp_download_complete", path=self.virtual, bytes=self.size)
            if self.delete_when_read:
                _unlink(self.real)
                self.avatar.fsync_dir(os.path.dirname(self.real))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass



