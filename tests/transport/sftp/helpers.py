"""Test helpers: a real folder-based Inbox, key generation, and running OpenSSH ``sftp``."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid
from pathlib import Path

from gateway.transport.inbox import Received


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderInbox:
    """A minimal durable spool: moves each file to ``<dir>/<id>`` plus ``<id>.meta.json``, fsyncing both."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.items: list[tuple[str, Received]] = []
        self._lock = threading.Lock()

    def _meta(self, item_id: str, received: Received, size: int) -> None:
        meta = self.dir / f"{item_id}.meta.json"
        body = {"partner": received.partner, "transport": received.transport, "filename": received.filename}
        body["message_id"] = received.message_id
        body["size"] = size
        fd = os.open(meta, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            os.write(fd, json.dumps(body).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def accept_file(self, path: str, received: Received) -> str:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # the Inbox contract: accept_file makes the file's data durable
        finally:
            os.close(fd)
        item_id = uuid.uuid4().hex
        self._meta(item_id, received, os.stat(path).st_size)
        os.rename(path, self.dir / item_id)
        _fsync_dir(str(self.dir))
        with self._lock:
            self.items.append((item_id, received))
        return item_id

    def accept(self, payload: bytes, received: Received) -> str:
        tmp = self.dir / f".tmp-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.accept_file(str(tmp), received)

    def payloads(self) -> dict[str, bytes]:
        """filename -> payload for every stored item (reads the meta files)."""
        out: dict[str, bytes] = {}
        for meta in sorted(self.dir.glob("*.meta.json")):
            body = json.loads(meta.read_text())
            out[body["filename"]] = (self.dir / meta.name.removesuffix(".meta.json")).read_bytes()
        return out


def make_key(directory: Path, name: str, kind: str = "ed25519") -> Path:
    path = directory / name
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", name, "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "3072"]
    subprocess.run(args, check=True)
    return path


def sftp_batch(
    port: int,
    user: str,
    key: Path | None,
    known_hosts: Path,
    commands: str,
    cwd: Path,
    extra: tuple[str, ...] = (),
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    """Run ``sftp -b -`` (batch mode) against 127.0.0.1:port; never prompts."""
    args = ["sftp", "-b", "-", "-F", "/dev/null", "-P", str(port)]
    args += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    args += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10"]
    if key is not None:
        args += ["-i", str(key)]
    args += [*extra, f"{user}@127.0.0.1"]
    return subprocess.run(args, input=commands, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def sftp_password(
    port: int, user: str, password: str, known_hosts: Path, commands: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Password login without a tty: commands on stdin, the password from an SSH_ASKPASS script."""
    askpass = cwd / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{password}'\n")
    askpass.chmod(0o700)
    env = dict(os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
    args = ["sftp", "-F", "/dev/null", "-P", str(port), "-o", f"UserKnownHostsFile={known_hosts}"]
    args += ["-o", "StrictHostKeyChecking=yes", "-o", "PubkeyAuthentication=no"]
    args += ["-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"]
    args += [f"{user}@127.0.0.1"]
    return subprocess.run(
        args, input=commands, capture_output=True, text=True, cwd=cwd, env=env, timeout=30,
        start_new_session=True,
    )


def find_sshd() -> tuple[tuple[str, dict[str, str]] | None, str]:
    """OpenSSH's sshd (apt package openssh-server), or the copy ``bench/sftp`` unpacks into bench/out.

    Returns ``(sshd, "")`` or ``(None, reason to skip)``."""
    import pwd
    import shutil

    if os.geteuid() == 0:
        try:
            pwd.getpwnam("sshd")
        except KeyError:
            return None, "sshd needs its privilege separation user 'sshd': CI must install apt package openssh-server"

    repo = Path(__file__).resolve().parents[3]
    unpacked = repo / "bench" / "out" / "openssh" / "usr" / "sbin" / "sshd"
    for candidate in (os.environ.get("SFTP_TEST_SSHD"), shutil.which("sshd"), "/usr/sbin/sshd", str(unpacked)):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            env = dict(os.environ)
            if candidate == str(unpacked):
                libs = repo / "bench" / "out" / "openssh" / "usr" / "lib" / "x86_64-linux-gnu"
                env["LD_LIBRARY_PATH"] = str(libs)
            return (str(Path(candidate).resolve()), env), ""
    return None, "OpenSSH sshd not found: CI must install apt package openssh-server"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sshd(sshd: tuple[str, dict[str, str]], directory: Path, authorized_key: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    """Start ``sshd -D`` (internal-sftp, key auth only) on a free loopback port; returns (proc, port, host key line)."""
    import getpass
    import socket
    import time

    host_key = make_key(directory, "ssh_host_ed25519_key")
    (directory / "authorized_keys").write_text(Path(str(authorized_key) + ".pub").read_text())
    port = free_port()
    cfg = directory / "sshd_config"
    cfg.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {directory}/sshd.pid\n"
        f"AuthorizedKeysFile {directory}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nSubsystem sftp internal-sftp\n"
        f"PermitRootLogin prohibit-password\nAllowUsers {getpass.getuser()}\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([sshd[0], "-D", "-e", "-f", str(cfg)], env=sshd[1], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port, Path(str(host_key) + ".pub").read_text().strip()
