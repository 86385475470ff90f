"""End-to-end pipeline benchmark: 850 files in the spool -> JSON POSTed to a local HTTP sink.

    .venv/bin/python -m bench.pipeline.bench [--files 1000] [--rounds 3]

One gatewayd (the real daemon, fsync on) and one sink process (bench/pipeline/sink.py) on this
machine's 2 cores. Each round: the files are put into ``in/`` with the daemon stopped, the daemon is
started, and the clock runs from READY=1 to the sink holding every document. Two shapes: one PO per
file, and ten POs per file (one interchange each).

The peer, run side by side in each round: a floor script doing only what cannot be avoided for the
same documents: one durable write (write, fsync, rename, fsync folder) of each JSON body and one
keep-alive HTTP POST of it to the same sink. Where the gateway's time goes comes from its
``acorn_pipeline_seconds_total`` metric (parse, validate, map, rules, store) and the ``delivered`` log
lines (HTTP seconds). Writes bench/pipeline/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.scratch import Scratch
from gateway.edi import parse
from gateway.mapping import load_partner_mapping
from gateway.store import Store
from gateway.transport.inbox import Received
from tests.pipeline.fixtures import interchange, po_850
from tests.pipeline.harness import Daemon, make_tree

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "pipeline"
NOTES = "<!-- analysis below is kept when the tables are regenerated -->"
PHASES = ("claim", "item", "parse", "validate", "map", "rules", "store")


def start_sink() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.pipeline.sink"], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def sink_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as resp:
        return int(json.loads(resp.read())["keys"])


def payloads(files: int, per_file: int, tag: str) -> list[bytes]:
    return [interchange(*[po_850(f"{tag}{f:05d}-{i}", lines=3, control=i + 1) for i in range(per_file)],
                        control=f + 1) for f in range(files)]


# -- the floor ----------------------------------------------------------------------------------------
def sample_bodies(count: int) -> list[bytes]:
    """The JSON bodies the gateway sends, made once by the real mapping (not timed)."""
    mapping = load_partner_mapping("amazon/850-purchase_order", ROOT / "mappings", "amazon-us")
    t = parse(interchange(po_850("FLOOR00000-0", lines=3))).interchanges[0].groups[0].transactions[0]
    doc, _ = mapping.to_canonical(t, partner_id="amazon-us", partner_tz="America/New_York", source={})
    body = json.dumps(doc, separators=(",", ":"))
    return [body.replace("FLOOR00000-0", f"FLOOR{i:05d}-0").encode() for i in range(count)]


def floor(port: int, bodies: list[bytes], where: Path) -> float:
    where.mkdir(parents=True, exist_ok=True)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    dfd = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
    t0 = time.perf_counter()
    for i, body in enumerate(bodies):
        tmp, final = where / f".tmp-{i}", where / f"{i}.json"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.write(fd, body)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, final)
        os.fsync(dfd)
        conn.request("POST", "/edi", body, {"content-type": "application/json", "idempotency-key": f"f{i}"})
        conn.getresponse().read()
    elapsed = time.perf_counter() - t0
    os.close(dfd)
    conn.close()
    return len(bodies) / elapsed


# -- the gateway --------------------------------------------------------------------------------------
def phase_seconds(metrics_text: str) -> dict[str, float]:
    out = {}
    for phase in PHASES:
        m = re.search(rf'acorn_pipeline_seconds_total{{phase="{phase}"}} ([0-9.e+-]+)', metrics_text)
        out[phase] = float(m.group(1)) if m else 0.0
    return out


def gateway(port: int, files: list[bytes], docs: int, where: Path) -> dict[str, Any]:
    """Drop ``files`` into the running daemon's ``in/`` and time them to the sink.

    The items are made beforehand in a staging spool on the same filesystem (payload, meta, audit),
    then moved into ``in/`` by rename, meta first, as fast as the filesystem allows: the clock starts
    at the first rename, with the daemon and its pipeline worker already up (their start-up, about
    0.5 s for the worker, is not part of the rate).
    """
    tree = make_tree(where, f"http://127.0.0.1:{port}/edi")
    staging = where / "staging"
    store = Store.open(str(staging), str(staging / "audit"), str(staging / "index.sqlite"), node="bench")
    for payload in files:
        store.accept(payload, Received(partner="amazon-us", transport="bench"))
    store.close()
    before = sink_count(port)
    daemon = Daemon(tree, where)
    try:
        daemon.start()
        ready = time.perf_counter() + 30
        while not any(e.get("event") == "pipeline_worker_started" for e in daemon.events()):
            if time.perf_counter() > ready:
                raise RuntimeError("the pipeline worker did not start within 30 s")
            time.sleep(0.05)
        inbox = where / "spool" / "in"
        t0 = time.perf_counter()
        for name in sorted(n for n in os.listdir(staging / "in") if n.endswith(".meta.json")):
            os.rename(staging / "in" / name, inbox / name)
            os.rename(staging / "in" / name[: -len(".meta.json")], inbox / name[: -len(".meta.json")])
        dfd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        deadline = t0 + 600
        while sink_count(port) - before < docs:
            if time.perf_counter() > deadline:
                raise RuntimeError("the gateway did not deliver every document within 10 minutes")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.api_port()}/metrics", timeout=10) as resp:
            phases = phase_seconds(resp.read().decode())
        assert daemon.stop() == 0
    finally:
        daemon.close()
    http_s = sum(e.get("seconds", 0.0) for e in daemon.events() if e["event"] == "delivered")
    return {"docs_per_s": docs / elapsed, "wall": elapsed, "http": http_s, **phases}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with Scratch("pipeline") as scratch:
        floors, results = run(args, scratch)
    write_results(args, floors, results)


def run(args: argparse.Namespace, scratch: Scratch) -> tuple[list[float], dict[str, list[dict[str, Any]]]]:
    sink, port = start_sink()
    shapes = {"1 PO per file": (args.files, 1), "10 POs per file": (args.files // 10, 10)}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in shapes}
    floors: list[float] = []
    try:
        bodies = sample_bodies(args.files)
        for r in range(args.rounds):
            floors.append(floor(port, bodies, scratch.fresh("floor")))
            for name, (nfiles, per) in shapes.items():
                res = gateway(port, payloads(nfiles, per, f"R{r}S{per}-"), nfiles * per, scratch.fresh("gateway"))
                res["ratio"] = res["docs_per_s"] / floors[-1]
                results[name].append(res)
                print(f"round {r + 1}: {name}: {res['docs_per_s']:.0f} docs/s (floor {floors[-1]:.0f}/s, "
                      f"{res['ratio']:.0%}); " + ", ".join(f"{k} {res[k]:.2f}s" for k in (*PHASES, "http", "wall")),
                      flush=True)
    finally:
        sink.terminate()
        sink.wait()
    return floors, results


def write_results(args: argparse.Namespace, floors: list[float], results: dict[str, list[dict[str, Any]]]) -> None:
    med = statistics.median
    lines = ["# Pipeline benchmark: 850 files in the spool -> JSON at a local HTTP sink", "",
             "Command (from the repository root; two to four minutes, writes only under `bench/out/pipeline/`):", "",
             f"    .venv/bin/python -m bench.pipeline.bench --files {args.files} --rounds {args.rounds}", "",
             "One real gatewayd (spool, index and audit trail all fsynced) and one sink process on the same 2 cores,"
             " shared with other jobs. Clock: from dropping the files into in/ of the running daemon (renames) to the sink holding every document. Floor: one durable write"
             " (write, fsync, rename, fsync folder) plus one keep-alive HTTP POST per document, sequential,"
             " same bodies, same sink. Medians of the rounds; ratio = median of per-round ratios.", "",
             "| case | documents/s (median) | min..max | ratio to floor |", "|---|---:|---:|---:|",
             f"| floor (durable write + POST) | {med(floors):,.0f} | {min(floors):,.0f}..{max(floors):,.0f} | 100% |"]
    for name, runs in results.items():
        rates = [r["docs_per_s"] for r in runs]
        lines.append(f"| gatewayd, {name} | {med(rates):,.0f} | {min(rates):,.0f}..{max(rates):,.0f} | "
                     f"{med(r['ratio'] for r in runs):.0%} |")
    lines += ["", "Where the time goes (median seconds per round; pipeline phases are the worker thread's time,"
              " `http` is the sum of POST round trips over 4 concurrent deliveries, `wall` the elapsed time):", "",
              "| case | docs | claim | item (all) | parse | validate | map | rules | queue docs+move | http | wall |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, runs in results.items():
        docs = args.files if name.startswith("1 ") else (args.files // 10) * 10
        cells = " | ".join(f"{med(r[k] for r in runs):.2f}" for k in (*PHASES, "http", "wall"))
        lines.append(f"| {name} | {docs} | {cells} |")
    path = ROOT / "bench" / "pipeline" / "RESULTS.md"
    notes = path.read_text().split(NOTES, 1)[1] if path.exists() and NOTES in path.read_text() else "\n"
    path.write_text("\n".join(lines) + "\n\n" + NOTES + notes)


if __name__ == "__main__":
    main()
