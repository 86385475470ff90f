"""Comparing trees without their input positions (what ``parse(write(tree)) == tree`` means)."""

from __future__ import annotations

from dataclasses import replace

from gateway.edi.model import Interchange


def without_positions(ic: Interchange) -> Interchange:
    """A copy with what belongs to the input bytes, not to the tree, cleared: byte offsets, segment
    indexes, the as-read UNA text and the charset the bytes were decoded with (an all-ASCII interchange
    read out of a file that needed a Latin-1 fallback elsewhere reads back as ASCII)."""
    groups = [replace(g, transactions=[replace(t, offset=0, segment_offset=0) for t in g.transactions])
              for g in ic.groups]
    return replace(ic, offset=0, una=None, encoding="", groups=groups)


def same_tree(a: Interchange, b: Interchange) -> bool:
    return without_positions(a) == without_positions(b)
