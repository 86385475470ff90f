"""What the two-file item layout costs on this disk, with plain system calls (no spool code).

    .venv/bin/python -m bench.store.probe_layout [--rounds 5] [--items 300]

Per item, in one folder under bench/out/store-probe/: create a temp file, write, rename to its final name;
then make it durable. Cases:

* 1 file:  a 2 KB file, fdatasync, fsync the folder;
* 2 files: the 2 KB file and a 280-byte meta file, fdatasync of the first only, fsync the folder
           (on ext4 that commit carries both: the least a two-file item can cost);
* 2 files, each synced: fdatasync of both, fsync the folder (what the spool's fsync mode does).

Medians over the rounds; the cases alternate within each round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "bench" / "out" / "store-probe"
PAYLOAD = os.urandom(2048)
META = b'{"partner":"amazon-us","transport":"as2"}' * 7


def _fsync_dir(d: str) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def case(files: int, sync_all: bool) -> Callable[[str, int], float]:
    def run(d: str, n: int) -> float:
        t = time.perf_counter()
        for i in range(n):
            fds = []
            for j in range(files):
                tmp = f"{d}/.tmp-{i}-{j}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
                os.write(fd, PAYLOAD if j == 0 else META)
                fds.append(fd)
                os.rename(tmp, f"{d}/{i}-{j}")
            for fd in fds if sync_all else fds[:1]:
                os.fdatasync(fd)
            _fsync_dir(d)
            for fd in fds:
                os.close(fd)
        return n / (time.perf_counter() - t)

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--items", type=int, default=300)
    a = ap.parse_args()
    cases = {
        "1 file (fdatasync + folder fsync)": case(1, False),
        "2 files, one commit (fdatasync of the first + folder fsync)": case(2, False),
        "2 files, each synced (fdatasync both + folder fsync)": case(2, True),
    }
    rates: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(a.rounds):
        for name, fn in cases.items():
            d = OUT / f"r{r}-{len(rates[name])}-{abs(hash(name))}"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            rates[name].append(fn(str(d), a.items))
            shutil.rmtree(d, ignore_errors=True)
    one = rates["1 file (fdatasync + folder fsync)"]
    print(f"| case ({a.rounds} rounds x {a.items} items) | items/s (median) | ratio to 1 file (median per round) |")
    print("|---|---:|---:|")
    for name, v in rates.items():
        ratio = statistics.median(x / y for x, y in zip(v, one, strict=True))
        print(f"| {name} | {statistics.median(v):,.0f} | {ratio:.0%} |")


if __name__ == "__main__":
    main()
