"""Rules benchmarks, each beside its peer.

1. Structural validation of the 6 MB X12 850 interchange (2,000 POs x 20 lines, bench/edi/gen.py): MB/s of
   `validate_transaction` over all transactions, on 1 and 2 worker processes; the parse is timed apart.
   Peer: the parser alone (what validation adds on top of reading).
2. The Amazon pack (rules/amazon/vendor.yaml) on a 20-line PO with and without a document index: POs/s.
3. The 6-rule study pack: our compiled engine vs simpleeval interpreting the same 6 rules (installed in
   bench/out/rules-venv; skipped if it cannot be installed).

Run: .venv/bin/python -m bench.rules.bench
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.edi.gen import x12_850
from gateway.edi import parse
from gateway.rules import load_rule_pack, load_spec_for, validate_transaction
from gateway.rules.docindex import InMemoryDocumentIndex

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "bench" / "out"
REPEATS = 5


def median_time(fn, repeats: int = REPEATS) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


_SEGMENTS: list = []


def _init(path: str) -> None:
    global _SEGMENTS
    _SEGMENTS = [t.segments for _, _, t in parse(Path(path).read_bytes()).transactions()]


def _validate_range(bounds: tuple[int, int]) -> int:
    spec = load_spec_for("x12", "004010", "850")
    return sum(len(validate_transaction(s, spec)) for s in _SEGMENTS[bounds[0]:bounds[1]])


def bench_structure() -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    data = x12_850(orders=2000, lines=20)
    path = OUT / "rules_850.edi"
    path.write_bytes(data)
    mb = len(data) / 1e6
    t_parse = median_time(lambda: parse(data), 3)
    result = parse(data)
    txs = [t.segments for _, _, t in result.transactions()]
    spec = load_spec_for("x12", "004010", "850")
    n_find = sum(len(validate_transaction(s, spec)) for s in txs)
    t1 = median_time(lambda: [validate_transaction(s, spec) for s in txs])
    with ProcessPoolExecutor(2, initializer=_init, initargs=(str(path),)) as pool:
        half = len(txs) // 2
        list(pool.map(_validate_range, [(0, half), (half, len(txs))]))  # warm
        t2 = median_time(lambda: list(pool.map(_validate_range, [(0, half), (half, len(txs))])))
    return {"mb": round(mb, 2), "transactions": len(txs), "findings": n_find, "parse_s": t_parse,
            "validate_1proc_s": t1, "validate_2proc_s": t2}


def _po(lines: int = 20) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.rules.docs import purchase_order

    return purchase_order(lines)


def bench_amazon() -> dict:
    from tests.rules.docs import NOW, TZ, acknowledgement

    pack = load_rule_pack(ROOT / "rules" / "amazon" / "vendor.yaml")
    po = _po()
    index = InMemoryDocumentIndex([acknowledgement(po)])
    n = 1000
    assert pack.check(po, index, NOW, TZ) == []
    t_none = median_time(lambda: [pack.check(po, None, NOW, TZ) for _ in range(n)])
    t_index = median_time(lambda: [pack.check(po, index, NOW, TZ) for _ in range(n)])
    return {"rules": len(pack.rules_for("purchase_order")), "po_per_s_no_index": n / t_none,
            "po_per_s_index": n / t_index}


def six_doc() -> dict:
    lines = [{"line_number": str(i), "quantity": str(i), "unit_price": f"{i * 7 % 13 + 0.37:.2f}", "uom": "EA",
              "product_ids": {"gtin": "00012345678905", "vendor_sku": f"SKU-{i:04d}"}} for i in range(1, 21)]
    from decimal import Decimal

    total = sum(Decimal(ln["quantity"]) * Decimal(ln["unit_price"]) for ln in lines) + Decimal("10.00") - Decimal("2.50")
    return {"document": "invoice", "partner": "p", "doc_id": "i1", "invoice_number": "I1", "invoice_date": "2026-11-27",
            "po_number": "PO-2026-000123", "currency": "USD", "lines": lines,
            "charges": [{"code": "F", "amount": "10.00"}], "allowances": [{"code": "D", "amount": "2.50"}],
            "taxes": [], "total": str(total)}


def bench_six() -> dict:
    pack = load_rule_pack(HERE / "six_rules.yaml")
    doc = six_doc()
    ack = {"document": "po_acknowledgement", "partner": "p", "doc_id": "a1", "po_number": doc["po_number"],
           "lines": [{"line_number": ln["line_number"], "items": [{"status": "accepted", "quantity": ln["quantity"]}]}
                     for ln in doc["lines"]]}
    index = InMemoryDocumentIndex([ack])
    now = datetime(2026, 11, 27, 15, tzinfo=UTC)
    assert pack.check(doc, index, now, "America/New_York") == [], pack.check(doc, index, now, "America/New_York")
    n = 1000
    ours = n / median_time(lambda: [pack.check(doc, index, now, "America/New_York") for _ in range(n)])
    peer = run_simpleeval_peer(doc, ack)
    return {"ours_per_s": ours, "simpleeval_per_s": peer}


def run_simpleeval_peer(doc: dict, ack: dict) -> float | None:
    venv = OUT / "rules-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "simpleeval==1.0.8", "google-re2"], check=False)
        if r.returncode:
            return None
    r = subprocess.run([str(py), str(HERE / "peer_simpleeval.py")], input=json.dumps({"doc": doc, "ack": ack}),
                       capture_output=True, text=True, check=False)
    if r.returncode:
        print(r.stderr, file=sys.stderr)
        return None
    return float(r.stdout.strip())


def main() -> None:
    s = bench_structure()
    a = bench_amazon()
    six = bench_six()
    mbps1 = s["mb"] / s["validate_1proc_s"]
    mbps2 = s["mb"] / s["validate_2proc_s"]
    print(f"structure: {s['mb']} MB, {s['transactions']} transactions, {s['findings']} findings")
    print("| what | median | throughput | ratio |")
    print("|---|---|---|---|")
    print(f"| parse only (gateway.edi.parse, peer) | {s['parse_s']:.3f} s | {s['mb'] / s['parse_s']:.1f} MB/s | 1.00 |")
    print(f"| structural validation, 1 process | {s['validate_1proc_s']:.3f} s | {mbps1:.1f} MB/s | "
          f"{s['parse_s'] / s['validate_1proc_s']:.2f} |")
    print(f"| structural validation, 2 processes | {s['validate_2proc_s']:.3f} s | {mbps2:.1f} MB/s | "
          f"{s['parse_s'] / s['validate_2proc_s']:.2f} |")
    print(f"| Amazon pack, PO 20 lines ({a['rules']} rules), no index | | {a['po_per_s_no_index']:.0f} PO/s | |")
    print(f"| Amazon pack, PO 20 lines, in-memory index | | {a['po_per_s_index']:.0f} PO/s | |")
    peer = six["simpleeval_per_s"]
    print(f"| 6-rule study pack, compiled (ours) | | {six['ours_per_s']:.0f} docs/s | "
          f"{six['ours_per_s'] / peer:.1f}x |" if peer else f"| 6-rule pack (ours) | | {six['ours_per_s']:.0f} docs/s | |")
    if peer:
        print(f"| 6-rule study pack, simpleeval interpreted (peer) | | {peer:.0f} docs/s | 1.0x |")


if __name__ == "__main__":
    main()
