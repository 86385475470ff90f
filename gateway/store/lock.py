"""The spool lock: one gateway process per spool.

``fcntl.flock`` on ``<spool>/.lock``; the holder writes its pid (and node) into the file so that a
second opener can say who holds it. The kernel drops the lock when the holder dies, so a stale file
never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os


class StoreLocked(RuntimeError):
    """Another process holds the spool lock."""

    def __init__(self, spool_dir: str, holder: str) -> None:
        self.spool_dir = spool_dir
        self.holder = holder
        super().__init__(
            f"spool {spool_dir!r} is in use by another gateway process ({holder}); "
            "stop it first or point this one at another spool"
        )


class SpoolLock:
    def __init__(self, spool_dir: str) -> None:
        self.path = os.path.join(spool_dir, ".lock")
        self.fd: int | None = None

    def acquire(self, node: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "pid unknown"
            os.close(fd)
            raise StoreLocked(os.path.dirname(self.path), holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} node {node}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
