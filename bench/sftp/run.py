"""SFTP upload benchmark: our conch server into the durable store vs OpenSSH sshd (internal-sftp) into a folder.

    .venv/bin/python -m bench.sftp.run [--rounds 3] [--files 1000] [--clients 4] [--connections 60]

Both servers run in the same run on 127.0.0.1, each in its own process, with the same OpenSSH ``sftp``
clients (batch mode, ed25519 key). If ``sshd`` is not installed, the Debian packages are downloaded with
``apt-get download`` and unpacked into bench/out/openssh (nothing is installed system-wide). When run as
root without the ``sshd`` privilege-separation user, sshd runs as ``nobody`` (no privilege separation is
needed then; ``UsePAM yes`` as on Debian, because without PAM sshd refuses nobody's locked account).
Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.scratch import Scratch

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench" / "out"
SERVER_MAIN = REPO / "tests" / "transport" / "sftp" / "server_main.py"


def sshd_binary() -> tuple[str, dict[str, str]]:
    env = dict(os.environ)
    for c in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if c and os.path.exists(c):
            return c, env
    root = OUT / "openssh"
    sshd = root / "usr" / "sbin" / "sshd"
    if not sshd.exists():
        dl = OUT / "debs"
        dl.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "openssh-server", "openssh-sftp-server", "libwrap0"], cwd=dl, check=True)
        for deb in dl.glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    env["LD_LIBRARY_PATH"] = str(root / "usr" / "lib" / "x86_64-linux-gnu")
    return str(sshd), env


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process and its reaped children (sshd forks one child per connection)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_port(port: int) -> None:
    import socket

    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Peer:
    name: str
    port: int
    user: str
    target: str  # remote folder for puts
    pid: int
    proc: subprocess.Popen[bytes]

    def count(self) -> int: ...

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Ours(Peer):
    def __init__(self, base: Path, pubkey: Path, inbox: str) -> None:
        self.name, self.user, self.target = f"acorn -> {inbox}", "u0", "/inbox"
        self.spool = base / "spool"
        port_file = base / "port"
        log = (base / "server.log").open("wb")
        args = [sys.executable, str(SERVER_MAIN), str(self.spool), str(base / "jail"), str(base / "hostkey"),
                str(pubkey), str(port_file), "1", inbox]
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        while not port_file.exists():
            assert self.proc.poll() is None, "server died"
            time.sleep(0.05)
        self.port, self.pid = int(port_file.read_text()), self.proc.pid
        pub = subprocess.run(["ssh-keygen", "-y", "-f", str(base / "hostkey")], capture_output=True, text=True)
        self.host_line = pub.stdout.strip()
        self.seen = 0

    def count(self) -> int:
        return len([n for n in os.listdir(self.spool / "in") if not n.endswith(".json") and not n.startswith(".")])


class OpenSSH(Peer):
    def __init__(self, base: Path, pubkey: Path, port: int) -> None:
        sshd, env = sshd_binary()
        self.name, self.target, self.port = "OpenSSH sshd internal-sftp -> folder", ".", port
        as_nobody = os.geteuid() == 0 and not _has_user("sshd")
        self.user = "nobody" if as_nobody else pwd.getpwuid(os.geteuid()).pw_name
        self.updir = base / "upload"
        self.updir.mkdir()
        keygen(base / "hostkey")
        shutil.copy(pubkey, base / "authorized_keys")
        cfg = base / "sshd_config"
        cfg.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base}/hostkey\nPidFile {base}/sshd.pid\n"
            f"AuthorizedKeysFile {base}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n"
            f"KbdInteractiveAuthentication no\nUsePAM {'yes' if as_nobody else 'no'}\nLogLevel ERROR\n"
            "PermitRootLogin prohibit-password\n"
            f"Subsystem sftp internal-sftp -d {self.updir}\n"
        )
        cmd = [sshd, "-D", "-e", "-f", str(cfg)]
        if as_nobody:
            base.chmod(0o755)
            os.chown(base, 65534, 65534)
            for p in base.iterdir():
                os.chown(p, 65534, 65534)
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        elif os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.proc = subprocess.Popen(cmd, env=env, stderr=(base / "sshd.log").open("wb"))
        wait_port(port)
        self.pid = self.proc.pid
        self.host_line = Path(f"{base}/hostkey.pub").read_text().strip()

    def count(self) -> int:
        return len(os.listdir(self.updir))


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def sftp_args(peer: Peer, key: Path, known: Path, kex: str | None = None) -> list[str]:
    args = ["sftp", "-q", "-b", "-", "-F", "/dev/null", "-P", str(peer.port), "-i", str(key)]
    args += ["-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes"]
    if kex:
        args += ["-o", f"KexAlgorithms={kex}"]
    return [*args, f"{peer.user}@127.0.0.1"]


def upload_burst(peer: Peer, key: Path, known: Path, files: list[str], clients: int, src: Path, tag: str) -> float:
    batches = ["".join(f"put {f} {peer.target}/{tag}-{f}\n" for f in files[i::clients]) for i in range(clients)]

    def one(batch: str) -> None:
        subprocess.run(sftp_args(peer, key, known), input=batch, text=True, cwd=src, check=True,
                       stdout=subprocess.DEVNULL)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(one, batches))
    return time.perf_counter() - t0


def connections(peer: Peer, key: Path, known: Path, n: int, parallel: int, src: Path, kex: str | None) -> float:
    def one(i: int) -> None:
        batch = f"put f0000 {peer.target}/conn-{kex or 'default'}-{i}\n"
        subprocess.run(sftp_args(peer, key, known, kex), input=batch, text=True, cwd=src, check=True,
                       stdout=subprocess.DEVNULL)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(parallel) as ex:
        list(ex.map(one, range(n)))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--connections", type=int, default=60)
    opts = ap.parse_args()
    with Scratch("sftp") as scratch:  # nothing deleted until the run ends (see bench/scratch.py)
        measure(opts, scratch.root)


def measure(opts: argparse.Namespace, base: Path) -> None:
    """Rounds are interleaved (each round: our store, our folder, OpenSSH), and uploads pile up in
    their folders (counted before and after each burst): nothing is deleted while anything is measured."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    base.parent.chmod(0o755)
    key = base / "client"
    keygen(key)
    src = base / "src"
    src.mkdir()
    names = [f"f{i:04d}" for i in range(opts.files)]
    for n in names:
        (src / n).write_bytes(os.urandom(2048))
    for d in ("ours", "ours-folder", "openssh"):
        (base / d).mkdir()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    pub = Path(f"{key}.pub")
    peers: list[Peer] = [
        Ours(base / "ours", pub, "store"),
        Ours(base / "ours-folder", pub, "folder"),
        OpenSSH(base / "openssh", pub, free),
    ]
    results: dict[str, dict[str, float]] = {p.name: {} for p in peers}
    rates: dict[str, list[float]] = {p.name: [] for p in peers}
    cpus: dict[str, list[float]] = {p.name: [] for p in peers}
    known: dict[str, Path] = {}
    try:
        for peer in peers:
            known[peer.name] = base / f"known-{peer.port}"
            known[peer.name].write_text(f"[127.0.0.1]:{peer.port} {peer.host_line}\n")
        for r in range(opts.rounds):
            for peer in peers:
                before, cpu0 = peer.count(), cpu_seconds(peer.pid)
                wall = upload_burst(peer, key, known[peer.name], names, opts.clients, src, f"r{r}")
                cpus[peer.name].append(cpu_seconds(peer.pid) - cpu0)
                got = peer.count() - before
                assert got == opts.files, f"{peer.name}: {got} files arrived, expected {opts.files}"
                rates[peer.name].append(opts.files / wall)
                print(f"{peer.name}: round {r + 1}: {opts.files / wall:,.0f} files/s, "
                      f"server CPU {cpus[peer.name][-1]:.2f} s", flush=True)
        for peer in peers:
            res = results[peer.name]
            res["files_s"], res["burst_cpu"] = statistics.median(rates[peer.name]), statistics.median(cpus[peer.name])
            res["ratio"] = statistics.median(a / b for a, b in zip(rates[peer.name], rates[peers[-1].name], strict=True))
            for kex in (None, "curve25519-sha256"):
                cpu0 = cpu_seconds(peer.pid)
                wall = connections(peer, key, known[peer.name], opts.connections, opts.clients, src, kex)
                cpu = cpu_seconds(peer.pid) - cpu0
                label = kex or "default"
                res[f"conn_s_{label}"] = opts.connections / wall
                res[f"conn_cpu_ms_{label}"] = 1000 * cpu / opts.connections
                print(f"{peer.name}: {opts.connections} new connections ({label} kex, {opts.clients} parallel): "
                      f"{opts.connections / wall:.1f}/s, server CPU {1000 * cpu / opts.connections:.1f} ms each")
    finally:
        for peer in peers:
            peer.stop()
    theirs = results[peers[-1].name]
    print()
    print(f"| {opts.files} x 2 KB, {opts.clients} OpenSSH sftp clients | "
          + " | ".join(p.name for p in peers) + " |")
    print("|---|" + "---:|" * len(peers))

    def row(label: str, key: str, fmt: str, ratio: bool) -> None:
        cells = [format(results[p.name][key], fmt) for p in peers]
        if ratio:
            cells = [c + (f" ({results[p.name][key] / theirs[key]:.0%})" if p is not peers[-1] else "")
                     for c, p in zip(cells, peers, strict=True)]
        print(f"| {label} | " + " | ".join(cells) + " |")

    print("| uploads, files/s (median of " + str(opts.rounds) + "; ratio: median of per-round ratios) | "
          + " | ".join(f"{results[p.name]['files_s']:,.0f}" + (f" ({results[p.name]['ratio']:.0%})" if p is not peers[-1]
                                                                else "") for p in peers) + " |")
    row("server CPU per 1,000-file burst, s (sshd: session children not counted)", "burst_cpu", ".2f", False)
    for label in ("default", "curve25519-sha256"):
        row(f"new connections/s, client kex {label}", f"conn_s_{label}", ".1f", True)
        row(f"server CPU per connection, ms ({label})", f"conn_cpu_ms_{label}", ".1f", False)
    print("\nRounds: " + "; ".join(f"{p.name} " + " / ".join(f"{x:,.0f}" for x in rates[p.name]) for p in peers))


if __name__ == "__main__":
    main()
