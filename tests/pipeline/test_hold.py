"""``pipeline.hold``: arrivals are stored and acknowledged but not processed until the hold is lifted
(SIGHUP), then processed as usual."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.pipeline.fixtures import interchange, po_850
from tests.pipeline.harness import Daemon, Feeder, HttpSink, make_tree, spool_state

pytestmark = [pytest.mark.integration]


def test_held_arrivals_wait_in_the_spool_and_go_through_once_released(tmp_path: Path) -> None:
    sink = HttpSink()
    tree = make_tree(tmp_path, sink.url)
    held = tree.gateway.read_text() + "pipeline: {hold: true}\n"
    tree.gateway.write_text(held)
    daemon = Daemon(tree, tmp_path)
    feeder = None
    try:
        daemon.start()
        assert any(e["event"] == "pipeline_held" for e in daemon.events())
        feeder = Feeder(tmp_path)
        item = feeder.accept(interchange(po_850("PO-HOLD-1")))
        time.sleep(1.5)  # several poll intervals (0.2 s): a running pipeline would have taken it
        assert spool_state(tmp_path, "in") == [item] and not sink.snapshot()
        tree.gateway.write_text(held.replace("hold: true", "hold: false"))
        daemon.proc.send_signal(signal.SIGHUP)
        posts = sink.wait_for_keys(1, timeout=20)
        assert len(posts) == 1 and b"PO-HOLD-1" in posts[0].body
        assert any(e["event"] == "pipeline_released" for e in daemon.events())
        assert spool_state(tmp_path, "in") == []
        assert daemon.stop() == 0
    finally:
        if feeder is not None:
            feeder.close()
        daemon.close()
        sink.down()
