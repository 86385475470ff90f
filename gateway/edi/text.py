"""Bytes to text: BOM and leading whitespace, character sets, and character -> byte offsets."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

BOM = b"\xef\xbb\xbf"
LEADING_WS = b" \t\r\n\x00"

# EDIFACT syntax identifiers (UNB S001/0001) -> Python codec.
EDIFACT_CHARSETS = {
    "UNOA": "ascii", "UNOB": "ascii", "UNOC": "latin-1", "UNOD": "iso8859-2", "UNOE": "iso8859-5",
    "UNOF": "iso8859-7", "UNOG": "iso8859-3", "UNOH": "iso8859-4", "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8", "UNOK": "iso8859-9", "UNOW": "utf-8", "UNOY": "utf-8",
}

EBCDIC_ISA = "ISA".encode("cp037")
EBCDIC_UNB = ("UNB", "UNA")


def skip_prefix(data: bytes) -> int:
    """Index of the first byte after an optional UTF-8 BOM and leading whitespace."""
    start = 3 if data.startswith(BOM) else 0
    n = len(data)
    while start < n and data[start] in LEADING_WS:
        start += 1
    return start


DECODE_STEP = 1 << 22  # bytes per decode call for big ASCII inputs


def _ascii_stepwise(data: bytes) -> str | None:
    """``data.decode("ascii")`` a few MB at a time (no single C call over a whole big input, so other
    threads keep their turn); ``None`` when the bytes are not all ASCII."""
    view = memoryview(data)
    parts = []
    for i in range(0, len(data), DECODE_STEP):
        piece = bytes(view[i:i + DECODE_STEP])
        if not piece.isascii():
            return None
        parts.append(piece.decode("ascii"))
    return "".join(parts)


def decode_x12(data: bytes) -> tuple[str, str]:
    """Decode X12 bytes: ASCII, else UTF-8 when valid, else Latin-1; EBCDIC when the ISA says so."""
    if len(data) > DECODE_STEP:
        text = _ascii_stepwise(data)
        if text is not None:
            return text, "ascii"
    elif data.isascii():
        return data.decode("ascii"), "ascii"
    if data.startswith(EBCDIC_ISA):
        return data.decode("cp037"), "cp037"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def decode_edifact(data: bytes, syntax_id: str) -> tuple[str, str, bool]:
    """Decode EDIFACT bytes with the UNB syntax identifier's charset; (text, encoding, exact).

    ``exact`` is False when the bytes did not fit the declared charset and a fallback was used.
    """
    if data.isascii():
        return data.decode("ascii"), "ascii" if syntax_id in ("UNOA", "UNOB", "") else \
            EDIFACT_CHARSETS.get(syntax_id, "latin-1"), True
    codec = EDIFACT_CHARSETS.get(syntax_id)
    if codec:
        try:
            return data.decode(codec), codec, True
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1", False


_WIDE = re.compile(r"[^\x00-\x7f]")


def byte_offsets(text: str, encoding: str, base: int = 0) -> Callable[[int], int]:
    """A function mapping a character index in ``text`` to a byte offset in the input."""
    if encoding not in ("utf-8",) or text.isascii():
        return lambda i: base + i
    marks: list[int] = []
    extra: list[int] = []
    total = 0
    for m in _WIDE.finditer(text):
        total += len(m.group().encode("utf-8")) - 1
        marks.append(m.start())
        extra.append(total)

    def offset(i: int) -> int:
        k = bisect.bisect_left(marks, i)
        return base + i + (extra[k - 1] if k else 0)

    return offset
