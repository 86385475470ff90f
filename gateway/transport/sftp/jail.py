"""Resolve client paths inside one user's jail.

Every path a client sends goes through :func:`resolve`. It never trusts the client: undecodable bytes, NUL
bytes, overlong names, ``..`` that climbs above the root and any symlink on the way are refused with
:class:`JailViolation`, which the SFTP layer turns into ``FX_PERMISSION_DENIED`` and a log line naming the
user and the path. Absolute paths are taken relative to the jail root, as in a chroot.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255


class JailViolation(Exception):
    """The client path tries to leave the jail or is not a path at all."""

    def __init__(self, reason: str, path: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


@dataclass(frozen=True, slots=True)
class Resolved:
    virtual: str  # what the client sees, always absolute: "/inbox/x.edi"
    real: str  # the file system path inside the jail
    parts: tuple[str, ...]  # ("inbox", "x.edi")


def normalise(path: bytes) -> tuple[str, ...]:
    """Split a client path into clean components, refusing anything that would leave the root."""
    if len(path) > MAX_PATH_BYTES:
        raise JailViolation("path too long", path)
    if b"\x00" in path:
        raise JailViolation("NUL byte in path", path)
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        raise JailViolation("path is not UTF-8", path) from None
    parts: list[str] = []
    for comp in text.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise JailViolation("'..' above the jail root", path)
            parts.pop()
            continue
        if len(comp.encode()) > MAX_NAME_BYTES:
            raise JailViolation("name too long", path)
        if "\\" in comp or any(ord(c) < 32 for c in comp):
            raise JailViolation("control character or backslash in name", path)
        parts.append(comp)
    return tuple(parts)


def resolve(root: str, path: bytes) -> Resolved:
    """Map a client path onto the jail at ``root`` (an absolute, symlink-free directory)."""
    parts = normalise(path)
    real = os.path.join(root, *parts) if parts else root
    # No component below the root may be a symlink (lstat each existing one; we never create links).
    # With ".." already folded away and the root itself symlink-free, that keeps ``real`` inside the root.
    cur = root
    for comp in parts:
        cur = os.path.join(cur, comp)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            break
        if stat.S_ISLNK(st.st_mode):
            raise JailViolation("symlink in path", path)
    return Resolved("/" + "/".join(parts), real, parts)
