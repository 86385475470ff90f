"""Low-level durable file operations: write-then-rename, directory fsync, filesystem sync.

Two ways to make a group of writes and renames durable are offered, chosen per spool (the
durability round itself lives in :mod:`gateway.store.commit`):

* ``"fsync"``: files are written, their writeback is started at once (``sync_file_range``), they are
  renamed, and then every file is ``fdatasync``-ed and every touched folder fsynced. On a journalling
  filesystem the first of these commits the journal for all of them, the others find it committed.
* ``"syncfs"``: files are written and renamed, then one ``syncfs(2)`` makes the whole filesystem
  durable (one flush per round however many files it touched).
* ``"auto"`` (the daemon's default): ``"syncfs"`` for a round of at least ``SYNCFS_FROM`` files, the
  per-file ``"fsync"`` way for a single file, and also for any round while the machine holds more than
  ``AUTO_DIRTY_MAX`` of dirty page cache (``/proc/meminfo``), so a round never has to write back a big
  backlog of other data first. Each ``fdatasync`` costs a device cache flush (on ext4 without a
  journal, every one of them): one upload's round (payload, meta, audit line) took 3.9 ms file by file
  against 1.3 ms with one ``syncfs`` under AS2 load, and a pipeline round of 150 files spent most of
  its time flushing.

In both modes a file may be renamed before its data is on disk, so recovery after an unclean stop
checks fresh items against their recorded size and SHA-256 (a crash before the round ends may leave a
renamed file without its data; such a put never returned, so nobody was told it was stored).
"""

from __future__ import annotations

import ctypes
import errno
import os
import time
from collections.abc import Iterable

TMP_PREFIX = ".tmp-"
SYNC_MODES = ("auto", "fsync", "syncfs")
SYNCFS_FROM = 2  # "auto": rounds of this many files or more use one syncfs...
AUTO_DIRTY_MAX = 64 << 20  # ...unless the machine has more dirty page cache than this (bytes)
DIRTY_CHECK_EVERY = 0.5  # seconds between two reads of /proc/meminfo


class DiskFull(OSError):
    """No space (or quota) left where the spool, index or audit trail writes."""


_libc = ctypes.CDLL(None, use_errno=True)
_syncfs = getattr(_libc, "syncfs", None)
_linkat = getattr(_libc, "linkat", None)
if _linkat is not None:
    _linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    _linkat.restype = ctypes.c_int
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)
_sfr = getattr(_libc, "sync_file_range", None)
if _sfr is not None:
    _sfr.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    _sfr.restype = ctypes.c_int
SFR_WAIT_BEFORE, SFR_WRITE, SFR_WAIT_AFTER = 1, 2, 4


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing ``fd``'s dirty pages now (no wait, no journal commit).

    Only a head start for the ``fdatasync`` that follows in the durability round; errors are left
    for that ``fdatasync`` to report.
    """
    if _sfr is not None:
        _sfr(fd, 0, 0, SFR_WRITE)


def wait_writeback(fd: int) -> None:
    """Write ``fd``'s dirty pages and wait for them (no journal commit, no device flush)."""
    if _sfr is not None:
        _sfr(fd, 0, 0, SFR_WAIT_BEFORE | SFR_WRITE | SFR_WAIT_AFTER)


_dirty_at, _dirty_many = -1e9, False


def much_dirty() -> bool:
    """Whether the machine holds more than ``AUTO_DIRTY_MAX`` bytes of dirty page cache (read from
    ``/proc/meminfo`` at most every ``DIRTY_CHECK_EVERY`` seconds; False where it cannot be read)."""
    global _dirty_at, _dirty_many
    now = time.monotonic()
    if now - _dirty_at < DIRTY_CHECK_EVERY:
        return _dirty_many
    _dirty_at, _dirty_many = now, False
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"Dirty:"):
                    _dirty_many = int(line.split()[1]) * 1024 > AUTO_DIRTY_MAX
                    break
    except (OSError, ValueError, IndexError):
        pass
    return _dirty_many


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


def copy_error(exc: OSError) -> OSError:
    """The same error again, for one more caller (an exception object must not be raised in two
    threads)."""
    if isinstance(exc, DiskFull):
        return DiskFull(exc.errno, exc.strerror, exc.filename)
    return _wrap(OSError(exc.errno, exc.strerror, exc.filename))


def write_new(path: str, data: bytes, sync: bool) -> None:
    """Create ``path`` (must not exist) holding ``data``; fsync it when ``sync``.

    On any failure the partial file is removed and the error re-raised (``DiskFull`` for ENOSPC,
    EDQUOT and EFBIG).
    """
    fd = create(path, data)
    try:
        if sync:
            os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quiet(path)
        raise _wrap(exc) from exc
    os.close(fd)


def create(path: str, data: bytes) -> int:
    """Create ``path`` (must not exist) holding ``data`` and return its open descriptor (not synced).

    On failure the partial file is removed and the error re-raised (``DiskFull`` for ENOSPC, EDQUOT
    and EFBIG).
    """
    return _fill(path, os.O_CREAT | os.O_EXCL, data)


def unnamed_works(folder: str) -> bool:
    """Whether files can be written unnamed in ``folder`` (``O_TMPFILE``) and given their name once
    complete (``linkat`` with ``AT_EMPTY_PATH``: Linux 3.11 and later on ext4, xfs, btrfs, tmpfs; before
    Linux 6.10 only with ``CAP_DAC_READ_SEARCH``). Tried once, with a probe file that is removed."""
    if not _O_TMPFILE or _linkat is None:
        return False
    probe = os.path.join(folder, f"{TMP_PREFIX}probe-{os.getpid()}-{time.monotonic_ns()}")
    try:
        fd = create_unnamed(folder, b"")
    except OSError:
        return False
    try:
        link(fd, probe)
    except OSError:
        return False
    finally:
        os.close(fd)
    _unlink_quiet(probe)
    return True


def create_unnamed(folder: str, data: bytes) -> int:
    """A new file in ``folder`` holding ``data``, with no name yet (``O_TMPFILE``), as an open descriptor
    for :func:`link`. Nothing to clean up if it is never linked: closing it frees it.

    Against a named temporary file and a rename this saves a folder entry and its removal: a durable
    two-file item (payload and meta) went from 67-68% to 72-83% of a one-file write's speed in the raw
    probe (bench/store/RESULTS.md).
    """
    try:
        fd = os.open(folder, os.O_WRONLY | _O_TMPFILE | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise _wrap(exc) from exc
    try:
        _write_from_start(fd, data)
    except OSError as exc:
        os.close(fd)
        raise _wrap(exc) from exc
    return fd


def link(fd: int, path: str) -> None:
    """Give the unnamed file ``fd`` (:func:`create_unnamed`) its name ``path`` in the same folder;
    ``FileExistsError`` if that name is taken (never replaces a file)."""
    assert _linkat is not None
    if _linkat(fd, b"", AT_FDCWD, os.fsencode(path), AT_EMPTY_PATH) != 0:
        err = ctypes.get_errno()
        raise _wrap(OSError(err, os.strerror(err), path))


def rewrite(path: str, data: bytes) -> int:
    """Make the existing file ``path`` hold exactly ``data`` and return its open descriptor (not synced).

    For reusing a spare file's inode instead of creating one (see ``Spool``). On failure the file is
    removed and the error re-raised, as with :func:`create`.
    """
    return _fill(path, 0, data, truncate=True)


def _write_from_start(fd: int, data: bytes) -> None:
    """Write all of ``data`` at the start of ``fd`` (``pwrite`` may write less than asked)."""
    view, at = memoryview(data), 0
    while at < len(view):
        at += os.pwrite(fd, view[at:], at)


def _fill(path: str, flags: int, data: bytes, truncate: bool = False) -> int:
    """Open ``path`` for writing (with ``flags``), write ``data`` from its start, cut it there when
    ``truncate``; return the descriptor. On failure the file is removed and the error raised."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | flags, 0o640)
    except OSError as exc:
        raise _wrap(exc) from exc
    try:
        _write_from_start(fd, data)
        if truncate:
            os.ftruncate(fd, len(data))
    except OSError as exc:
        os.close(fd)
        _unlink_quiet(path)
        raise _wrap(exc) from exc
    return fd


def close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
