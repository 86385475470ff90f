"""Comparing trees without their input positions (what ``parse(write(tree)) == tree`` means)."""

from __future__ import annotations

from dataclasses import replace

from gateway.edi.model import Interchange


def without_positions(ic: Interchange) -> Interchange:
    """A copy with byte offsets, segment indexes and the as-read UNA text cleared."""
    groups = [replace(g, transactions=[replace(t, offset=0, segment_offset=0) for t in g.transactions])
              for g in ic.groups]
    return replace(ic, offset=0, una=None, groups=groups)


def same_tree(a: Interchange, b: Interchange) -> bool:
    return without_positions(a) == without_positions(b)
