"""Realistic benchmark inputs: an X12 4010 850 interchange and an EDIFACT D96A ORDERS interchange.

Deterministic (seeded). ``python -m bench.edi.gen OUTDIR [--orders N] [--lines N]`` writes
``x12_850.edi`` and ``edifact_orders.edi``; ``x12_big`` writes a large multi-megabyte X12 file in pieces.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

WORDS = ["WIDGET", "BLUE", "GADGET", "LARGE", "STEEL", "PACK", "CASE", "SMALL", "RED", "COTTON"]


def _x12_po(rng: random.Random, n: int, lines: int) -> list[str]:
    po = f"PO{n:08d}"
    segs = [
        f"ST*850*{n:04d}",
        f"BEG*00*SA*{po}**20260115",
        "CUR*BY*USD",
        f"REF*IA*{rng.randint(10000, 99999)}",
        "PER*BD*JANE BUYER*TE*2065550100",
        "FOB*PP*ZZ*DESTINATION",
        "ITD*01*3*2**30**60",
        "DTM*064*20260201",
        "DTM*063*20260215",
        "TD5*B*2*UPSN*M*UPS GROUND",
        "N9*ZZ*NOTES",
        "MSG*HANDLE WITH CARE - DELIVER TO DOCK 4",
    ]
    for code, name in (("ST", "FULFILLMENT CENTER SEA8"), ("BT", "AMAZON.COM"), ("VN", "ACME SUPPLY CO")):
        segs += [f"N1*{code}*{name}*92*{rng.randint(1000, 9999)}", "N3*1200 INDUSTRIAL WAY*SUITE 100",
                 "N4*SEATTLE*WA*98108*US"]
    for k in range(1, lines + 1):
        qty = rng.randint(1, 500)
        price = f"{rng.randint(100, 99999) / 100:.2f}"
        upc = f"{rng.randint(10**11, 10**12 - 1)}"
        segs += [
            f"PO1*{k}*{qty}*EA*{price}*PE*UP*{upc}*VN*SKU-{rng.randint(1000, 99999)}*BP*B0{rng.randint(10**7, 10**8 - 1)}",
            f"CTP**RES*{price}",
            f"PID*F****{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(WORDS)}",
            f"PO4*{rng.randint(1, 24)}*1*EA",
        ]
    segs.append(f"CTT*{lines}")
    segs.append(f"SE*{len(segs) + 1}*{n:04d}")
    return segs


def x12_850(orders: int = 2000, lines: int = 20, seed: int = 850, control: int = 1) -> bytes:
    rng = random.Random(seed)
    out = [f"ISA*00*          *00*          *ZZ*AMAZON         *ZZ*ACMEVENDOR     *260115*1200*U*00401*"
           f"{control:09d}*0*P*>",
           f"GS*PO*AMAZON*ACMEVENDOR*20260115*1200*{control}*X*004010"]
    for n in range(1, orders + 1):
        out += _x12_po(rng, n, lines)
    out += [f"GE*{orders}*{control}", f"IEA*1*{control:09d}"]
    return ("~\n".join(out) + "~\n").encode("ascii")


def _edifact_order(rng: random.Random, n: int, lines: int) -> list[str]:
    segs = [
        f"UNH+{n}+ORDERS:D:96A:UN:EAN008",
        f"BGM+220+PO{n:08d}+9",
        "DTM+137:20260115:102",
        "DTM+2:20260201:102",
        "FTX+DEL+++Deliver to dock 4?: ring bell?+wait 10 min+call 555?'0100",
        "RFF+CT:AMZ-2026-01",
        "NAD+BY+5412345000013::9++AMAZON EU SARL+38 Avenue John F. Kennedy+Luxembourg++1855+LU",
        "CTA+OC+:JANE BUYER",
        "COM+352264000:TE",
        "NAD+SU+4012345000009::9++ACME SUPPLY GMBH+Industriestrasse 5+Berlin++10115+DE",
        "NAD+DP+5412345000020::9",
        "CUX+2:EUR:9",
    ]
    for k in range(1, lines + 1):
        segs += [
            f"LIN+{k}++{rng.randint(10**12, 10**13 - 1)}:EN",
            f"PIA+1+SKU{rng.randint(1000, 99999)}:SA",
            f"IMD+F++:::{rng.choice(WORDS)} {rng.choice(WORDS)}",
            f"QTY+21:{rng.randint(1, 500)}",
            f"PRI+AAA:{rng.randint(100, 99999) / 100:.2f}",
        ]
    segs += ["UNS+S", f"CNT+2:{lines}"]
    segs.append(f"UNT+{len(segs) + 1}+{n}")
    return segs


def edifact_orders(orders: int = 2000, lines: int = 20, seed: int = 96, control: int = 1) -> bytes:
    rng = random.Random(seed)
    out = [f"UNB+UNOA:2+5412345000013:14+4012345000009:14+260115:1200+{control}"]
    for n in range(1, orders + 1):
        out += _edifact_order(rng, n, lines)
    out.append(f"UNZ+{orders}+{control}")
    return ("UNA:+.? '\n" + "'\n".join(out) + "'\n").encode("ascii")


def x12_big_chunks(target_bytes: int, seed: int = 200) -> Iterator[bytes]:
    """One interchange of about ``target_bytes``: header, many 850s, trailer (written piecewise)."""
    rng = random.Random(seed)
    yield (b"ISA*00*          *00*          *ZZ*AMAZON         *ZZ*ACMEVENDOR     *260115*1200*U*00401*"
           b"000000001*0*P*>~\nGS*PO*AMAZON*ACMEVENDOR*20260115*1200*1*X*004010~\n")
    size, n = 0, 0
    while size < target_bytes:
        n += 1
        piece = ("~\n".join(_x12_po(rng, n, 20)) + "~\n").encode("ascii")
        size += len(piece)
        yield piece
    yield f"GE*{n}*1~\nIEA*1*000000001~\n".encode("ascii")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--lines", type=int, default=20)
    a = ap.parse_args()
    a.outdir.mkdir(parents=True, exist_ok=True)
    (a.outdir / "x12_850.edi").write_bytes(x12_850(a.orders, a.lines))
    (a.outdir / "edifact_orders.edi").write_bytes(edifact_orders(a.orders, a.lines))


if __name__ == "__main__":
    main()
