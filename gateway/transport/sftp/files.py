"""Open SFTP handles: uploads into ``inbox/`` and downloads from ``outbox/``.

An upload to a final name is written to a private staging file (``inbox/.incoming/``), so a half-written
file is never visible and never taken. On a clean ``close`` the file is handed to the gateway
(``Inbox.accept_file``, which makes it durable in a round shared with concurrent uploads) before the
client gets its ``OK``; on a dropped connection it is deleted.
Uploads to a temporary name (``*.part``, ``*.filepart``, ``*.tmp``, dotfiles) are written in place and
handed over when the client renames them to a final name.
"""

from __future__ import annotations

import os
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
    """A writable handle. ``final_name`` is set when closing it completes an upload."""

    def __init__(
        self, avatar: PartnerUser, fd: int, real: str, virtual: str, final_name: str | None
    ) -> None:
        self.avatar = avatar
        self.fd = fd
        self.real = real
        self.virtual = virtual
        self.final_name = final_name
        self.aborted = False
        self.failed = False
        self.size = 0

    def writeChunk(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end > self.avatar.limits.max_upload_bytes:
            self.failed = True
            self.avatar.log_event("sftp_upload_too_large", path=self.virtual, bytes=end)
            raise SFTPError(FX_FAILURE, "file exceeds the upload size limit")
        os.pwrite(self.fd, data, offset)
        if end > self.size:
            self.size = end

    def readChunk(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if not data:
            raise EOFError("end of file")
        return data

    def getAttrs(self) -> dict[str, int]:
        return stat_attrs(os.fstat(self.fd))

    def setAttrs(self, attrs: dict[str, Any]) -> None:
        return None  # accepted and ignored (clients set mtimes)

    def close(self) -> defer.Deferred[None] | None:
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



