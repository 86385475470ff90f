"""Small interchanges the tests build themselves (the corpus is not there on a fresh clone)."""

from __future__ import annotations

ISA_4010 = ("ISA*00*          *00*          *ZZ*AMAZON         *ZZ*ACMEVENDOR     *260115*1200*U*00401*"
            "{ctl:09d}*0*P*>")
ISA_5010 = ("ISA*00*          *00*          *ZZ*AMAZON         *ZZ*ACMEVENDOR     *260115*1200*^*00501*"
            "{ctl:09d}*0*T*:")


def po(n: int, lines: int = 2) -> list[str]:
    segs = [f"ST*850*{n:04d}", f"BEG*00*SA*PO{n}**20260115", "N1*ST*FULFILLMENT CENTER*92*SEA8"]
    for k in range(1, lines + 1):
        segs.append(f"PO1*{k}*{k * 3}*EA*9.99**UP*01234567890{k}")
    segs.append(f"CTT*{lines}")
    segs.append(f"SE*{len(segs) + 1}*{n:04d}")
    return segs


def x12(pos: int = 2, ctl: int = 1, term: str = "~", sep: str = "\n", isa: str = ISA_4010,
        gs_version: str = "004010") -> bytes:
    segs = [isa.format(ctl=ctl), f"GS*PO*AMAZON*ACMEVENDOR*20260115*1200*{ctl}*X*{gs_version}"]
    for n in range(1, pos + 1):
        segs += po(n)
    segs += [f"GE*{pos}*{ctl}", f"IEA*1*{ctl:09d}"]
    return (term + sep).join(segs).encode() + (term + sep).encode()


def edifact(una: bool = True, messages: int = 2, syntax: str = "UNOA:3", ctl: str = "42",
            text: str = "Deliver to dock 4?: ring?'s bell??") -> bytes:
    segs = [f"UNB+{syntax}+5412345000013:14+4012345000009:14+260115:1200+{ctl}"]
    for n in range(1, messages + 1):
        body = [f"UNH+{n}+ORDERS:D:96A:UN:EAN008", f"BGM+220+PO{n}+9", "DTM+137:20260115:102",
                f"FTX+DEL+++{text}", "LIN+1++4006381333931:EN", "QTY+21:12"]
        body.append(f"UNT+{len(body) + 1}+{n}")
        segs += body
    segs.append(f"UNZ+{messages}+{ctl}")
    head = "UNA:+.? '\n" if una else ""
    return (head + "'\n".join(segs) + "'\n").encode("utf-8" if "UNOY" in syntax else "latin-1")
