"""The pipeline worker: a process of its own that translates the items the daemon hands it.

Inside the daemon the pipeline shared one interpreter lock with the listeners, the HTTP deliveries
and their bookkeeping, so the whole daemon used one core, a quarter of it switching threads. In its
own process the pipeline gets the second core. ``PipelineService`` (process mode) starts it as
``python -m gateway.pipeline.worker --config PATH`` and talks to it in JSON lines:

* worker -> daemon, on descriptor 3: ``{"hello": token, "pid": n}`` once (the random part of every
  spool id the worker makes); ``{"want": n}`` when it can take up to ``n`` more items (it asks for the
  next batch as soon as it starts one, so the daemon lists ``in/`` meanwhile); after each batch
  ``{"batch": [...], "take": [ids], "watermark": id}``: one entry per item processed (its outcome,
  document counts, phase seconds), the ids it had been handed (all settled now: processed, left in
  ``in/`` when the batch had no room, or gone), and the newest id the worker had made when the batch's
  round ended; ``{"durable": id}``
  after every round within a batch (a big interchange commits in several). The daemon lists none of
  the worker's new items that sort after the newest such watermark (``Spool.hide_other``): they may not
  be durable yet.
* daemon -> worker, on standard input: ``{"take": [ids]}`` (items in ``in/``, listed by the daemon,
  which knows which of its own arrivals are durable), ``{"take": []}`` (nothing now: make the last
  moves durable and wait), ``{"stop": true}`` or end of input: finish the batch and exit 0.

The worker opens the store without the spool lock (the daemon holds it and recovered the spool at its
start; the audit trail and the index are safe across processes). It dies with the daemon (Linux
``PR_SET_PDEATHSIG``), so a killed daemon never leaves it writing into the spool of the next one.
Logs go to the daemon's standard output, one JSON line each, with ``process: pipeline-worker``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

import structlog

PR_SET_PDEATHSIG = 1
log = structlog.get_logger("gateway.pipeline.worker")


def die_with_parent(parent: int) -> None:
    """Be killed when the daemon dies (Linux); exit at once if it is already gone."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (AttributeError, OSError):
        pass
    if os.getppid() != parent:
        os._exit(1)


class Worker:
    def __init__(self, store: Any, config: Any, out: IO[str]) -> None:
        from gateway.pipeline.inbound import InboundProcessor

        self.store = store
        self.processor = InboundProcessor(store, config)
        self.out = out

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
        self.out.flush()

    def claimed(self, pending: list[str]) -> Iterator[str]:
        """Claim the handed items one at a time, as the processor asks for them (``in/`` -> ``work/``);
        an id already gone (taken by a replay) is skipped."""
        while pending:
            item = self.store.spool.take("in", "work", pending)
            if item is None:
                return
            yield item.id

    def batch(self, ids: list[str]) -> list[dict[str, Any]]:
        """Process the handed items (those the batch has no room for stay in ``in/``); a report per item."""
        from gateway.pipeline.service import item_report, park

        t0 = time.perf_counter()
        outcomes = self.processor.process_many(self.claimed(list(ids)))
        share = (time.perf_counter() - t0) / max(1, len(outcomes))
        reports = []
        for item_id, result in outcomes:
            if isinstance(result, Exception):
                park(self.store, item_id, result, only_in_work=True)
            reports.append({**item_report(item_id, result), "seconds": share})
        return reports

    def run(self, inp: IO[str]) -> None:
        from gateway.store import ids

        self.send({"hello": ids.process_token(), "pid": os.getpid()})
        # a big item commits in several rounds: its first documents may leave before it is done
        self.store.after_commit = lambda: self.send({"durable": ids.last_issued()})
        self.send({"want": 32})
        while True:
            line = inp.readline()
            if not line:
                return
            msg = json.loads(line)
            if msg.get("stop"):
                return
            take = [str(i) for i in msg.get("take", [])]
            if not take:  # idle: the last moves to done/ become durable now, not with the next batch
                self.store.spool.group_commit.flush()
                self.send({"want": 32})
                continue
            self.send({"want": 32})  # the daemon lists the next items while this batch is processed
            reports = self.batch(take)
            self.send({"batch": reports, "take": take, "watermark": ids.last_issued()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gateway.pipeline.worker")
    ap.add_argument("--config", required=True)
    ap.add_argument("--log-format", default="json", choices=("json", "console"))
    ap.add_argument("--parent", type=int, default=os.getppid())
    ap.add_argument("--checksum", default="", help="the checksum of the configuration the daemon runs")
    args = ap.parse_args(argv)
    die_with_parent(args.parent)
    for sig in (signal.SIGINT, signal.SIGTERM):  # the daemon decides when the worker stops (its stop message)
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    from gateway.config import EX_CONFIG, ConfigError, load_config
    from gateway.service import logging as gwlog
    from gateway.store import Store

    gwlog.configure(args.log_format, "info")
    structlog.contextvars.bind_contextvars(process="pipeline-worker")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        # The daemon runs the configuration it loaded last; the file on disk is now broken (an edit in
        # progress, say). Say where, once, and let the daemon alert and try again later.
        log.error("pipeline_worker_config_invalid", config=args.config,
                  problems=[str(p) for p in exc.problems][:20])
        return EX_CONFIG
    gwlog.configure(args.log_format, config.log_level)
    if args.checksum and config.checksum != args.checksum:
        log.warning("pipeline_worker_config_differs", config=args.config,
                    note="the configuration on disk is not the one the daemon runs: the worker runs the one "
                         "on disk; `systemctl reload` the daemon to run the same")
    store = Store.attach(str(config.paths.spool), str(config.paths.audit), str(config.paths.index),
                         node=config.node, sync=config.store_sync)
    out = os.fdopen(3, "w", buffering=1)
    log.info("pipeline_worker_started", pid=os.getpid(), checksum=config.checksum[:12])
    try:
        Worker(store, config, out).run(sys.stdin)
    finally:
        try:
            store.spool.group_commit.flush()
        finally:
            store.close()
    log.info("pipeline_worker_stopped", pid=os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
