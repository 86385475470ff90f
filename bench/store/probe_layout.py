"""What the two-file item layout costs on this disk, with plain system calls next to ``Spool.put``.

    .venv/bin/python -m bench.store.probe_layout [--rounds 5] [--items 300]

Each case writes ``--items`` 2 KB items, each in a fresh folder (under bench/out/store-probe/, nothing
deleted until the run ends, see bench/scratch.py); the cases alternate within each round:

* floor:     one file: create a temp file, write, fsync, rename (the store benchmark's floor);
* named:     payload + 370-byte meta in a subfolder (as the spool's ``in/``): named temp files, both
             renamed, one ``syncfs`` (the least a durable two-file item costs that way);
* unnamed:   the same with unnamed files (``O_TMPFILE``) given their names by ``linkat``;
* spool:     ``Spool.put`` in the default sync mode (unnamed files where the filesystem allows);
* spool, named: ``Spool.put`` made to use named temp files and renames.

Medians over the rounds, and each case's rate as a share of the floor's in the same round.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.scratch import Scratch
from gateway.store import Spool

OUT = Path(__file__).resolve().parents[1] / "out"
PAYLOAD = os.urandom(2048)
META = b'{"partner":"amazon-us","transport":"as2"}' * 9  # about the size of a spool meta file
_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000


def _check(rc: int) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def floor(d: str, n: int) -> None:
    for i in range(n):
        fd = os.open(f"{d}/.tmp-{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.write(fd, PAYLOAD)
        os.fsync(fd)
        os.rename(f"{d}/.tmp-{i}", f"{d}/{i}")
        os.close(fd)


def named(d: str, n: int) -> None:
    d = f"{d}/in"
    os.mkdir(d)
    root = os.open(d, os.O_RDONLY)
    for i in range(n):
        a = os.open(f"{d}/.tmp-{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.write(a, PAYLOAD)
        b = os.open(f"{d}/.tmp-{i}.m", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.write(b, META)
        os.rename(f"{d}/.tmp-{i}.m", f"{d}/{i}.meta.json")
        os.rename(f"{d}/.tmp-{i}", f"{d}/{i}")
        _check(_libc.syncfs(root))
        os.close(a)
        os.close(b)
    os.close(root)


def unnamed(d: str, n: int) -> None:
    d = f"{d}/in"
    os.mkdir(d)
    root = os.open(d, os.O_RDONLY)
    flags = os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC
    for i in range(n):
        a = os.open(d, flags, 0o640)
        os.write(a, PAYLOAD)
        b = os.open(d, flags, 0o640)
        os.write(b, META)
        _check(_libc.linkat(b, b"", AT_FDCWD, f"{d}/{i}.meta.json".encode(), AT_EMPTY_PATH))
        _check(_libc.linkat(a, b"", AT_FDCWD, f"{d}/{i}".encode(), AT_EMPTY_PATH))
        _check(_libc.syncfs(root))
        os.close(a)
        os.close(b)
    os.close(root)


def spool(unnamed_files: bool) -> Callable[[str, int], None]:
    def run(d: str, n: int) -> None:
        sp = Spool(d, sync="auto")
        sp._unnamed = sp._unnamed and unnamed_files
        meta = {"partner": "amazon-us", "transport": "as2", "message_id": "<m@x>", "filename": "po.x12"}
        for _ in range(n):
            sp.put("in", PAYLOAD, meta)
        sp.close()

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--items", type=int, default=300)
    a = ap.parse_args()
    cases: dict[str, Callable[[str, int], None]] = {
        "floor: 1 file, write + fsync + rename": floor,
        "2 files in a subfolder, named + renames, one syncfs": named,
        "2 files in a subfolder, unnamed (O_TMPFILE) + linkat, one syncfs": unnamed,
        "Spool.put (auto)": spool(True),
        "Spool.put (auto), named temp files and renames": spool(False),
    }
    rates: dict[str, list[float]] = {k: [] for k in cases}
    with Scratch("store-probe", base=OUT) as scratch:
        for _ in range(a.rounds):
            for name, fn in cases.items():
                d = scratch.fresh("case")
                t = time.perf_counter()
                fn(str(d), a.items)
                rates[name].append(a.items / (time.perf_counter() - t))
    first = rates[next(iter(cases))]
    print(f"| case ({a.rounds} rounds x {a.items} items) | items/s (median) | share of the floor (median per round) |")
    print("|---|---:|---:|")
    for name, v in rates.items():
        share = statistics.median(x / y for x, y in zip(v, first, strict=True))
        print(f"| {name} | {statistics.median(v):,.0f} | {share:.0%} |")


if __name__ == "__main__":
    main()
