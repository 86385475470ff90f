"""Whole-input EDIFACT driver: UNA/UNB after UNA/UNB, one split per set of delimiters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from gateway.edi.edifact_reader import EdifactReader, translated
from gateway.edi.edifact_una import WHITESPACE, default_delimiters, protect, read_una, suffix_after
from gateway.edi.model import Delimiters
from gateway.edi.x12_parse import finish_tail
from gateway.edi.x12_reader import normalize

_UNB_VERSION = re.compile(r"UNB\+UNO[A-Z]:(\d)")


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in WHITESPACE:
        pos += 1
    return pos


def header_delimiters(text: str, pos: int) -> tuple[Delimiters, str | None, int] | tuple[str, str]:
    """Delimiters for the interchange at ``pos`` and where its UNB starts; or (code, message)."""
    una = None
    if text.startswith("UNA", pos):
        d = read_una(text, pos)
        if isinstance(d, str):
            return ("segment_truncated" if len(text) - pos < 9 else "una_malformed"), d
        una = text[pos:pos + 9]
        d = replace(d, suffix=suffix_after(text, pos + 9))
        pos = _skip_ws(text, pos + 9)
    elif text.startswith("UNB", pos):
        m = _UNB_VERSION.match(text, pos)
        d = default_delimiters(m.group(1) if m else "3")
    else:
        return "no_interchange", f"expected UNA or UNB, found {text[pos:pos + 12]!r}"
    if not text.startswith("UNB", pos):
        if len(text) - pos < 3 and "UNB".startswith(text[pos:]):
            return "segment_truncated", "the input ends before the UNB segment"
        return "no_interchange", f"expected UNB, found {text[pos:pos + 12]!r}"
    if una is None:
        end = text.find(d.segment, pos)
        if end >= 0:
            d = replace(d, suffix=suffix_after(text, end + 1))
    return d, una, pos


def unb_segment(raw0: str, d: Delimiters, table: dict[int, str | None] | None) -> list:
    el = normalize(raw0.strip(WHITESPACE).split(d.element), d.component, d.repetition)
    if table is not None:
        el = [translated(v, table) for v in el]
    return el


def read_edifact(text: str, start: int, offset: Callable[[int], int], encoding: str) -> EdifactReader:
    reader = EdifactReader(offset, encoding)
    pos = _skip_ws(text, start)
    seg_base = 0
    while pos < len(text):
        head = header_delimiters(text, pos)
        if isinstance(head[0], str):
            code, message = head
            if reader.interchanges and code == "no_interchange":
                code, message = "data_outside_interchange", f"data after the last interchange: {text[pos:pos + 12]!r}"
            reader.add(code, message, offset=offset(pos), level="interchange")
            return reader
        d, una, pos = head
        body = text[pos:]
        table = None
        if d.release and d.release in body:
            body, table = protect(body, d)
        raw = body.split(d.segment)
        reader.table = table
        reader.set_raw(raw, pos, seg_base)
        last = len(raw) - 1
        if last == 0:
            reader.add("segment_truncated", "the input ends inside the UNB segment", offset=offset(pos))
            return reader
        reader.open_unb(unb_segment(raw[0], d, table), d, una, pos, seg_base)
        reader.set_strip(body)
        j = 1
        while True:
            j = reader.scan(raw, j, last)
            if j >= last:
                finish_tail(reader, raw, last, offset)
                return reader
            nxt = raw[j].lstrip(WHITESPACE)
            if (nxt.startswith("UNB" + d.element) and
                    replace(d, suffix="") == replace(default_delimiters(_version(nxt)), suffix="")):
                reader.open_unb(unb_segment(nxt, d, table), d, None, reader.pos_of(j), seg_base + j)
                j += 1
                continue
            if reader.ic is not None:
                reader.finish(j, "a new interchange starts")
            pos = _skip_ws(text, reader.pos_of(j))
            seg_base += j
            break
    return reader


def _version(unb: str) -> str:
    m = _UNB_VERSION.match(unb)
    return m.group(1) if m else "3"
