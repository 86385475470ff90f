"""Reading the X12 ISA header: delimiters, fixed-width or not, and its element checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.edi.codes import ISA_TA1
from gateway.edi.model import Delimiters

ISA_SEPARATORS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 106


@dataclass(slots=True)
class IsaHeader:
    delimiters: Delimiters
    elements: list[str]  # ["ISA", ISA01, ..., ISA16]
    length: int  # characters from "ISA" through the segment terminator
    problems: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (code, message, fields)


def _bad(ch: str) -> bool:
    return ch.isalnum() or ch in " "


def read_isa(text: str, pos: int) -> IsaHeader | tuple[str, str]:
    """Read the ISA at ``pos``; an IsaHeader, or (code, message) when it cannot be read at all."""
    head = text[pos:pos + 4]
    if len(head) < 4 or head[:3] != "ISA":
        if "ISA".startswith(head) and len(text) - pos < 4:
            return "segment_truncated", "the file ends inside the ISA segment"
        return "no_interchange", f"expected an ISA segment, found {text[pos:pos + 12]!r}"
    e = head[3]
    if _bad(e) or e in "\r\n":
        return "isa_malformed", f"ISA element separator {e!r} is not usable"
    problems: list[tuple[str, str, dict[str, Any]]] = []
    end = pos + ISA_LENGTH
    if (len(text) >= end and all(text[pos + k] == e for k in ISA_SEPARATORS)
            and text.count(e, pos, pos + 104) == 16):
        parts = text[pos:pos + 103].split(e)
        comp, term = text[pos + 104], text[pos + 105]
        parts.append(comp)
        length = ISA_LENGTH
    else:
        window = text[pos:pos + 400]
        parts = window.split(e, 16)
        if len(parts) < 17 or len(parts[16]) < 2:
            if len(text) - pos < 400:
                return "segment_truncated", "the file ends inside the ISA segment"
            return "isa_malformed", "the ISA segment does not have 16 elements"
        rest = parts[16]
        comp, term = rest[0], rest[1]
        parts[16] = comp
        length = sum(map(len, parts)) + 17
        problems.append(("isa_not_fixed_width",
                         f"the ISA segment is {length} characters, not {ISA_LENGTH}; read by its separators", {}))
    if _bad(term) or term in (e, comp):
        return "isa_malformed", f"ISA segment terminator {term!r} is not usable"
    if _bad(comp) or comp == e or comp in "\r\n":
        problems.append(("isa_element_invalid", f"ISA16 component separator {comp!r} is not usable",
                         {"element": 16, "x12_ta1": ISA_TA1[16]}))
    for k, (value, width) in enumerate(zip(parts[1:], ISA_WIDTHS, strict=True), start=1):
        if len(value) > width:
            problems.append(("isa_element_invalid", f"ISA{k:02d} is {len(value)} characters, at most {width}",
                             {"element": k, "x12_ta1": ISA_TA1[k]}))
    checks = ((12, lambda v: v.isascii() and v.isdigit() and len(v) == 5, "a 5-digit version"),
              (13, lambda v: v.isascii() and v.isdigit() and len(v) == 9, "a 9-digit control number"),
              (14, lambda v: v in ("0", "1"), "0 or 1"),
              (15, lambda v: v in ("P", "T", "I"), "P, T or I"))
    for k, ok, what in checks:
        if not ok(parts[k]):
            problems.append(("isa_element_invalid", f"ISA{k:02d} is {parts[k]!r}, expected {what}",
                             {"element": k, "x12_ta1": ISA_TA1[k]}))
    rep = parts[11]
    repetition = rep if len(rep) == 1 and not _bad(rep) and rep not in (e, comp, term, "\r", "\n") else None
    after = text[pos + length:pos + length + 2]
    if term == "\r" and after[:1] == "\n":
        suffix = "\n"
    elif term in "\r\n":
        suffix = ""
    elif after.startswith("\r\n"):
        suffix = "\r\n"
    elif after[:1] in ("\n", "\r"):
        suffix = after[:1]
    else:
        suffix = ""
    delims = Delimiters(element=e, component=comp, segment=term, repetition=repetition, suffix=suffix)
    return IsaHeader(delims, parts, length, problems)
