"""Fresh folders for a benchmark run, removed only once every measurement is over.

Why not clear a folder between cases: on this machine's ext4 (no journal), creating a file costs
more the more inodes were deleted in the last minutes. The inode allocator skips every recently
freed inode of the block group (``recently_deleted``, 60 s, 360 s while the inode table block is
dirty), reading each one. A case that ran right after ``shutil.rmtree`` of the previous case's few
thousand files measured a third slower (pipeline benchmark: 100 vs 135 documents/s; in a profile of
the daemon, 23% of its CPU was in ``recently_deleted``). So every case gets a folder of its own, and
nothing is deleted until the run ends.

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


class Scratch:
    def __init__(self, name: str, base: Path | None = None, keep: bool = False) -> None:
        self.parent = (base or OUT) / name
        self.keep = keep
        self.root = self.parent / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self._n = itertools.count(1)

    def __enter__(self) -> Scratch:
        stale = [p for p in self.parent.glob("run-*") if p.is_dir()] if self.parent.is_dir() else []
        if stale:  # an earlier run that did not finish: cleared now, before this run measures anything
            for p in stale:
                shutil.rmtree(p, ignore_errors=True)
            print(f"removed {len(stale)} folder(s) left by an earlier run of {self.parent}; waiting 90 s so "
                  "their freed inodes do not slow this run's file creation", flush=True)
            time.sleep(90)
        self.root.mkdir(parents=True)
        return self

    def fresh(self, label: str) -> Path:
        """A new, empty folder for one case."""
        d = self.root / f"{label}-{next(self._n)}"
        d.mkdir(parents=True)
        return d

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
