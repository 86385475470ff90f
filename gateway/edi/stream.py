"""Incremental reading: one transaction at a time from a file or byte stream, in bounded memory.

The same readers as ``parse`` run over chunks; a transaction is handed out when its trailer is read and
then dropped, so memory holds one chunk and one transaction. Envelope findings (counts, control numbers)
are checked exactly as ``parse`` checks them and collect in ``TransactionReader.findings``.
"""

from __future__ import annotations

import codecs
import gc
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gateway.edi.codes import finding
from gateway.edi.edifact_parse import header_delimiters, unb_segment
from gateway.edi.edifact_reader import EdifactReader
from gateway.edi.edifact_una import protect, syntax_id
from gateway.edi.findings import Finding
from gateway.edi.model import Group, Interchange, Transaction
from gateway.edi.text import BOM, EBCDIC_ISA, EDIFACT_CHARSETS, LEADING_WS
from gateway.edi.x12_isa import IsaHeader, read_isa
from gateway.edi.x12_parse import finish_tail
from gateway.edi.x12_reader import WHITESPACE, X12Reader

CHUNK = 1 << 20
MAX_SEGMENT = 4 << 20  # no real segment comes near this; beyond it the separators are wrong


@dataclass(slots=True)
class StreamedTransaction:
    interchange: Interchange  # envelope only: its groups hold no transactions
    group: Group
    transaction: Transaction
    findings: list[Finding] = field(default_factory=list)  # this transaction's own findings
    interchange_index: int = 0
    group_index: int = 0
    transaction_index: int = 0


class _Decoder:
    """Bytes to text chunk by chunk; UTF-8 that turns out not to be falls back to Latin-1."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.dec = codecs.getincrementaldecoder(encoding)()

    def __call__(self, data: bytes, final: bool = False) -> str:
        try:
            return self.dec.decode(data, final)
        except UnicodeDecodeError:
            pending = self.dec.getstate()[0] if self.encoding == "utf-8" else b""
            self.encoding = "latin-1"
            self.dec = codecs.getincrementaldecoder("latin-1")()
            return self.dec.decode(pending + data, final)


class TransactionReader:
    """Iterate to get ``StreamedTransaction`` items; ``findings`` and ``ok`` are complete at the end."""

    def __init__(self, source: str | Path | BinaryIO | bytes, chunk_size: int = CHUNK):
        self.source = source
        self.chunk_size = chunk_size
        self.findings: list[Finding] = []
        self.standard: str | None = None
        self.interchanges: list[Interchange] = []

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def __iter__(self) -> Iterator[StreamedTransaction]:
        src = self.source
        if isinstance(src, (str, Path)):
            with open(src, "rb") as fh:
                yield from self._run(fh)
        elif isinstance(src, (bytes, bytearray, memoryview)):
            yield from self._run(io.BytesIO(bytes(src)))
        else:
            yield from self._run(src)

    def _run(self, fh: BinaryIO) -> Iterator[StreamedTransaction]:
        enabled = gc.isenabled()
        gc.disable()
        try:
            yield from self._read(fh)
        finally:
            if enabled:
                gc.enable()

    def _read(self, fh: BinaryIO) -> Iterator[StreamedTransaction]:
        first = fh.read(self.chunk_size)
        start = 3 if first.startswith(BOM) else 0
        while start < len(first) and first[start] in LEADING_WS:
            start += 1
        head = first[start:start + 4]
        if head[:3] == b"ISA":
            self.standard, encoding = "x12", "utf-8"
        elif head.startswith(EBCDIC_ISA):
            self.standard, encoding = "x12", "cp037"
        elif head[:3] in (b"UNA", b"UNB"):
            self.standard = "edifact"
            encoding = EDIFACT_CHARSETS.get(syntax_id(first[start:]), "latin-1")
            encoding = "utf-8" if encoding == "ascii" else encoding
        else:
            self.findings.append(finding("no_interchange", f"no ISA, UNA or UNB at the start: {head!r}",
                                         offset=start))
            return
        decode = _Decoder(encoding)
        base = start

        def offset(i: int) -> int:
            return base + i

        queue: list[StreamedTransaction] = []
        reader: X12Reader = X12Reader(offset, encoding, keep=False) if self.standard == "x12" else \
            EdifactReader(offset, encoding, keep=False)
        self.findings = reader.findings
        self.interchanges = reader.interchanges
        mark = [0]

        def sink(ic: Interchange, grp: Group, txn: Transaction) -> None:
            mine = [f for f in reader.findings[mark[0]:] if f.transaction is not None]
            mark[0] = len(reader.findings)
            queue.append(StreamedTransaction(ic, grp, txn, mine, reader.ic_i, reader.grp_i, reader.txn_i))

        reader.sink = sink
        state: dict[str, Any] = {"buf": decode(first[start:]), "eof": False, "consumed": 0, "seg_base": 0}

        def more() -> bool:
            if state["eof"]:
                return False
            data = fh.read(self.chunk_size)
            if not data:
                state["eof"] = True
                state["buf"] += decode(b"", True)
                return False
            state["buf"] += decode(data)
            return True

        while True:
            buf = state["buf"]
            lead = len(buf) - len(buf.lstrip(WHITESPACE))
            state["buf"], state["consumed"] = buf[lead:], state["consumed"] + lead
            while len(state["buf"]) < 600 and more():
                pass
            if not state["buf"].strip(WHITESPACE):
                reader.finish(0, "the input ends")
                break
            if not self._open(reader, state, more):
                break
            yield from self._segments(reader, state, more, queue)
            if reader.ic is not None or not state["buf"].strip(WHITESPACE):
                break

    def _open(self, reader: X12Reader, state: dict, more) -> bool:  # type: ignore[no-untyped-def]
        buf, pos = state["buf"], state["consumed"]
        if self.standard == "x12":
            isa = read_isa(buf, 0)
            if not isinstance(isa, IsaHeader):
                code, msg = isa
                if reader.interchanges and code == "no_interchange":
                    code, msg = "data_outside_interchange", "data after the last interchange"
                reader.add(code, msg, offset=reader.byte_offset(pos), level="interchange")
                return False
            reader.set_raw([buf[:isa.length - 1], ""], pos, state["seg_base"])
            reader.open(isa, pos, state["seg_base"])
            reader.set_strip(buf[:20000])
            reader.table = None  # type: ignore[attr-defined]
            state["buf"], state["consumed"] = buf[isa.length:], pos + isa.length
            state["seg_base"] += 1
            return True
        head = header_delimiters(buf, 0)
        if isinstance(head[0], str):
            code, msg = head
            if reader.interchanges and code == "no_interchange":
                code, msg = "data_outside_interchange", "data after the last interchange"
            reader.add(code, msg, offset=reader.byte_offset(pos), level="interchange")
            return False
        d, una, at = head
        end = _terminator(buf, at, d.segment, d.release)
        while end < 0 and len(buf) < MAX_SEGMENT and more():
            buf = state["buf"]
            end = _terminator(buf, at, d.segment, d.release)
        if end < 0:
            reader.add("segment_truncated", "the input ends inside the UNB segment", offset=pos + at)
            return False
        text, table = buf[at:end], None
        if d.release and d.release in text:
            text, table = protect(text, d)
        reader.set_raw([text, ""], pos + at, state["seg_base"])
        assert isinstance(reader, EdifactReader)
        reader.open_unb(unb_segment(text, d, table), d, una, pos + at, state["seg_base"])
        reader.set_strip(buf[:20000])
        state["buf"], state["consumed"] = buf[end + 1:], pos + end + 1
        state["seg_base"] += 1
        return True

    def _segments(self, reader: X12Reader, state: dict, more, queue: list[StreamedTransaction]):  # type: ignore[no-untyped-def]
        d = reader.ic.delimiters  # type: ignore[union-attr]
        t, rel = d.segment, (d.release if self.standard == "edifact" else None)
        while True:
            buf = state["buf"]
            k = _terminator(buf, len(buf), t, rel, reverse=True)
            if k < 0:
                if len(buf) > MAX_SEGMENT:
                    reader.add("segment_too_long", f"no segment terminator {t!r} in {MAX_SEGMENT} characters",
                               offset=reader.byte_offset(state["consumed"]), level="interchange")
                    reader.finish(0, "a segment is too long")
                    state["buf"] = ""
                    return
                if more():
                    continue
                raw = [buf]
                reader.set_raw(raw, state["consumed"], state["seg_base"])
                finish_tail(reader, raw, 0, reader.byte_offset)
                yield from _drain(queue)
                state["buf"] = ""
                return
            piece, rest = buf[:k], buf[k + 1:]
            table = None
            if rel and rel in piece:
                piece, table = protect(piece, d)
            raw = piece.split(t)
            raw.append("")
            reader.table = table  # type: ignore[attr-defined]
            reader.set_raw(raw, state["consumed"], state["seg_base"])
            last = len(raw) - 1
            j = reader.scan(raw, 0, last)
            yield from _drain(queue)
            if j < last:  # the interchange ended (or a new one began) inside this piece
                start = reader.pos_of(j) - state["consumed"]
                state["buf"] = buf[start:]
                state["consumed"] += start
                state["seg_base"] += j
                return
            state["buf"] = rest
            state["consumed"] += k + 1
            state["seg_base"] += last
            if not more() and not rest.strip(WHITESPACE):
                reader.finish(0, "the input ends")
                yield from _drain(queue)
                state["buf"] = ""
                return


def _drain(queue: list[StreamedTransaction]) -> Iterator[StreamedTransaction]:
    while queue:
        yield queue.pop(0)


def _terminator(buf: str, at: int, t: str, rel: str | None, reverse: bool = False) -> int:
    """Index of the first (or, reverse, last) unescaped terminator from ``at``; -1 if none."""
    k = buf.rfind(t) if reverse else buf.find(t, at)
    while k >= 0 and rel:
        n = 0
        while k - n - 1 >= 0 and buf[k - n - 1] == rel:
            n += 1
        if n % 2 == 0:
            return k
        k = buf.rfind(t, 0, k) if reverse else buf.find(t, k + 1)
    return k


def iter_transactions(source: str | Path | BinaryIO | bytes, chunk_size: int = CHUNK) -> TransactionReader:
    """A reader yielding one ``StreamedTransaction`` at a time; see ``TransactionReader``."""
    return TransactionReader(source, chunk_size)
