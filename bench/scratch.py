"""Fresh folders for a benchmark run, removed only once every measurement is over.

Why not clear a folder between cases: on this machine's ext4 (no journal), creating a file costs
more the more inodes were deleted in the last minutes. The inode allocator skips every recently
freed inode of the block group (``recently_deleted``, 60 s, 360 s while the inode table block is
dirty), reading each one. A case that ran right after ``shutil.rmtree`` of the previous case's few
thousand files measured a third slower (pipeline benchmark: 100 vs 135 documents/s; in a profile of
the daemon, 23% of its CPU was in ``recently_deleted``). So every case gets a folder of its own, and
nothing is deleted until the run ends.

The same holds between runs: one benchmark's clean-up slows the next one's creates (measured: a
create with a 2 KB write took 25 us of system time in a settled folder, 200-400 us in a folder of the
same tree minutes after a run removed its files). A run records when it deleted (``.deleted-at``
under ``bench/out``) and the next run waits until that is ``SETTLE_S`` old before it measures.
``ACORN_BENCH_KEEP=1`` keeps a run's folders instead (nothing to wait for; remove ``bench/out/``
by hand later).

    with Scratch("pipeline") as scratch:
        d = scratch.fresh("floor")      # bench/out/pipeline/<run>/floor-1, never used before
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from pathlib import Path
from types import TracebackType

OUT = Path(__file__).resolve().parent / "out"
MARK = OUT / ".deleted-at"  # touched after every removal; its mtime is the last one
KEPT = ".kept"  # in a run folder kept on purpose (not a run that died)
SETTLE_S = 400  # the kernel's longest "recently deleted" window (360 s) and a margin


def settle() -> None:
    """Wait until the last removal by a benchmark run is ``SETTLE_S`` old."""
    try:
        age = time.time() - MARK.stat().st_mtime
    except FileNotFoundError:
        return
    if age < SETTLE_S:
        wait = SETTLE_S - age
        print(f"waiting {wait:.0f} s: a benchmark run removed its files {age:.0f} s ago, and on this "
              "machine's ext4 (no journal) new files cost more until those freed inodes are old "
              "(see bench/scratch.py)", flush=True)
        time.sleep(wait)


def removed() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    MARK.touch()


class Scratch:
    def __init__(self, name: str, base: Path | None = None, keep: bool = False) -> None:
        self.parent = (base or OUT) / name
        self.keep = keep or os.environ.get("ACORN_BENCH_KEEP") == "1"
        self.root = self.parent / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self._n = itertools.count(1)

    def __enter__(self) -> Scratch:
        stale = [p for p in self.parent.glob("run-*") if p.is_dir() and not (p / KEPT).exists()] \
            if self.parent.is_dir() else []
        if stale:  # an earlier run that did not finish: cleared now, before this run measures anything
            for p in stale:
                shutil.rmtree(p, ignore_errors=True)
            removed()
            print(f"removed {len(stale)} folder(s) left by an earlier run of {self.parent}", flush=True)
        settle()
        base, n = self.root, 1
        while self.root.exists():  # a second run from the same process in the same second
            n += 1
            self.root = base.with_name(f"{base.name}-{n}")
        self.root.mkdir(parents=True)
        return self

    def fresh(self, label: str) -> Path:
        """A new, empty folder for one case."""
        d = self.root / f"{label}-{next(self._n)}"
        d.mkdir(parents=True)
        return d

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.keep:
            (self.root / KEPT).touch()
        else:
            shutil.rmtree(self.root, ignore_errors=True)
            removed()
