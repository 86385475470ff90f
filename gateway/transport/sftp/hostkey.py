"""The server's host key: generated once on first start, then kept (partners pin it)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch.ssh import keys

HOST_KEY_FILENAME = "ssh_host_ed25519_key"


def load_or_create_host_key(path: str | os.PathLike[str]) -> keys.Key:
    """Return the ed25519 host key at ``path``, creating it (mode 0600) if the file does not exist."""
    p = Path(path)
    if p.exists():
        return keys.Key.fromFile(str(p))
    p.parent.mkdir(parents=True, exist_ok=True)
    key = keys.Key(ed25519.Ed25519PrivateKey.generate())
    data = key.toString("openssh")
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, p)  # never replace a key another process created meanwhile
    except FileExistsError:
        os.unlink(tmp)
        return keys.Key.fromFile(str(p))
    os.unlink(tmp)
    dfd = os.open(p.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return key


def fingerprint(key: keys.Key) -> str:
    """OpenSSH style ``SHA256:...`` fingerprint of the public key."""
    return "SHA256:" + key.fingerprint(keys.FingerprintFormats.SHA256_BASE64).rstrip("=")


def public_line(key: keys.Key) -> str:
    """The public key as one OpenSSH ``known_hosts``/``authorized_keys`` style line."""
    return key.public().toString("openssh").decode()
