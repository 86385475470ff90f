"""Typed, frozen configuration for the SFTP server and client.

The daemon maps ``partners/*.yaml`` (``sftp.users``, ``sftp.remote``) and ``gateway.yaml`` onto these
objects; nothing here reads YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from twisted.conch.ssh import keys


class InboxDoneMode(StrEnum):
    """What happens to an upload in ``inbox/`` once it is in the spool."""

    DELETE = "delete"  # the file leaves the jail (it is moved into the spool)
    KEEP = "keep"  # a hard link stays in ``inbox/.done/``


@dataclass(frozen=True, slots=True)
class SFTPUserConfig:
    name: str  # the SSH login name
    partner: str  # partner id from partners/*.yaml
    authorized_keys: tuple[str, ...] = ()  # OpenSSH public key lines, or paths to files of them
    password_hash: str | None = None  # bcrypt ("$2b$...") or scrypt ("$scrypt$..."), never plain
    delete_after_download: bool = True  # outbox files are removed after a complete download
    inbox_done_mode: InboxDoneMode = InboxDoneMode.DELETE

    def public_keys(self) -> list[keys.Key]:
        """Parse ``authorized_keys``; each entry is a key line or a file of key lines."""
        out: list[keys.Key] = []
        for entry in self.authorized_keys:
            text = entry.strip()
            if not text.startswith(("ssh-", "ecdsa-", "sk-")):
                text = Path(entry).read_text()
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    out.append(keys.Key.fromString(line.encode()))
        return out


@dataclass(frozen=True, slots=True)
class SFTPLimits:
    max_upload_bytes: int = 64 * 1024 * 1024  # one file
    max_sessions_per_user: int = 8  # concurrent authenticated connections
    failed_logins_per_window: int = 10  # per source address
    failed_login_window_s: float = 60.0
    login_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class SFTPRemoteConfig:
    """A partner's SFTP server that we poll (``sftp.remote`` in the partner profile)."""

    partner: str
    host: str
    port: int
    user: str
    key_path: str  # our private key (OpenSSH format), mode 0600
    known_host_key: str  # the server's public key line, e.g. "ssh-ed25519 AAAA..."
    inbound_dir: str = "outbox"  # remote folder we download from
    outbound_dir: str = "inbox"  # remote folder we upload to
    poll_interval_s: float = 60.0
    after_download: str = "delete"  # "delete" or "rename" (to <inbound_dir>/.done/<name>)
    connect_timeout_s: float = 30.0
