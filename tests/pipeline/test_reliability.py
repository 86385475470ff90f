"""The real daemon under crashes: SIGKILL at random moments while 500 documents flow to an HTTP sink.

Every document must arrive, a repeated POST must carry a key the sink has already seen (so the ERP can
drop it), a document must never arrive under two keys or with two different bodies, nothing may stay in
``work/``, and the audit trail must still verify.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from gateway.store.auditcheck import verify
from tests.pipeline.fixtures import interchange, po_850
from tests.pipeline.harness import Daemon, Feeder, HttpSink, make_tree, spool_state

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERCHANGES, PER_INTERCHANGE = 50, 10
KILLS = 6


def batch(n: int) -> bytes:
    txs = [po_850(f"K{n:03d}-{i:02d}", lines=2, control=i + 1) for i in range(PER_INTERCHANGE)]
    return interchange(*txs, control=1000 + n)


def test_sigkill_at_random_moments_loses_nothing_and_repeats_only_known_keys(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    sink = HttpSink()
    tree = make_tree(tmp_path, sink.url)
    daemon = Daemon(tree, tmp_path)
    expected = {f"K{n:03d}-{i:02d}" for n in range(INTERCHANGES) for i in range(PER_INTERCHANGE)}
    try:
        daemon.start()
        feeder = Feeder(tmp_path)
        pending = list(range(INTERCHANGES))
        kills = 0
        while kills < KILLS:
            # Feed some interchanges, then kill at a random moment while they are in flight.
            for _ in range(min(len(pending), rng.randint(6, 12))):
                feeder.accept(batch(pending.pop(0)))
            time.sleep(rng.uniform(0.2, 1.5))
            daemon.kill()
            kills += 1
            daemon.start()
        while pending:
            feeder.accept(batch(pending.pop(0)))
        posts = sink.wait_for_keys(len(expected), timeout=60)
        time.sleep(0.5)  # let a straggling repeat land before judging
        assert daemon.stop() == 0
        posts = sink.snapshot()
        feeder.close()
    finally:
        daemon.close()
        sink.down()

    context = f"seed={seed}, {len(posts)} POSTs, {len(daemon.events())} log lines"
    assert all(p.signature_ok for p in posts), context
    keys_by_po: dict[str, set[str]] = defaultdict(set)
    bodies_by_key: dict[str, set[bytes]] = defaultdict(set)
    seen: set[str] = set()
    repeats = 0
    for p in posts:  # in arrival order: a repeat is only allowed under a key seen before
        doc = json.loads(p.body)
        keys_by_po[doc["po_number"]].add(p.key)
        bodies_by_key[p.key].add(p.body)
        if p.key in seen:
            repeats += 1
        seen.add(p.key)
    assert set(keys_by_po) == expected, context
    assert all(len(k) == 1 for k in keys_by_po.values()), f"a document delivered under two keys ({context})"
    assert all(len(b) == 1 for b in bodies_by_key.values()), f"one key, two bodies ({context})"
    assert len(seen) == len(expected) and len(posts) == len(expected) + repeats
    assert daemon.starts == KILLS + 1
    assert spool_state(tmp_path, "work") == [] and spool_state(tmp_path, "in") == []
    assert spool_state(tmp_path, "out/erp") == [], "delivered documents left queued"
    assert spool_state(tmp_path, "failed") == []
    events = [e["event"] for e in daemon.events()]
    assert "pipeline_item_crashed" not in events and "alert" not in events
    assert verify(str(tmp_path / "spool" / "audit")).ok, "audit trail broken by the crashes"
    print(f"\nreliability: {context}, {repeats} repeated POST(s), {KILLS} SIGKILLs")


def _seconds(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_sink_outages_retry_with_backoff_and_alert_once_each(tmp_path: Path) -> None:
    """Two outages of the ERP endpoint: all documents arrive after each, retries follow the backoff
    (2 s doubling, up to half of it taken off by jitter), and each outage raises exactly one alert."""
    sink = HttpSink()
    daemon = Daemon(make_tree(tmp_path, sink.url), tmp_path)
    outage_seconds = 2.5
    try:
        daemon.start()
        feeder = Feeder(tmp_path)
        for round_, (first, count) in enumerate(((0, 2), (2, 1))):
            sink.down()
            for n in range(first, first + count):
                feeder.accept(batch(n))
            time.sleep(outage_seconds)
            sink.up()
            sink.wait_for_keys((first + count) * PER_INTERCHANGE, timeout=25)
            if round_ == 0:
                time.sleep(0.3)  # the recovery is logged after the first success
        assert daemon.stop() == 0
        feeder.close()
    finally:
        daemon.close()
        sink.down()
    events = daemon.events()
    alerts = [e for e in events if e["event"] == "alert"]
    assert [a["kind"] for a in alerts] == ["destination_down", "destination_down"], alerts
    assert all(a["destination"] == "erp" for a in alerts)
    assert sum(e["event"] == "destination_recovered" for e in events) == 2
    assert not [e for e in events if e["event"] == "delivery_failed"]
    retries: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e["event"] == "delivery_retry":
            retries[e["item_id"]].append(e)
    assert len(retries) == 3 * PER_INTERCHANGE, "every document queued during an outage was retried"
    delays = []
    for item, tries in retries.items():
        assert [t["attempt"] for t in tries] == list(range(1, len(tries) + 1))
        for t in tries:  # Backoff(): 2 s * 2^(n-1), minus up to half of it
            base = 2.0 * 2 ** (t["attempt"] - 1)
            assert base * 0.5 - 1e-3 <= t["retry_in"] <= base + 1e-3, t
            delays.append(t["retry_in"])
        for a, b in zip(tries, tries[1:], strict=False):  # the next attempt waited for the delay
            assert _seconds(b["timestamp"]) - _seconds(a["timestamp"]) >= a["retry_in"] - 0.1, (a, b)
        delivered = [e for e in events if e["event"] == "delivered" and e["item_id"] == item]
        assert len(delivered) == 1 and delivered[0]["attempt"] == len(tries) + 1
        assert _seconds(delivered[0]["timestamp"]) - _seconds(tries[-1]["timestamp"]) >= tries[-1]["retry_in"] - 0.1
    assert len(set(delays)) > len(delays) // 2, "jitter spreads the retries"
    posts = sink.snapshot()
    assert len({p.key for p in posts}) == 3 * PER_INTERCHANGE and all(p.signature_ok for p in posts)
