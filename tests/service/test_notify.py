"""sd_notify and the watchdog, against a real unix datagram socket."""

from __future__ import annotations

import socket

from twisted.internet import task

from gateway.service import notify


def bind(tmp_path, monkeypatch, name="notify.sock"):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / name)
    sock.bind(path)
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    return sock


def test_without_socket_returns_false(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.sd_notify("READY=1") is False


def test_sends_lines(tmp_path, monkeypatch):
    sock = bind(tmp_path, monkeypatch)
    assert notify.sd_notify("READY=1", "STATUS=up") is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_abstract_socket(monkeypatch):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0acorn-test-notify")
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", "@acorn-test-notify")
    assert notify.sd_notify("STOPPING=1")
    assert sock.recv(4096) == b"STOPPING=1"


def test_reloading_carries_monotonic_usec(tmp_path, monkeypatch):
    sock = bind(tmp_path, monkeypatch)
    notify.reloading()
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0


def test_watchdog_interval(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert notify.watchdog_interval() == 5.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert notify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert notify.watchdog_interval() is None


def test_watchdog_pings_at_half_interval_on_clock(tmp_path, monkeypatch):
    sock = bind(tmp_path, monkeypatch)
    sock.setblocking(False)
    clock = task.Clock()
    svc = notify.WatchdogService(clock, 5.0)
    svc.startService()
    assert sock.recv(64) == b"WATCHDOG=1"  # immediately on start
    clock.advance(4.9)
    try:
        sock.recv(64)
        raise AssertionError("pinged early")
    except BlockingIOError:
        pass
    clock.advance(0.1)
    assert sock.recv(64) == b"WATCHDOG=1"
    clock.advance(5)
    assert sock.recv(64) == b"WATCHDOG=1"
    svc.stopService()
    clock.advance(20)
    try:
        sock.recv(64)
        raise AssertionError("pinged after stop")
    except BlockingIOError:
        pass


def test_a_full_notify_queue_never_blocks(tmp_path, monkeypatch):
    """A receiver that stops reading (its queue full) must not freeze the daemon: sends fail fast."""
    import time

    sock = bind(tmp_path, monkeypatch)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    started = time.monotonic()
    results = [notify.sd_notify("WATCHDOG=1") for _ in range(500)]
    assert time.monotonic() - started < 2.0
    assert results[0] is True and False in results  # some were dropped, none blocked
