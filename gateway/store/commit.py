"""Group commit: one durability round makes the writes of every caller queued for it durable.

A caller writes and renames its files first (nothing synced), then hands the open descriptors and
the touched folders to :meth:`GroupCommit.sync`, which returns only once all of them are durable.
While one round runs, later callers queue for the next; when it ends, one of them leads the next
round for everyone queued (the others wait on a condition). So N threads arriving together pay for
one journal commit instead of N, and every caller still returns only after its own data is on disk.

A round that fails raises its error in every caller that was part of it; each cleans up its own
files, as after any failed write.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping

from gateway.store import fsio


class _Round:
    __slots__ = ("dirs", "done", "error", "files", "owned")

    def __init__(self) -> None:
        self.files: dict[str, int] = {}  # path -> open descriptor (one per file is enough)
        self.dirs: dict[str, None] = {}
        self.owned: list[int] = []  # descriptors handed over with defer(): closed after the round
        self.done = False
        self.error: OSError | None = None


class GroupCommit:
    def __init__(self, mode: str, root: str) -> None:
        if mode not in fsio.SYNC_MODES:
            raise ValueError(f"sync mode must be one of {fsio.SYNC_MODES}, not {mode!r}")
        self.mode, self.root = mode, root
        self._cv = threading.Condition(threading.Lock())
        self._next = _Round()
        self._busy = False
        self._fs_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._root_dev = os.fstat(self._fs_fd).st_dev
        self._devices: dict[str, int] = {}  # folder -> its filesystem (st_dev), asked once per folder
        self.rounds = 0  # rounds run (for tests and benchmarks)
        self.requests = 0

    def sync(self, files: Mapping[str, int], dirs: Iterable[str] = ()) -> None:
        """Return once the data of ``files`` (path -> open descriptor) and the entries of ``dirs``
        are durable; raise the round's ``OSError`` (``DiskFull`` when the disk is full) otherwise."""
        with self._cv:
            rnd = self._next
            rnd.files.update(files)
            rnd.dirs.update(dict.fromkeys(dirs))
            self.requests += 1
            while not rnd.done:
                if not self._busy:  # nobody is syncing: lead the round we are part of
                    self._busy = True
                    self._next = _Round()
                    break
                self._cv.wait()
            else:
                if rnd.error is not None:
                    raise fsio.copy_error(rnd.error)
                return
        try:
            self._flush(rnd)
        except OSError as exc:
            rnd.error = fsio._wrap(exc)
        finally:
            fsio.close_all(rnd.owned)
            with self._cv:
                rnd.done = True
                self._busy = False
                self.rounds += 1
                self._cv.notify_all()
        if rnd.error is not None:
            raise rnd.error

    def defer(self, files: Mapping[str, int], dirs: Iterable[str] = ()) -> None:
        """Add ``files`` (path -> open descriptor, closed by the round) and ``dirs`` to the next round
        without waiting for it: for effects that need to become durable soon but that nobody waits on
        (an item's move to ``done/`` once its outputs are durable). Any later :meth:`sync` or
        :meth:`flush` carries them."""
        with self._cv:
            rnd = self._next
            for path, fd in files.items():
                if path in rnd.files:
                    rnd.owned.append(fd)
                else:
                    rnd.files[path] = fd
                    rnd.owned.append(fd)
            rnd.dirs.update(dict.fromkeys(dirs))

    def pending(self) -> bool:
        """Whether the next round has anything to make durable."""
        with self._cv:
            return bool(self._next.files or self._next.dirs)

    def flush(self) -> None:
        """Run a round now if anything is waiting for one (deferred effects)."""
        if self.pending():
            self.sync({})

    def close(self) -> None:
        self.flush()
        with self._cv:
            if self._fs_fd >= 0:
                os.close(self._fs_fd)
                self._fs_fd = -1

    def _device(self, path: str, fd: int) -> int:
        """The filesystem holding the file ``fd`` named ``path``: that of its folder (a file cannot be on
        another filesystem than the folder that names it), looked up once per folder."""
        folder = os.path.dirname(path)
        dev = self._devices.get(folder)
        if dev is None:
            try:
                dev = os.stat(folder).st_dev
            except OSError:  # the folder went away meanwhile: ask the file itself
                return os.fstat(fd).st_dev
            if len(self._devices) > 4096:
                self._devices.clear()
            self._devices[folder] = dev
        return dev

    def _flush(self, rnd: _Round) -> None:
        if self.mode == "syncfs" or (
            self.mode == "auto" and len(rnd.files) >= fsio.SYNCFS_FROM and not fsio.much_dirty()
        ):
            fsio.syncfs(self.root, self._fs_fd if self._fs_fd >= 0 else None)
            for path, fd in rnd.files.items():  # files on another filesystem (an audit folder elsewhere)
                if self._device(path, fd) != self._root_dev:
                    os.fdatasync(fd)
            return
        for fd in rnd.files.values():
            fsio.wait_writeback(fd)  # all data on the device before the first journal commit
        for fd in rnd.files.values():
            os.fdatasync(fd)
        for d in rnd.dirs:
            fsio.fsync_dir(d)
