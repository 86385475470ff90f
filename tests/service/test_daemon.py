"""The real daemon in a subprocess, acting as systemd: notify socket, watchdog, SIGHUP, SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import GATEWAY_YAML, PARTNER_YAML

pytestmark = pytest.mark.integration


class Daemon:
    def __init__(self, tree, tmp_path: Path, watchdog_usec: int = 400_000) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(tmp_path / "notify.sock"))
        self.sock.settimeout(15)
        env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC=str(watchdog_usec),
                   PYTHONUNBUFFERED="1")
        self.log = open(tmp_path / "gatewayd.log", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "gatewayd", "--config", str(tree.gateway)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     cwd=Path(__file__).resolve().parents[2])
        self.messages: list[str] = []

    def wait_for(self, wanted: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            self.messages.append(msg)
            if wanted in msg.split("\n"):
                return msg
        raise AssertionError(f"no {wanted} within {timeout}s; got {self.messages}; log:\n{self.logs()}")

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def api_port(self) -> int:
        for e in self.events():
            if e.get("event") == "listening" and e.get("listener") == "api":
                return int(re.search(r"port=(\d+)", e["address"]).group(1))
        raise AssertionError("api listener not logged")

    def health(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port()}/healthz", timeout=5) as resp:
            assert resp.status == 200
            return json.loads(resp.read())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # stacks of every thread into the log, for the report
            time.sleep(1)
            self.proc.kill()
            raise AssertionError(f"gatewayd did not stop within 20 s; log tail:\n{self.logs()[-6000:]}") from None


@pytest.fixture
def daemon(config_tree, tmp_path):
    d = Daemon(config_tree, tmp_path)
    yield d
    if d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait()
    d.sock.close()


def test_ready_watchdog_health_and_clean_stop(daemon):
    ready = daemon.wait_for("READY=1")
    assert any(line.startswith("MAINPID=") for line in ready.split("\n"))
    health = daemon.health()
    assert health["status"] == "ok" and health["node"] == "test1" and len(health["config_checksum"]) == 64
    assert health["uptime"] >= 0 and health["version"]
    daemon.wait_for("WATCHDOG=1")
    t0 = time.monotonic()
    daemon.wait_for("WATCHDOG=1")  # pings keep coming at ~0.2 s (half of 0.4 s)
    assert time.monotonic() - t0 < 1.0
    rc = daemon.stop()
    assert rc == 0
    assert "STOPPING=1" in "\n".join(daemon.messages) or daemon.wait_for("STOPPING=1")
    events = [e["event"] for e in daemon.events()]
    assert "gateway_stopped" in events
    for e in daemon.events():  # one JSON object per line with the agreed keys
        assert {"event", "level", "timestamp"} <= set(e)


def test_sighup_reload_good_then_broken(daemon, config_tree):
    daemon.wait_for("READY=1")
    before = daemon.health()["config_checksum"]
    config_tree.partner("second", PARTNER_YAML.replace("id: amazon-us", "id: second", 1)
                        .replace("as2_id: AMAZON", "as2_id: SECOND"))
    daemon.proc.send_signal(signal.SIGHUP)
    msg = daemon.wait_for("RELOADING=1")
    assert re.search(r"MONOTONIC_USEC=\d+", msg)
    daemon.wait_for("READY=1")
    after = daemon.health()["config_checksum"]
    assert after != before
    # A broken file: errors logged with file, line and key; the last good config stays.
    config_tree.write("gateway.yaml", GATEWAY_YAML.replace("node: test1", "node: [a, b]"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for("RELOADING=1")
    daemon.wait_for("READY=1")
    assert daemon.health()["config_checksum"] == after
    problems = [e for e in daemon.events() if e["event"] == "config_reload_problem"]
    assert problems and problems[0]["file"].endswith("gateway.yaml") and problems[0]["line"] == 1 and problems[0]["key"] == "node"
    assert any(e["event"] == "config_reload_failed" for e in daemon.events())
    assert daemon.stop() == 0


def test_invalid_config_at_start_exits_78(config_tree, tmp_path):
    config_tree.partner("amazon-us", PARTNER_YAML.replace("to: [erp]", "to: [nowhere]"))
    proc = subprocess.run([sys.executable, "-m", "gatewayd", "--config", str(config_tree.gateway)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 78
    assert "amazon-us.yaml:12: routes[0].to[0]" in proc.stderr


def test_sigterm_waits_for_inflight_request(daemon):
    """A request in flight when SIGTERM arrives still gets its full response, and the exit code is 0."""
    daemon.wait_for("READY=1")
    port = daemon.api_port()
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    # Send headers promising a body, then SIGTERM before the body: the request is in flight.
    conn.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
    time.sleep(0.3)
    daemon.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    conn.sendall(b"hello")
    reply = conn.recv(65536)
    assert reply.startswith(b"HTTP/1.1 405")  # healthz is GET only; the point is a complete answer
    assert daemon.proc.wait(timeout=20) == 0


def test_body_over_limit_gets_413(config_tree, tmp_path):
    config_tree.write("gateway.yaml", GATEWAY_YAML + "limits: {api_body_max: 1KiB}\n")
    d = Daemon(config_tree, tmp_path)
    try:
        d.wait_for("READY=1")
        req = urllib.request.Request(f"http://127.0.0.1:{d.api_port()}/healthz", data=b"x" * 5000, method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 413
        assert b"over the limit of 1024 bytes" in info.value.read()
        assert d.health()["status"] == "ok"
    finally:
        assert d.stop() == 0


def test_second_daemon_on_same_spool_refuses(daemon, config_tree):
    daemon.wait_for("READY=1")
    second = subprocess.run([sys.executable, "-m", "gatewayd", "--config", str(config_tree.gateway)],
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert "is in use by another gateway process" in second.stderr and f"pid {daemon.proc.pid}" in second.stderr
    assert daemon.health()["status"] == "ok"  # the first one is unharmed
    assert daemon.stop() == 0
