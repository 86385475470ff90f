"""Writer process for the SIGKILL test: opens the store, puts items, prints each id once put returned.

Usage: crash_writer.py SPOOL AUDIT INDEX ROUND COUNT SYNC
Every third item is also claimed and moved on to done/, so moves get interrupted too.
"""

from __future__ import annotations

import hashlib
import sys

import structlog

from gateway.store import Store
from gateway.transport.inbox import Received


def payload(round_no: int, i: int) -> bytes:
    seed = hashlib.sha256(f"{round_no}:{i}".encode()).digest()
    return seed * (1 + seed[0] % 96)  # 32 B to 3 KB


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    spool_dir, audit_dir, index_path, round_no, count, sync = sys.argv[1:7]
    store = Store.open(spool_dir, audit_dir, index_path, node="crash", sync=sync)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for i in range(int(count)):
        item_id = store.accept(
            payload(int(round_no), i), Received("p1", "test", message_id=f"{round_no}-{i}")
        )
        out.write(f"{i} {item_id}\n")
        out.flush()
        if i % 3 == 0:
            it = store.spool.claim()
            if it is not None:
                store.move(it.id, "done", "processed")
    store.close()
    out.write("finished\n")
    out.flush()


if __name__ == "__main__":
    main()
