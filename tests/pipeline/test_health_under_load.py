"""/healthz keeps answering while the daemon works through a 50 MB interchange.

The pipeline runs in a worker thread; what could still stall the reactor is anything that holds the
GIL for long: the garbage collector walking a big parse tree (a second per pass, before the parse
tree was frozen), or one C call over the whole input. We poll /healthz on fresh connections every
20 ms for 8 s from the moment the item lands (the read, the parse and thousands of transactions).
"""

from __future__ import annotations

import http.client
import statistics
import time
from pathlib import Path

import pytest

from tests.pipeline.fixtures import interchange, po_850
from tests.pipeline.harness import Daemon, Feeder, HttpSink, make_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WINDOW = 8.0


def big_interchange(megabytes: int = 50) -> bytes:
    one = len(po_850("B0000000", lines=20))
    count = megabytes * 1_000_000 // one + 1
    return interchange(*[po_850(f"B{i:07d}", lines=20, control=i % 9999 + 1) for i in range(count)], control=77)


def probe(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    t0 = time.perf_counter()
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 200
    return time.perf_counter() - t0


def test_healthz_stays_fast_while_a_50mb_interchange_is_processed(tmp_path: Path) -> None:
    payload = big_interchange()
    assert len(payload) >= 50_000_000
    sink = HttpSink()
    daemon = Daemon(make_tree(tmp_path, sink.url), tmp_path)
    try:
        daemon.start()
        port = daemon.api_port()
        idle = [probe(port) for _ in range(10)]
        feeder = Feeder(tmp_path)
        feeder.accept(payload)
        busy: list[float] = []
        started = time.monotonic()
        while time.monotonic() - started < WINDOW:
            busy.append(probe(port))
            time.sleep(0.02)
        delivered = len(sink.snapshot())
        feeder.close()
    finally:
        daemon.close()  # SIGKILL: the rest of the 45,000 transactions is not this test's business
        sink.down()
    busy.sort()
    p50, p95, worst = statistics.median(busy), busy[int(len(busy) * 0.95)], busy[-1]
    print(f"\nhealthz idle p50 {statistics.median(idle) * 1000:.1f} ms; while processing 50 MB: "
          f"n={len(busy)} p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {worst * 1000:.1f} ms; "
          f"{delivered} documents delivered meanwhile")
    assert delivered > 0, "the window covered processing, not only the parse"
    assert len(busy) >= WINDOW / 0.1, "probes were not held up"
    assert p50 < 0.05 and p95 < 0.05
    # The parser works a step at a time and the pipeline thread yields the GIL after 1 ms while it works
    # (worst probe 25-39 ms on a quiet machine); a shared CI machine can still stretch single probes, so
    # the worst case is held to a looser bound. Before the parse tree was frozen, the collector stalled
    # the reactor for 1-3 s.
    assert worst < 0.5
