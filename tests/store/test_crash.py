"""Kill a writer with SIGKILL at random points, reopen, and check nothing returned was lost."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.store.fsio import TMP_PREFIX
from tests.store.crash_writer import payload

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def run_round(
    paths: dict[str, str], round_no: int, rng: random.Random, sync: str, threads: int = 1
) -> dict[str, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [
        sys.executable,
        str(WRITER),
        paths["spool_dir"],
        paths["audit_dir"],
        paths["index_path"],
        str(round_no),
        "1000",
        sync,
        str(threads),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    time.sleep(rng.uniform(0.0, 0.6))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    returned = {}
    for line in out.decode().splitlines():
        if line == "finished":
            continue
        i, item_id = line.split()
        returned[item_id] = int(i)
    return returned


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(
    ("sync", "rounds", "threads"), [("fsync", 22, 1), ("syncfs", 8, 1), ("auto", 20, 4)]
)
def test_sigkill_during_puts_loses_nothing_that_returned(
    paths: dict[str, str], sync: str, rounds: int, threads: int
) -> None:
    """SIGKILL at a random moment, again and again; with 4 threads the kill lands inside group commits."""
    rng = random.Random(6 + threads)
    returned: dict[str, tuple[int, int]] = {}
    for round_no in range(rounds):
        for item_id, i in run_round(paths, round_no, rng, sync, threads).items():
            returned[item_id] = (round_no, i)
    assert len(returned) > rounds * 10, "the writer was killed too early to test anything"

    with Store.open(**paths, node="check", sync=sync) as store:
        assert store.spool.list("work") == []
        found: dict[str, str] = {}
        for state in store.spool.states():
            names = os.listdir(store.spool.dir(state))
            assert not [n for n in names if n.startswith(TMP_PREFIX)]
            for item_id in store.spool.list(state):
                assert item_id not in found, f"{item_id} in both {found[item_id]} and {state}"
                found[item_id] = state
                data, meta = store.spool.get(item_id)
                assert hashlib.sha256(data).hexdigest() == meta["sha256"], (
                    "a partial write was taken as an item"
                )
        for item_id, (round_no, i) in returned.items():
            assert item_id in found, f"put {item_id} returned but is gone"
            data, _ = store.spool.get(item_id)
            assert data == payload(round_no, i)
            row = store.index.message("p1", f"{round_no}-{i}", "in")
            assert row is not None and row["item_id"] == item_id, "the index misses an accepted item"
        # every stored item was audited exactly once as received, even when killed in between
        received = [ev["item_id"] for ev in _events(paths["audit_dir"]) if ev["event"] == "item.received"]
        assert sorted(received) == sorted(found)
    from gateway.store import verify

    assert verify(paths["audit_dir"]).ok


def _events(audit_dir: str) -> list[dict]:
    from gateway.store.auditcheck import events

    return list(events(audit_dir))
