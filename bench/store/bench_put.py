"""Durable put of 2 KB items against the floor the disk allows, and duplicate lookups at 1M interchanges.

    .venv/bin/python -m bench.store.bench_put [--rounds 7] [--items 300] [--interchanges 1000000]

Each round runs, one after the other on the same filesystem (under bench/out/store/):

* floor:       a plain loop of write + fsync + rename of one 2 KB file (no meta, no folder fsync);
* floor+dir:   the same with a folder fsync after each rename (what makes a one-file write durable);
* put/fsync:   Spool.put, payload + meta written (writeback started), renamed, then one durability
               round: fdatasync of both, fsync of the folder;
* put/syncfs:  Spool.put, payload + meta written and renamed, then one syncfs;
* put/auto:    Spool.put in the default mode (a round of two files or more: one syncfs, as put/syncfs,
               unless much else is dirty on the machine);
* accept:      Store.accept (put + audit event, one durability round; index row, synchronous=NORMAL);
* accept, later: the same with ``index_later=True`` (what SpoolInbox does: the index row is written by a
               background thread after the caller got its answer; the loop waits for it at the end);
* accept x4:   the same from 4 threads at once, sharing durability rounds (group commit);
* inbox x8:    SpoolInbox.accept from 8 threads, as transports store what they receive: the store's
               intake thread writes whatever is queued as one batch (one audit lock hold, one round).

Medians over the rounds are printed with each ratio to the floor of the same round.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from bench.scratch import Scratch
from gateway.store import Index, Spool, SpoolInbox, Store
from gateway.transport.inbox import Received

OUT = Path(__file__).resolve().parents[1] / "out" / "store"
PAYLOAD = os.urandom(2048)


def floor_loop(d: Path, n: int, sync_dir: bool = False) -> float:
    """write + fsync + rename of one 2 KB file per item; with ``sync_dir`` also the folder fsync after
    each rename (what makes a one-file write durable: the rename survives a power cut only then)."""
    d.mkdir(parents=True)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    t = time.perf_counter()
    for i in range(n):
        tmp, final = d / f".t{i}", d / f"f{i}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.write(fd, PAYLOAD)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, final)
        if sync_dir:
            os.fsync(dfd)
    rate = n / (time.perf_counter() - t)
    os.close(dfd)
    return rate


def floor_dir_loop(d: Path, n: int) -> float:
    return floor_loop(d, n, sync_dir=True)


def spool_loop(sync: str) -> Callable[[Path, int], float]:
    def run(d: Path, n: int) -> float:
        spool = Spool(str(d), sync=sync)
        meta = {"partner": "amazon-us", "transport": "as2", "message_id": "<bench@x>"}
        t = time.perf_counter()
        for _ in range(n):
            spool.put("in", PAYLOAD, meta)
        return n / (time.perf_counter() - t)

    return run


def accept_loop(d: Path, n: int, index_later: bool = False) -> float:
    store = Store.open(str(d), str(d / "audit"), str(d / "index.sqlite"), node="bench")
    rec = Received("amazon-us", "as2", message_id="<bench@x>")
    t = time.perf_counter()
    for _ in range(n):
        store.accept(PAYLOAD, rec, index_later=index_later)
    store.later.flush()  # the index rows are in the time too
    rate = n / (time.perf_counter() - t)
    store.close()
    return rate


def accept_later_loop(d: Path, n: int) -> float:
    return accept_loop(d, n, index_later=True)


def accept_threads(threads: int, via_inbox: bool = False) -> Callable[[Path, int], float]:
    """Store.accept from ``threads`` threads at once (group commit), or with ``via_inbox`` what
    transports do: SpoolInbox.accept, written in batches by the store's intake thread
    (gateway/store/intake.py)."""

    def run(d: Path, n: int) -> float:
        store = Store.open(str(d), str(d / "audit"), str(d / "index.sqlite"), node="bench")
        accept = SpoolInbox(store).accept if via_inbox else store.accept
        rec = Received("amazon-us", "as2", message_id="<bench@x>")

        def one(_: int) -> None:
            for _ in range(n // threads):
                accept(PAYLOAD, rec)

        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(one, range(threads)))
        store.later.flush()  # the inbox's index rows are in the time too
        rate = (n // threads) * threads / (time.perf_counter() - t)
        store.close()
        return rate

    return run


def bench_puts(rounds: int, items: int) -> None:
    cases: dict[str, Callable[[Path, int], float]] = {
        "floor (write+fsync+rename)": floor_loop,
        "floor with the folder fsync (write+fsync+rename+fsync folder)": floor_dir_loop,
        "Spool.put, sync=fsync": spool_loop("fsync"),
        "Spool.put, sync=syncfs": spool_loop("syncfs"),
        "Spool.put, sync=auto (default: syncfs from 2 files)": spool_loop("auto"),
        "Store.accept (put+audit+index)": accept_loop,
        "Store.accept, index row after the answer (as transports do)": accept_later_loop,
        "Store.accept, 4 threads (group commit)": accept_threads(4),
        "SpoolInbox.accept, 8 threads (as transports: the intake thread writes batches)": accept_threads(8, via_inbox=True),
    }
    rates: dict[str, list[float]] = {k: [] for k in cases}
    ratios: dict[str, list[float]] = {k: [] for k in cases}
    ratios_dir: dict[str, list[float]] = {k: [] for k in cases}
    with Scratch("puts", base=OUT) as scratch:  # nothing deleted until every case ran (see bench/scratch.py)
        for _ in range(rounds):
            got: dict[str, float] = {}
            for name, fn in cases.items():
                d = scratch.fresh("case")
                d.rmdir()  # each case makes its own folder
                got[name] = fn(d, items)
            floor, floor_dir = got["floor (write+fsync+rename)"], got[next(k for k in cases if "folder fsync" in k)]
            for name, rate in got.items():
                rates[name].append(rate)
                ratios[name].append(rate / floor)
                ratios_dir[name].append(rate / floor_dir)
    med = statistics.median
    print(f"\nDurable put of 2 KB items: {rounds} rounds x {items} items, medians")
    print("| case | items/s (median) | min..max | ratio to floor (median of per-round ratios) "
          "| ratio to the floor with the folder fsync |")
    print("|---|---:|---:|---:|---:|")
    for name in cases:
        v = rates[name]
        print(f"| {name} | {med(v):,.0f} | {min(v):,.0f}..{max(v):,.0f} | {med(ratios[name]):.0%} "
              f"| {med(ratios_dir[name]):.0%} |")


def bench_lookups(count: int, probes: int = 20000) -> None:
    path = OUT / "lookup.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    idx = Index(str(path), synchronous="OFF")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    partners = [f"partner{p}" for p in range(20)]
    rng = random.Random(1)
    t = time.perf_counter()
    with idx.lock, idx.db.atomic():
        idx.db.conn.executemany(
            "INSERT INTO interchanges VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    partners[i % 20],
                    f"SENDER{i % 20}",
                    f"{i:09d}",
                    (t0 + timedelta(seconds=i * 10)).isoformat(),
                    f"it{i}",
                    i,
                )
                for i in range(count)
            ),
        )
    load = time.perf_counter() - t
    since = t0  # every stored interchange is inside the window; misses are unknown numbers
    lat: list[float] = []
    hits = 0
    for _ in range(probes):
        i = rng.randrange(count * 2)  # half of the probes miss
        p = i % 20
        s = time.perf_counter()
        found = idx.interchange_seen(partners[p], f"SENDER{p}", f"{i:09d}", since)
        lat.append(time.perf_counter() - s)
        hits += found is not None
    idx.close()
    lat.sort()
    print(
        f"\nDuplicate lookup (interchange_seen) at {count:,} interchanges, {probes:,} probes ({hits:,} hits; load {load:.1f} s)"
    )
    print("| median | p99 | max |")
    print("|---:|---:|---:|")
    print(
        f"| {lat[len(lat) // 2] * 1e6:.0f} us | {lat[int(len(lat) * 0.99)] * 1e6:.0f} us | {lat[-1] * 1e6:.0f} us |"
    )


def main() -> None:
    global OUT
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--interchanges", type=int, default=1_000_000)
    ap.add_argument("--dir", default=str(OUT), help="where to write (default bench/out/store)")
    args = ap.parse_args()
    OUT = Path(args.dir)
    OUT.mkdir(parents=True, exist_ok=True)
    bench_puts(args.rounds, args.items)
    bench_lookups(args.interchanges)


if __name__ == "__main__":
    main()
