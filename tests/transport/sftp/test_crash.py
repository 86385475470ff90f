"""kill -9 of the server during an upload burst: every acknowledged file is in the spool exactly once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway.store.store import Store

from .helpers import make_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SERVER = Path(__file__).with_name("server_main.py")
FILES = 200


def start(tmp: Path, key: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tmp / "port"
    port_file.unlink(missing_ok=True)
    args = [sys.executable, str(SERVER), str(tmp / "spool"), str(tmp / "jail"), str(tmp / "hostkey"),
            str(key) + ".pub", str(port_file), "2"]
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not port_file.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def upload(port: int, user: str, key: Path, known: Path, names: list[str], work: Path, acked: list[str]) -> None:
    """One OpenSSH batch session; a put is acknowledged (close OK) once sftp echoes the next command."""
    args = ["sftp", "-b", "-", "-F", "/dev/null", "-P", str(port), "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", f"{user}@127.0.0.1"]
    batch = "".join(f"put {n} /inbox/{n}\n" for n in names) + "pwd\n"
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=work, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(batch)
    proc.stdin.close()
    pending: str | None = None
    for line in proc.stdout:
        if line.startswith("sftp> "):
            if pending is not None:
                acked.append(pending)
            cmd = line.split()
            pending = cmd[2] if cmd[1] == "put" else None
    proc.wait()


def test_kill_9_during_upload_burst_keeps_every_acknowledged_file_once(tmp_path: Path) -> None:
    key = make_key(tmp_path, "client")
    work = tmp_path / "work"
    work.mkdir()
    digests = {}
    for i in range(FILES):
        body = f"ISA*{i:09d}*".encode() + os.urandom(2000)
        (work / f"f{i:03d}.edi").write_bytes(body)
        digests[hashlib.sha256(body).hexdigest()] = f"f{i:03d}.edi"
    log = tmp_path / "server.log"
    proc, port = start(tmp_path, key, log)
    pub = subprocess.run(["ssh-keygen", "-y", "-f", str(tmp_path / "hostkey")], capture_output=True, text=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub.stdout.strip()}\n")
    acked: list[list[str]] = [[], []]
    names = sorted(p.name for p in work.iterdir())
    threads = [
        threading.Thread(target=upload, args=(port, f"u{i}", key, known, names[i::2], work, acked[i]))
        for i in range(2)
    ]
    for t in threads:
        t.start()
    # kill -9 somewhere in the middle of the burst
    deadline = time.monotonic() + 30
    while sum(map(len, acked)) < FILES // 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for t in threads:
        t.join(30)
    acknowledged = set(acked[0] + acked[1])
    assert FILES // 3 <= len(acknowledged) < FILES, "the kill should land mid-burst"

    # restart: recovery runs, the jail staging area is cleaned, the service listens again
    proc2, _port2 = start(tmp_path, key, log)
    try:
        proc2.send_signal(signal.SIGTERM)
        proc2.wait(10)
    finally:
        if proc2.poll() is None:
            proc2.kill()
    store = Store.open(str(tmp_path / "spool"), str(tmp_path / "spool" / "audit"), str(tmp_path / "spool" / "index.sqlite"))
    try:
        seen: dict[str, int] = {}
        for item_id in store.spool.list("in"):
            payload, meta = store.spool.get(item_id)
            name = digests.get(hashlib.sha256(payload).hexdigest())
            assert name is not None, f"spool item {item_id} is not a complete uploaded file"
            assert meta["filename"] == name and meta["transport"] == "sftp"
            seen[name] = seen.get(name, 0) + 1
    finally:
        store.close()
    print(f"acknowledged={len(acknowledged)} in_spool={len(seen)}")
    assert all(n == 1 for n in seen.values()), {k: v for k, v in seen.items() if v > 1}
    missing = acknowledged - set(seen)
    assert not missing, f"acknowledged but not in the spool: {sorted(missing)}"
    for user in ("u0", "u1"):
        assert os.listdir(tmp_path / "jail" / user / "inbox" / ".incoming") == []
