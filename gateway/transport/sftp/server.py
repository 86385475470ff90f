"""The jailed ``ISFTPServer`` of one partner user.

The user sees ``/inbox`` (write-only drop: uploads are taken into the spool when closed) and ``/outbox``
(files the gateway queued for them; read and delete). Everything else is refused; every path goes through
:func:`gateway.transport.sftp.jail.resolve` first.
"""

from __future__ import annotations

import functools
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from twisted.conch.interfaces import ISFTPServer
from twisted.conch.ls import lsLine
from twisted.conch.ssh.filetransfer import (
    FX_FAILURE,
    FX_NO_SUCH_FILE,
    FX_OP_UNSUPPORTED,
    FX_PERMISSION_DENIED,
    FXF_APPEND,
    FXF_CREAT,
    FXF_EXCL,
    FXF_TRUNC,
    FXF_WRITE,
    SFTPError,
)
from zope.interface import implementer

from gateway.transport.sftp.avatar import PartnerUser
from gateway.transport.sftp.config import InboxDoneMode
from gateway.transport.sftp.files import DownloadFile, UploadFile, is_temp_name, stat_attrs
from gateway.transport.sftp.jail import JailViolation, Resolved, resolve

INCOMING = ".incoming"
DONE = ".done"
_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(method: _F) -> _F:
    """Turn jail violations into a logged FX_PERMISSION_DENIED (the one place that maps them)."""

    @functools.wraps(method)
    def wrapper(self: JailedSFTPServer, *args: Any, **kw: Any) -> Any:
        try:
            return method(self, *args, **kw)
        except JailViolation as e:
            self.avatar.log_event(
                "sftp_path_escape_attempt",
                op=method.__name__,
                path=e.path.decode("utf-8", "backslashreplace")[:300],
                reason=e.reason,
            )
            raise SFTPError(FX_PERMISSION_DENIED, "permission denied") from None

    return wrapper  # type: ignore[return-value]


def _denied(avatar: PartnerUser, op: str, r: Resolved) -> SFTPError:
    avatar.log_event("sftp_operation_denied", op=op, path=r.virtual)
    return SFTPError(FX_PERMISSION_DENIED, "permission denied")


@implementer(ISFTPServer)
class JailedSFTPServer:
    def __init__(self, avatar: PartnerUser) -> None:
        self.avatar = avatar
        self.root = avatar.root

    def _resolve(self, path: bytes) -> Resolved:
        r = resolve(self.root, path)
        if INCOMING in r.parts[1:2] and r.parts[0] == "inbox":
            raise SFTPError(FX_NO_SUCH_FILE, "no such file")
        return r

    def gotVersion(self, otherVersion: int, extData: dict[bytes, bytes]) -> dict[bytes, bytes]:
        return {}

    @_guarded
    def openFile(self, filename: bytes, flags: int, attrs: dict[str, Any]) -> Any:
        r = self._resolve(filename)
        if flags & (FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC):
            return self._open_upload(r, flags)
        return self._open_download(r)

    def _open_upload(self, r: Resolved, flags: int) -> UploadFile:
        if len(r.parts) != 2 or r.parts[0] != "inbox" or r.parts[1] in (INCOMING, DONE):
            raise _denied(self.avatar, "upload", r)
        name = r.parts[1]
        if is_temp_name(name):
            osflags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            osflags |= os.O_CREAT if flags & FXF_CREAT else 0
            osflags |= os.O_TRUNC if flags & FXF_TRUNC else 0
            osflags |= os.O_EXCL if flags & FXF_EXCL else 0
            fd = os.open(r.real, osflags, 0o640)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise _denied(self.avatar, "upload", r)
            return UploadFile(self.avatar, r.virtual, final_name=None, fd=fd, real=r.real)
        if self.avatar.config.inbox_done_mode is InboxDoneMode.KEEP:  # keeps a link: needs a file
            fd, staging = self._new_staging()
            return UploadFile(self.avatar, r.virtual, final_name=name, fd=fd, real=staging)
        return UploadFile(self.avatar, r.virtual, final_name=name, staging=self._new_staging)

    def _new_staging(self) -> tuple[int, str]:
        """A new private staging file for an upload to a final name: its descriptor and path."""
        staging = os.path.join(self.root, "inbox", INCOMING, secrets.token_hex(8))
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
        return fd, staging

    def _open_download(self, r: Resolved) -> DownloadFile:
        fd = os.open(r.real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SFTPError(FX_FAILURE, "not a regular file")
        in_outbox = len(r.parts) == 2 and r.parts[0] == "outbox"
        delete = in_outbox and self.avatar.config.delete_after_download
        return DownloadFile(self.avatar, fd, r.real, r.virtual, delete_when_read=delete)

    @_guarded
    def removeFile(self, filename: bytes) -> None:
        r = self._resolve(filename)
        p = r.parts
        ok = (len(p) == 2 and p[0] == "outbox") or (len(p) == 2 and p[0] == "inbox" and is_temp_name(p[1]))
        ok = ok or (len(p) == 3 and p[:2] == ("inbox", DONE))
        if not ok:
            raise _denied(self.avatar, "remove", r)
        st = os.lstat(r.real)
        if not stat.S_ISREG(st.st_mode):
            raise _denied(self.avatar, "remove", r)
        os.unlink(r.real)
        self.avatar.log_event("sftp_remove", path=r.virtual)

    @_guarded
    def renameFile(self, oldpath: bytes, newpath: bytes) -> Any:
        src, dst = self._resolve(oldpath), self._resolve(newpath)
        for r in (src, dst):
            if len(r.parts) != 2 or r.parts[0] != "inbox" or r.parts[1] in (INCOMING, DONE):
                raise _denied(self.avatar, "rename", r)
        if not is_temp_name(src.parts[1]):
            raise _denied(self.avatar, "rename", src)
        if not stat.S_ISREG(os.lstat(src.real).st_mode):
            raise _denied(self.avatar, "rename", src)
        if os.path.lexists(dst.real):
            raise SFTPError(FX_FAILURE, "target exists")
        if is_temp_name(dst.parts[1]):
            os.rename(src.real, dst.real)
            return None
        # Renaming a temporary upload to its final name completes it.
        return self.avatar.hand_off_later(src.real, dst.virtual, dst.parts[1])

    def makeDirectory(self, path: bytes, attrs: dict[str, Any]) -> None:
        raise SFTPError(FX_PERMISSION_DENIED, "permission denied")

    def removeDirectory(self, path: bytes) -> None:
        raise SFTPError(FX_PERMISSION_DENIED, "permission denied")

    @_guarded
    def openDirectory(self, path: bytes) -> DirectoryListing:
        r = self._resolve(path)
        if not stat.S_ISDIR(os.lstat(r.real).st_mode):
            raise SFTPError(FX_FAILURE, "not a directory")
        return DirectoryListing(r.real, hide=(INCOMING,) if r.parts == ("inbox",) else ())

    @_guarded
    def getAttrs(self, path: bytes, followLinks: bool) -> dict[str, int]:
        r = self._resolve(path)
        try:
            st = os.lstat(r.real)
        except FileNotFoundError:
            recent = self.avatar.state.recent.get(r.virtual)
            if recent is None:
                raise
            return recent  # a just-taken upload: clients stat it to check the size
        if stat.S_ISLNK(st.st_mode):
            raise SFTPError(FX_PERMISSION_DENIED, "permission denied")
        return stat_attrs(st)

    def setAttrs(self, path: bytes, attrs: dict[str, Any]) -> None:
        return None

    def readLink(self, path: bytes) -> bytes:
        raise SFTPError(FX_OP_UNSUPPORTED, "links are not supported")

    def makeLink(self, linkPath: bytes, targetPath: bytes) -> None:
        raise SFTPError(FX_OP_UNSUPPORTED, "links are not supported")

    @_guarded
    def realPath(self, path: bytes) -> bytes:
        return self._resolve(path).virtual.encode()

    def extendedRequest(self, extendedName: bytes, extendedData: bytes) -> bytes:
        raise NotImplementedError(extendedName.decode("ascii", "replace"))


class DirectoryListing:
    """Iterates ``(name, longname, attrs)``; symlinks and internal folders are not shown."""

    def __init__(self, real: str, hide: tuple[str, ...]) -> None:
        self._entries = sorted(os.scandir(real), key=lambda e: e.name)
        self._hide = hide

    def __iter__(self) -> Iterator[tuple[bytes, bytes, dict[str, int]]]:
        for e in self._entries:
            if e.name in self._hide or e.is_symlink():
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield e.name.encode(), lsLine(e.name, st).encode(), stat_attrs(st)

    def close(self) -> None:
        self._entries = []
