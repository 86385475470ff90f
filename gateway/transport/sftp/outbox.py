"""``SFTPOutbox``: how the gateway queues a file for a partner user to download from ``/outbox``."""

from __future__ import annotations

import os
import secrets

import structlog

from gateway.transport.sftp.jail import JailViolation, normalise

log = structlog.get_logger()


class SFTPOutbox:
    """Writes files durably into ``<jail_root>/<user>/outbox/`` (temp file, fsync, link, fsync dir)."""

    def __init__(self, jail_root: str) -> None:
        self.jail_root = os.path.realpath(jail_root)
        self.staging = os.path.join(self.jail_root, ".outbox-staging")

    def path_for(self, user: str, filename: str) -> str:
        parts = normalise(filename.encode())
        if len(parts) != 1 or parts[0].startswith("."):
            raise JailViolation("outbox file name must be one plain name", filename.encode())
        (user_part,) = normalise(user.encode())
        return os.path.join(self.jail_root, user_part, "outbox", parts[0])

    def put(self, user: str, filename: str, payload: bytes) -> str:
        """Queue ``payload`` as ``/outbox/<filename>`` for ``user``; raises ``FileExistsError`` if taken.

        Blocking (fsync): call it from a thread when on the reactor."""
        target = self.path_for(user, filename)
        os.makedirs(os.path.dirname(target), mode=0o750, exist_ok=True)
        os.makedirs(self.staging, mode=0o700, exist_ok=True)
        tmp = os.path.join(self.staging, secrets.token_hex(8))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)  # no overwrite
        finally:
            os.unlink(tmp)
        dfd = os.open(os.path.dirname(target), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        log.info("sftp_outbox_queued", user=user, filename=filename, bytes=len(payload))
        return target
