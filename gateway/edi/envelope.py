"""Wrapping outbound transactions into a fresh interchange, with control numbers from an allocator."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from gateway.edi import functional
from gateway.edi.model import (
    EDIFACT_DEFAULT,
    X12_DEFAULT,
    Delimiters,
    Group,
    Interchange,
    Segment,
    Transaction,
)

Level = Literal["isa", "gs", "st", "unb", "ung", "unh"]


class ControlNumbers(Protocol):
    """Issues the next control number for (partner, level). The store backs this with SQLite."""

    def next(self, partner: str, level: str) -> int: ...


class InMemoryControlNumbers:
    """Counters in a dict: for tests and offline tools. Wraps at the field's limit (ISA13: 999999999)."""

    def __init__(self, start: int = 1) -> None:
        self._start = start
        self._last: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def next(self, partner: str, level: str) -> int:
        with self._lock:
            n = self._last.get((partner, level), self._start - 1) + 1
            if n > 999_999_999:
                n = 1
            self._last[(partner, level)] = n
            return n


def _pad(value: str, width: int) -> str:
    return value[:width].ljust(width)


def envelope(
    transactions: Sequence[Sequence[Segment]],
    *,
    partner: str,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    control_numbers: ControlNumbers,
    standard: Literal["x12", "edifact"] = "x12",
    transaction_type: str | None = None,
    functional_id: str | None = None,
    version: str | None = None,
    group_version: str | None = None,
    delimiters: Delimiters | None = None,
    test: bool = False,
    ack_requested: bool = False,
    application_sender: str | None = None,
    application_receiver: str | None = None,
    now: datetime | None = None,
) -> Interchange:
    """One interchange, one group, one transaction per item of ``transactions``.

    ``sender``/``receiver`` are (qualifier, id). Each item is a list of segments, with or without its
    ST/SE (UNH/UNT): a given header keeps its type and other elements but gets a fresh control number;
    without a header, ``transaction_type`` (X12 "850"; EDIFACT "ORDERS:D:96A:UN") says what to write.
    X12: ``version`` is ISA12 ("00401"), ``group_version`` GS08 ("004010"). EDIFACT: ``version`` is the
    UNB syntax identifier ("UNOA:3"). Counts are written by ``write``.
    """
    now = now or datetime.now(UTC)
    if standard == "x12":
        return _x12(transactions, partner, sender, receiver, control_numbers, transaction_type, functional_id,
                    version or "00401", group_version, delimiters or X12_DEFAULT, test, ack_requested,
                    application_sender, application_receiver, now)
    return _edifact(transactions, partner, sender, receiver, control_numbers, transaction_type,
                    version or "UNOA:3", delimiters or EDIFACT_DEFAULT, test, ack_requested, now)


def _body(segs: Sequence[Segment], head: str, tail: str) -> tuple[Segment | None, list[Segment]]:
    body = [list(s) for s in segs]
    header = body.pop(0) if body and body[0][0] == head else None
    if body and body[-1][0] == tail:
        body.pop()
    return header, body


def _x12(items, partner, sender, receiver, cn, ttype, fid, version, gver, d, test, ack, app_s, app_r, now):  # type: ignore[no-untyped-def]
    if version < "00402":
        d = replace(d, repetition=None)
    _reserve(cn, partner, ["isa", "gs"] + ["st"] * len(items))
    isa13 = f"{cn.next(partner, 'isa'):09d}"
    gs06 = str(cn.next(partner, "gs"))
    isa = ["ISA", "00", _pad("", 10), "00", _pad("", 10), _pad(sender[0], 2), _pad(sender[1], 15),
           _pad(receiver[0], 2), _pad(receiver[1], 15), now.strftime("%y%m%d"), now.strftime("%H%M"),
           d.repetition if d.repetition else "U", version, isa13, "1" if ack else "0", "T" if test else "P",
           d.component]
    gver = gver or {"00401": "004010", "00501": "005010"}.get(version, "00" + version[:4] + "0")
    txns: list[Transaction] = []
    for segs in items:
        header, body = _body(segs, "ST", "SE")
        st = header or ["ST", ttype or ""]
        if not st[1]:
            raise ValueError("transaction_type is needed for transactions given without ST")
        st = [*st, ""] if len(st) < 3 else st
        st[2] = f"{cn.next(partner, 'st'):04d}"
        full = [st, *body]
        full.append(["SE", str(len(full) + 1), st[2]])
        txns.append(Transaction(type=st[1], control_number=st[2], segments=full, version=gver))
    fid = fid or functional.SET_GROUP.get(txns[0].type if txns else "", "")
    gs = ["GS", fid, app_s or sender[1], app_r or receiver[1], now.strftime("%Y%m%d"), now.strftime("%H%M"),
          gs06, "X", gver]
    ge = ["GE", str(len(txns)), gs06]
    group = Group(fid, gs[2], gs[3], gs06, gver, gs, ge, txns)
    return Interchange("x12", sender[0], sender[1], receiver[0], receiver[1], isa13, version, d, isa,
                       ["IEA", "1", isa13], [group], test=test)


def _reserve(cn: Any, partner: str, levels: list[str]) -> None:
    """Let a control-number source that can take an envelope's numbers in one go do so."""
    reserve = getattr(cn, "reserve", None)
    if reserve is not None:
        reserve(partner, levels)


def _edifact(items, partner, sender, receiver, cn, ttype, syntax, d, test, ack, now):  # type: ignore[no-untyped-def]
    _reserve(cn, partner, ["unb"] + ["unh"] * len(items))
    ref = str(cn.next(partner, "unb"))
    syntax_parts = syntax.split(":")
    v4 = len(syntax_parts) > 1 and syntax_parts[1] >= "4"
    date = now.strftime("%Y%m%d" if v4 else "%y%m%d")
    unb: Segment = ["UNB", syntax_parts, [sender[1], sender[0]], [receiver[1], receiver[0]],
                    [date, now.strftime("%H%M")], ref]
    if ack or test:
        unb += ["", "", "", "1" if ack else "", "", "1" if test else ""]
        while unb[-1] == "":
            unb.pop()
    txns: list[Transaction] = []
    for segs in items:
        header, body = _body(segs, "UNH", "UNT")
        if header is None:
            if not ttype:
                raise ValueError("transaction_type is needed for messages given without UNH")
            header = ["UNH", "", ttype.split(":")]
        header = list(header)
        header[1] = str(cn.next(partner, "unh"))
        full = [header, *body]
        full.append(["UNT", str(len(full) + 1), header[1]])
        s009 = header[2] if isinstance(header[2], list) else [header[2]]
        txns.append(Transaction(type=s009[0], control_number=header[1], segments=full,
                                version=":".join(s009[1:])))
    group = Group("", sender[1], receiver[1], "", "", None, None, txns)
    una = None if d == EDIFACT_DEFAULT else ""
    ic = Interchange("edifact", sender[0], sender[1], receiver[0], receiver[1], ref, syntax, d, unb,
                     ["UNZ", str(len(txns)), ref], [group], test=test)
    if una == "":
        ic.una = "UNA" + d.component + d.element + d.decimal + (d.release or " ") + (d.repetition or " ") + d.segment
    return ic
