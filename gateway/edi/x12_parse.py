"""Whole-input X12 driver: ISA after ISA, splitting the text once per set of delimiters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.edi.x12_isa import IsaHeader, read_isa
from gateway.edi.x12_reader import WHITESPACE, X12Reader

STEP = 1 << 20  # characters per str.split call for big inputs


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in WHITESPACE:
        pos += 1
    return pos


def split_stepwise(text: str, sep: str, step: int = STEP) -> list[str]:
    """``text.split(sep)``, done ``step`` characters at a time so that no single C call spans a whole
    big input (a 50 MB interchange split in one call holds the GIL for about a tenth of a second;
    between steps other threads, such as the reactor, get their turn). Same result."""
    if len(text) <= step:
        return text.split(sep)
    out: list[str] = []
    i, n = 0, len(text)
    while i + step < n:
        k = text.find(sep, i + step)
        if k < 0:
            break
        out.extend(text[i:k].split(sep))
        i = k + len(sep)
    out.extend(text[i:].split(sep))
    return out


def _same(a: IsaHeader, b: IsaHeader) -> bool:
    return a.delimiters == b.delimiters


def read_x12(text: str, start: int, offset: Callable[[int], int], encoding: str) -> X12Reader:
    reader = _read_x12(text, start, offset, encoding)
    drop_stepwise(reader.raw)  # a big input's segment strings, freed a step at a time
    return reader


def drop_stepwise(items: list[Any], step: int = 1 << 14) -> None:
    """Empty ``items`` from the end, ``step`` at a time: freeing millions of objects in one ``del``
    is one long C call (a 50 MB parse's strings take tens of milliseconds)."""
    while items:
        del items[-step:]


def _read_x12(text: str, start: int, offset: Callable[[int], int], encoding: str) -> X12Reader:
    reader = X12Reader(offset, encoding)
    pos = _skip_ws(text, start)
    seg_base = 0
    while pos < len(text):
        isa = read_isa(text, pos)
        if not isinstance(isa, IsaHeader):
            code, message = isa
            if reader.interchanges and code == "no_interchange":
                code = "data_outside_interchange"
                message = f"data after the last interchange: {text[pos:pos + 12]!r}"
            reader.add(code, message, offset=offset(pos), level="interchange")
            return reader
        t = isa.delimiters.segment
        body = text[pos:]
        raw = split_stepwise(body, t)
        reader.set_raw(raw, pos, seg_base)
        reader.open(isa, pos, seg_base)
        reader.set_strip(body)
        j = 1
        last = len(raw) - 1  # raw[last] is what follows the final terminator
        while True:
            j = reader.scan(raw, j, last)
            if j >= last:
                finish_tail(reader, raw, last, offset)
                return reader
            nxt = raw[j].lstrip(WHITESPACE)
            if nxt.startswith("ISA"):
                again = read_isa(nxt + t, 0)
                if isinstance(again, IsaHeader) and _same(again, isa) and again.length == len(nxt) + 1:
                    reader.open(again, reader.pos_of(j), seg_base + j)
                    j += 1
                    continue
            if reader.ic is not None:  # stopped before an ISA while an interchange was open
                reader.finish(j, "a new ISA segment starts")
            pos = _skip_ws(text, reader.pos_of(j))
            seg_base += j
            break
    return reader


def finish_tail(reader: X12Reader, raw: list[str], last: int, offset: Callable[[int], int]) -> None:
    """End of input. A final segment without its terminator is read (with a warning) when it is the
    interchange trailer; anything else left open is reported as truncated."""
    tail = raw[last].strip(WHITESPACE)
    if tail and reader.ic is not None:
        ic, before = reader.ic, len(reader.findings)
        if tail.startswith(("IEA", "UNZ")):
            reader.scan(raw, last, last + 1)
        clean = not any(f.severity == "error" for f in reader.findings[before:])
        trailer = ic.trailer or []
        ref = trailer[2] if len(trailer) > 2 and isinstance(trailer[2], str) else ""
        cut = len(trailer) < 3 or (ref != ic.control_number and ic.control_number.startswith(ref))
        if reader.ic is None and ic.trailer is not None and (clean or not cut):
            reader.add("segment_terminator_missing", f"the final segment {tail[:12]!r} has no terminator",
                       severity="warning", level="interchange", offset=offset(reader.pos_of(last)))
            return
        reader.finish(last, "the input ends inside a segment")
        reader.add("segment_truncated", f"the input ends inside segment {tail[:12]!r}",
                   offset=offset(reader.pos_of(last)))
    elif tail:
        reader.add("data_outside_interchange", f"data after the last interchange: {tail[:12]!r}",
                   offset=offset(reader.pos_of(last)))
    else:
        reader.finish(last, "the input ends")
