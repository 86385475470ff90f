"""Low-level durable file operations: write-then-rename, directory fsync, filesystem sync.

Two ways to make a group of writes and renames durable are offered, chosen per spool:

* ``"fsync"``: every file is fsynced before its rename and every touched folder after it (the
  textbook sequence; one device flush per file and per folder).
* ``"syncfs"``: files are written and renamed, then one ``syncfs(2)`` makes the whole filesystem
  durable (one flush per operation however many files it touched). Recovery then checks items
  against their recorded size and SHA-256, because a crash before the ``syncfs`` returns may leave
  a renamed file without its data.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterable

TMP_PREFIX = ".tmp-"
SYNC_MODES = ("fsync", "syncfs")


class DiskFull(OSError):
    """No space (or quota) left where the spool, index or audit trail writes."""


_libc = ctypes.CDLL(None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str, fd: int | None = None) -> None:
    """Flush the whole filesystem holding ``path`` (or the open ``fd``); falls back to an fsync."""
    own = fd is None
    if fd is None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _syncfs is None:
            os.fsync(fd)
            return
        if _syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise _wrap(OSError(err, os.strerror(err), path))
    finally:
        if own:
            os.close(fd)


def _wrap(exc: OSError) -> OSError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) and not isinstance(exc, DiskFull):
        return DiskFull(exc.errno, f"no space left for the store: {exc.strerror}", exc.filename)
    return exc


def write_new(path: str, data: bytes, sync: bool) -> None:
    """Create ``path`` (must not exist) holding ``data``; fsync it when ``sync``.

    On any failure the partial file is removed and the error re-raised (``DiskFull`` for ENOSPC,
    EDQUOT and EFBIG).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise _wrap(exc) from exc
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if sync:
            os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quiet(path)
        raise _wrap(exc) from exc
    os.close(fd)


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _wrap(exc) from exc
    finally:
        os.close(fd)


def make_durable(mode: str, dirs: Iterable[str], fs_fd: int | None = None) -> None:
    """After renames: fsync each folder (``fsync``) or the filesystem once (``syncfs``; ``fs_fd`` is
    any open folder on it, saving an open per call)."""
    unique = list(dict.fromkeys(dirs))
    try:
        if mode == "syncfs":
            syncfs(unique[0], fs_fd)
        else:
            for d in unique:
                fsync_dir(d)
    except OSError as exc:
        raise _wrap(exc) from exc


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
