"""The peer: simpleeval interpreting the same 6 rules over the same invoice (run in bench/out/rules-venv)."""

import json
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

import re2
from simpleeval import EvalWithCompoundTypes

RULES = [
    "D(total) == sum(D(l.quantity) * D(l.unit_price) for l in lines) + sum(D(c.amount) for c in charges)"
    " - sum(D(a.amount) for a in allowances)",
    "all(D(l.quantity) <= D(acked(l.line_number)) for l in lines)",
    "today() - days(7) <= date(invoice_date) <= today() + days(2)",
    "all(gtin_ok(l.product_ids.gtin) for l in lines)",
    "matches('^PO-[0-9]{4}-[0-9]{6}$', po_number) and all(l.uom in ('EA', 'CS', 'PK') for l in lines)",
    "all(D(l.quantity) > 0 for l in lines) and 'SKU-0007' in [l.product_ids.vendor_sku for l in lines]",
]


class Obj:
    def __init__(self, d):
        for k, v in d.items():
            object.__setattr__(self, k, freeze(v))


def freeze(v):
    if isinstance(v, dict):
        return Obj(v)
    if isinstance(v, list):
        return tuple(freeze(x) for x in v)
    return v


def gtin_ok(code):
    body, check = code[:-1], int(code[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def main():
    data = json.load(sys.stdin)
    doc, ack = data["doc"], data["ack"]
    now = datetime(2026, 11, 27, 15, tzinfo=ZoneInfo("UTC"))
    tz = ZoneInfo("America/New_York")
    patterns = {}

    def matches(p, s):
        if p not in patterns:
            patterns[p] = re2.compile(p)
        return patterns[p].search(s) is not None

    def check():
        frozen = freeze(doc)
        acks = {ln["line_number"]: sum(Decimal(i["quantity"]) for i in ln["items"]) for ln in ack["lines"]}
        names = {k: getattr(frozen, k) for k in doc}
        ev = EvalWithCompoundTypes(
            names=MappingProxyType(names),
            functions={"D": Decimal, "sum": sum, "all": all, "gtin_ok": gtin_ok, "matches": matches,
                       "days": lambda n: timedelta(days=n), "date": date.fromisoformat,
                       "today": lambda: now.astimezone(tz).date(), "acked": lambda ln: acks.get(ln, 0)})
        return [ev.eval(r) for r in RULES]

    assert all(check()), check()
    n = 300
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            check()
        times.append(time.perf_counter() - t)
    print(n / statistics.median(times))


main()
