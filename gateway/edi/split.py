"""One transaction in its own interchange: for parking a rejected transaction, and ``edi split``."""

from __future__ import annotations

from dataclasses import fields

from gateway.edi.model import Group, Interchange, Transaction
from gateway.edi.writer import write


def single(ic: Interchange, g: Group, t: Transaction) -> Interchange:
    """``ic`` with only ``t`` in its group ``g`` (same envelopes; counts are recomputed on write)."""
    group = Group(g.functional_id, g.sender, g.receiver, g.control_number, g.version, g.header, g.trailer, [t])
    return Interchange(**{**{f.name: getattr(ic, f.name) for f in fields(ic)}, "groups": [group]})


def single_bytes(ic: Interchange, g: Group, t: Transaction) -> bytes:
    return write(single(ic, g, t))
