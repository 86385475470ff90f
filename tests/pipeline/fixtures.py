"""X12 850 interchanges made by the tests themselves (Amazon's layout)."""

from __future__ import annotations


def po_850(po: str, lines: int = 3, control: int = 101, *, bad_qty: bool = False, sender: str = "AMAZON") -> str:
    segs = [f"ST*850*{control:04d}", f"BEG*00*NE*{po}**20261127", "REF*CR*ACME1", "CSH*Y", "DTM*064*20261201",
            "DTM*063*20261208", "N1*ST**92*ABE2"]
    for i in range(1, lines + 1):
        qty = "X" if bad_qty and i == 2 else str(i * 2)
        segs.append(f"PO1*{i}*{qty}*EA*{i}.99*PE*UP*{i:011d}*BP*B{i:09d}")
    segs.append(f"CTT*{lines}*{sum(i * 2 for i in range(1, lines + 1))}")
    segs.append(f"SE*{len(segs) + 1}*{control:04d}")
    return "~".join(segs) + "~"


def interchange(*transactions: str, control: int = 101, sender: str = "AMAZON") -> bytes:
    isa = (f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*ACMEVENDOR     *261127*1200*U*00401*"
           f"{control:09d}*0*P*>~")
    gs = f"GS*PO*{sender}*ACMEVENDOR*20261127*1200*{control}*X*004010~"
    return (isa + gs + "".join(transactions) + f"GE*{len(transactions)}*{control}~IEA*1*{control:09d}~").encode()
