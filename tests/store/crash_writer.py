"""Writer process for the SIGKILL test: opens the store, puts items, prints each id once put returned.

Usage: crash_writer.py SPOOL AUDIT INDEX ROUND COUNT SYNC [THREADS]
Every third item is also claimed and moved on to done/, so moves get interrupted too. With THREADS > 1,
that many threads accept at once (item numbers interleave), so group-commit rounds get interrupted.
"""

from __future__ import annotations

import hashlib
import sys
import threading

import structlog

from gateway.store import Store
from gateway.transport.inbox import Received


def payload(round_no: int, i: int) -> bytes:
    seed = hashlib.sha256(f"{round_no}:{i}".encode()).digest()
    return seed * (1 + seed[0] % 96)  # 32 B to 3 KB


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    spool_dir, audit_dir, index_path, round_no, count, sync = sys.argv[1:7]
    threads = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    store = Store.open(spool_dir, audit_dir, index_path, node="crash", sync=sync)
    out, out_lock = sys.stdout, threading.Lock()

    def writer(first: int) -> None:
        for i in range(first, int(count), threads):
            item_id = store.accept(
                payload(int(round_no), i), Received("p1", "test", message_id=f"{round_no}-{i}")
            )
            with out_lock:
                out.write(f"{i} {item_id}\n")
                out.flush()
            if i % 3 == 0:
                it = store.spool.claim()
                if it is not None:
                    store.move(it.id, "done", "processed")

    out.write("ready\n")
    out.flush()
    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    out.write("finished\n")
    out.flush()


if __name__ == "__main__":
    main()
