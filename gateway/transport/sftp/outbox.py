"""``SFTPOutbox``: how the gateway queues a file for a partner user to download from ``/outbox``."""

from __future__ import annotations

import os
import secrets

import structlog

from gateway.store.fsio import fsync_dir
from gateway.transport.sftp.jail import JailViolation, normalise

log = structlog.get_logger()


def plain_name(filename: str) -> str:
    parts = normalise(filename.encode())
    if len(parts) != 1 or parts[0].startswith("."):
        raise JailViolation("file name must be one plain name", filename.encode())
    return parts[0]


def write_durably(directory: str, filename: str, payload: bytes, staging: str | None = None) -> str:
    """Create ``directory/filename`` with ``payload``: temp file, fsync, link (never overwrites: raises
    ``FileExistsError``), fsync dir. Blocking; call it from a thread when on the reactor."""
    target = os.path.join(directory, plain_name(filename))
    staging = staging or directory
    os.makedirs(directory, mode=0o750, exist_ok=True)
    os.makedirs(staging, mode=0o700, exist_ok=True)
    tmp = os.path.join(staging, f".tmp-{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, target)
    finally:
        os.unlink(tmp)
    fsync_dir(directory)
    return target


class SFTPOutbox:
    """Files for partner users to download, in ``<jail_root>/<user>/outbox/``."""

    def __init__(self, jail_root: str) -> None:
        self.jail_root = os.path.realpath(jail_root)
        self.staging = os.path.join(self.jail_root, ".outbox-staging")  # outside every user's jail

    def put(self, user: str, filename: str, payload: bytes) -> str:
        """Queue ``payload`` as ``/outbox/<filename>`` for ``user``; ``FileExistsError`` if the name is taken.

        Blocking (fsync): call it from a thread when on the reactor."""
        directory = os.path.join(self.jail_root, plain_name(user), "outbox")
        path = write_durably(directory, filename, payload, self.staging)
        log.info("sftp_outbox_queued", user=user, filename=filename, bytes=len(payload))
        return path
