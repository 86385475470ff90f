"""EDIFACT service string advice (UNA), default delimiters, and release-character escapes."""

from __future__ import annotations

import re

from gateway.edi.model import Delimiters

WHITESPACE = " \t\r\n"
_SYNTAX = re.compile(rb"UNB.(UNO[A-Z])", re.S)


def read_una(text: str, pos: int) -> Delimiters | str:
    """Delimiters from the UNA at ``pos`` (a message string when it is unusable)."""
    una = text[pos:pos + 9]
    if len(una) < 9:
        return "the input ends inside the UNA segment"
    comp, elem, dec, rel, rep, term = una[3:9]  # type: ignore[str-unpack]  # the slice is 6 characters long
    chars = [comp, elem, term] + [c for c in (rel, rep) if c != " "]
    if len(set(chars)) != len(chars) or any(c.isalnum() for c in chars):
        return f"UNA service characters {una[3:9]!r} are not usable"
    return Delimiters(element=elem, component=comp, segment=term, repetition=None if rep == " " else rep,
                      release=None if rel == " " else rel, decimal=dec)


def default_delimiters(syntax_version: str) -> Delimiters:
    """UNOA/UNOB defaults when there is no UNA; syntax 4 adds the repetition separator."""
    return Delimiters(element="+", component=":", segment="'", release="?",
                      repetition="*" if syntax_version >= "4" else None)


def syntax_id(data: bytes) -> str:
    """The UNB syntax identifier (UNOA..UNOY) found near the start of raw bytes, or ""."""
    m = _SYNTAX.search(data[:600])
    return m.group(1).decode("ascii") if m else ""


def suffix_after(text: str, pos: int) -> str:
    """The line break written after each segment terminator, judged from the one at ``pos``."""
    after = text[pos:pos + 2]
    if after.startswith("\r\n"):
        return "\r\n"
    return after[:1] if after[:1] in ("\n", "\r") else ""


def placeholders(text: str, count: int) -> str:
    """``count`` private-use characters absent from ``text`` (stand-ins for escaped delimiters)."""
    for base in (0xE000, 0xF0000, 0x100000, 0xE100):
        cand = "".join(chr(base + k) for k in range(count))
        if not any(c in text for c in cand):
            return cand
    raise ValueError("no free placeholder characters")  # unreachable for real input


def protect(text: str, d: Delimiters) -> tuple[str, dict[int, str | None]]:
    """Replace each escaped service character R+X by R+placeholder (same length, so offsets hold).

    Returns the new text and a ``str.translate`` table that removes the release characters and turns
    placeholders back into the characters they stand for.
    """
    r = d.release
    assert r
    specials = [r, d.segment, d.element, d.component] + ([d.repetition] if d.repetition else [])
    ph = placeholders(text, len(specials))
    for ch, p in zip(specials, ph, strict=True):
        text = text.replace(r + ch, r + p)
    table: dict[int, str | None] = {ord(p): ch for ch, p in zip(specials, ph, strict=True)}
    table[ord(r)] = None
    return text, table
