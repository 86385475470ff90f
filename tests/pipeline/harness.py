"""Real parts for end-to-end pipeline tests: the daemon in a subprocess, an HTTP sink on 127.0.0.1,
and a feeder that drops interchanges into the running daemon's spool.

The sink records every POST (idempotency key, body, signature, arrival time). ``down()`` closes its
listening socket and drops the connections it holds, so the gateway sees a real outage (connection
refused or reset); ``up()`` listens again on the same port.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gateway.store import Store
from gateway.transport.inbox import Received
from tests.conftest import ConfigTree

REPO = Path(__file__).resolve().parents[2]
SECRET = b"sink-test-secret"

GATEWAY = """\
node: rel1
listen:
  api: "tcp:0:interface=127.0.0.1"
paths: {{spool: spool, audit: spool/audit, index: spool/index.sqlite, keys: keys}}
our:
  as2_id: ACMEVENDOR
  x12: {{qualifier: ZZ, id: ACMEVENDOR}}
destinations:
  erp: {{kind: http, url: "{url}", secret_file: erp.secret, timeout: 5s, max_attempts: {max_attempts}}}
partners_dir: partners
mappings_dir: {mappings}
rules_dir: {rules}
shutdown: {{drain_timeout: 2s}}
"""

PARTNER = """\
id: amazon-us
name: Amazon.com (US)
timezone: America/New_York
edi:
  standard: x12
  x12: {qualifier: ZZ, id: AMAZON, version: "00401", acks: "997"}
routes:
  - {document: "850", mapping: amazon/850-purchase_order, rules: [amazon/vendor], to: [erp]}
"""


def make_tree(root: Path, sink_url: str, *, max_attempts: int = 10, mappings: Path | None = None,
              partners: dict[str, str] | None = None) -> ConfigTree:
    tree = ConfigTree(root)
    tree.write("gateway.yaml", GATEWAY.format(url=sink_url, max_attempts=max_attempts,
                                              mappings=mappings or REPO / "mappings", rules=REPO / "rules"))
    (root / "erp.secret").write_bytes(SECRET + b"\n")
    os.chmod(root / "erp.secret", 0o600)
    for name, text in (partners or {"amazon-us": PARTNER}).items():
        tree.partner(name, text)
    return tree


# -- the HTTP sink ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Post:
    key: str
    body: bytes
    signature_ok: bool
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a killed or restarted gateway resets its connections: expected here


class HttpSink:
    def __init__(self, port: int = 0, delay: float = 0.0) -> None:
        self.posts: list[Post] = []
        self.delay = delay
        self.is_down = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self.port = port
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/edi"

    def up(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

            def setup(self) -> None:
                super().setup()
                with sink._lock:
                    sink._conns.add(self.connection)

            def finish(self) -> None:
                with sink._lock:
                    sink._conns.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if sink.is_down:
                    self.close_connection = True
                    return  # no answer at all: the sender sees the connection drop
                if sink.delay:
                    time.sleep(sink.delay)
                expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
                post = Post(self.headers.get("idempotency-key") or "", body,
                            hmac.compare_digest(expected, self.headers.get("x-acorn-signature") or ""),
                            time.monotonic())
                with sink._lock:
                    sink.posts.append(post)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "12")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: Any) -> None:
                pass

        server = _Server(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.is_down = False

    def down(self) -> None:
        self.is_down = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # kept-alive connections: drop them too
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def snapshot(self) -> list[Post]:
        with self._lock:
            return list(self.posts)

    def wait_for_keys(self, count: int, timeout: float) -> list[Post]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = self.snapshot()
            if len({p.key for p in posts}) >= count:
                return posts
            time.sleep(0.05)
        posts = self.snapshot()
        raise AssertionError(f"sink saw {len({p.key for p in posts})} of {count} documents within {timeout}s")


# -- the daemon -------------------------------------------------------------------------------------
class Daemon:
    """gatewayd in a subprocess, with a notify socket standing in for systemd; restartable."""

    def __init__(self, tree: ConfigTree, workdir: Path) -> None:
        self.tree = tree
        self.workdir = workdir
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock_path = workdir / "notify.sock"
        self.sock.bind(str(self.sock_path))
        self.log_path = workdir / "gatewayd.log"
        self.log = open(self.log_path, "a+")  # noqa: SIM115 (kept open across restarts)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 20) -> None:
        env = dict(os.environ, NOTIFY_SOCKET=str(self.sock_path), PYTHONUNBUFFERED="1")
        env.pop("WATCHDOG_USEC", None)
        self.log.write(json.dumps({"event": "test_daemon_start", "n": self.starts}) + "\n")
        self.log.flush()
        self.proc = subprocess.Popen([sys.executable, "-m", "gatewayd", "--config", str(self.tree.gateway)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            if "READY=1" in msg.split("\n"):
                return
        raise AssertionError(f"gatewayd not ready within {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        self.log.close()

    def events(self) -> list[dict[str, Any]]:
        if not self.log.closed:
            self.log.flush()
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by SIGKILL
        return out

    def api_port(self) -> int:
        for e in reversed(self.events()):
            if e.get("event") == "listening" and e.get("listener") == "api":
                return int(str(e["address"]).split("port=")[1].rstrip(")").split(",")[0])
        raise AssertionError("api listener not logged")


# -- feeding the spool ------------------------------------------------------------------------------
class Feeder:
    """Drops payloads into ``in/`` of the running daemon's spool, as a transport would."""

    def __init__(self, root: Path) -> None:
        spool = root / "spool"
        spool.mkdir(exist_ok=True)
        self.store = Store.attach(str(spool), str(spool / "audit"), str(spool / "index.sqlite"), node="feeder")

    def accept(self, payload: bytes, partner: str = "amazon-us") -> str:
        return self.store.accept(payload, Received(partner=partner, transport="test"))

    def listing(self, state: str) -> list[str]:
        return self.store.spool.list(state)

    def close(self) -> None:
        self.store.close()


def spool_state(root: Path, state: str) -> list[str]:
    d = root / "spool" / state
    return sorted(n for n in os.listdir(d) if not n.endswith(".meta.json") and not n.startswith(".")) \
        if d.is_dir() else []
