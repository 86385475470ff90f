"""The pipeline worker process (``pipeline.process``): killed mid-flow it loses nothing, and the
thread mode (``pipeline: {process: false}``) still translates the same way."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from gateway.store import Spool
from gateway.store.ids import new_id, process_token
from tests.pipeline.fixtures import interchange, po_850
from tests.pipeline.harness import Daemon, Feeder, HttpSink, make_tree, spool_state


def _worker_pids(daemon: Daemon) -> list[int]:
    return [int(e["pid"]) for e in daemon.events() if e.get("event") == "pipeline_worker_spawned"]


def _wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_killed_worker_is_replaced_and_its_items_are_processed_again(tmp_path: Path) -> None:
    sink = HttpSink()
    daemon = Daemon(make_tree(tmp_path, sink.url), tmp_path)
    expected = {f"W{n:03d}-{i}" for n in range(40) for i in range(5)}
    try:
        daemon.start()
        _wait(lambda: _worker_pids(daemon), 10, "no worker started")
        first = _worker_pids(daemon)[0]
        feeder = Feeder(tmp_path)
        for n in range(40):
            feeder.accept(interchange(*[po_850(f"W{n:03d}-{i}", lines=2, control=i + 1) for i in range(5)],
                                      control=500 + n))
        _wait(lambda: len(sink.snapshot()) > 0, 20, "nothing delivered before the kill")
        os.kill(first, signal.SIGKILL)  # in the middle of the flow
        _wait(lambda: len(_worker_pids(daemon)) >= 2, 20, "the worker was not replaced")
        sink.wait_for_keys(len(expected), timeout=60)
        # a document the dead worker had queued and the new one queued again goes out twice, same key
        _wait(lambda: spool_state(tmp_path, "out/erp") == [], 30, "queued documents left")
        assert daemon.stop() == 0
        posts = sink.snapshot()
        feeder.close()
    finally:
        daemon.close()
        sink.down()
    assert {json.loads(p.body)["po_number"] for p in posts} == expected
    assert len({p.key for p in posts}) == len(expected)  # repeats only under keys already seen
    events = daemon.events()
    died = [e for e in events if e.get("event") == "pipeline_worker_died"]
    assert len(died) == 1 and died[0]["signal"] == signal.SIGKILL
    assert spool_state(tmp_path, "work") == [] and spool_state(tmp_path, "in") == []
    assert spool_state(tmp_path, "failed") == [] and spool_state(tmp_path, "out/erp") == []
    # the worker logs into the daemon's stream, marked as such
    assert any(e.get("event") == "pipeline_worker_started" and e.get("process") == "pipeline-worker"
               for e in events)


def test_thread_mode_translates_too(tmp_path: Path) -> None:
    sink = HttpSink()
    tree = make_tree(tmp_path, sink.url)
    tree.gateway.write_text(tree.gateway.read_text() + "pipeline: {process: false}\n")
    daemon = Daemon(tree, tmp_path)
    try:
        daemon.start()
        feeder = Feeder(tmp_path)
        feeder.accept(interchange(po_850("T-1", lines=2), po_850("T-2", lines=2, control=2)))
        posts = sink.wait_for_keys(2, timeout=30)
        assert daemon.stop() == 0
        feeder.close()
    finally:
        daemon.close()
        sink.down()
    assert sorted(json.loads(p.body)["po_number"] for p in posts) == ["T-1", "T-2"]
    assert not _worker_pids(daemon)


@pytest.mark.parametrize("sync", ["auto", "fsync"])
def test_another_writers_items_are_listed_only_up_to_its_watermark(tmp_path: Path, sync: str) -> None:
    spool = Spool(str(tmp_path / "spool"), sync=sync)
    other = "0123456789"  # the worker's token
    older = new_id()
    ours = spool.put("out/erp", b"ours", {})
    for name in (f"{older[:-10]}{other}", f"{new_id()[:-10]}{other}"):  # two items of the other writer
        for suffix in ("", ".meta.json"):
            (tmp_path / "spool" / "out" / "erp" / f"{name}{suffix}").write_bytes(b"{}")
    spool.hide_other(other, older[:-10] + other)  # it reported the first one durable
    listed = spool.list("out/erp")
    assert ours in listed and f"{older[:-10]}{other}" in listed and len(listed) == 2
    assert ours.endswith(process_token())
    spool.hide_other(None)
    assert len(spool.list("out/erp")) == 3


def test_a_worker_that_cannot_load_the_config_on_disk_raises_an_alert_and_resumes_once_it_can(
    tmp_path: Path,
) -> None:
    """The daemon runs the configuration it loaded; a worker started while the file on disk is broken
    (an edit in progress) says where, exits, and the daemon alerts and tries again; documents wait in
    in/ and go out once the file is fixed."""
    sink = HttpSink()
    tree = make_tree(tmp_path, sink.url)
    good = tree.gateway.read_text()
    daemon = Daemon(tree, tmp_path)
    try:
        daemon.start()
        _wait(lambda: _worker_pids(daemon), 10, "no worker started")
        tree.gateway.write_text(good + "store: {sync: sometimes}\n")  # not a sync mode
        os.kill(_worker_pids(daemon)[0], signal.SIGKILL)
        _wait(lambda: any(e.get("event") == "alert" and e.get("kind") == "pipeline_config_invalid"
                          for e in daemon.events()), 20, "no alert for the broken configuration")
        feeder = Feeder(tmp_path)
        feeder.accept(interchange(po_850("C-1", lines=2)))
        time.sleep(1.0)
        assert sink.snapshot() == []  # nobody translates meanwhile; the document waits
        tree.gateway.write_text(good)
        posts = sink.wait_for_keys(1, timeout=90)  # the next attempt (at most 5 s later) loads it
        assert daemon.stop() == 0
        feeder.close()
    finally:
        daemon.close()
        sink.down()
    assert [json.loads(p.body)["po_number"] for p in posts] == ["C-1"]
    events = daemon.events()
    invalid = [e for e in events if e.get("event") == "pipeline_worker_config_invalid"]
    assert any("store.sync" in " ".join(e.get("problems", [])) for e in invalid)  # names the key
    assert len([e for e in events if e.get("event") == "alert"]) == 1  # once, not per attempt
    assert any(e.get("event") == "pipeline_worker_config_loaded" for e in events)
