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
