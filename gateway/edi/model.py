"""The EDI tree: what the readers produce and the writers consume.

Shared by every layer above ``edi/`` (rules, mapping, pipeline), so keep it small and stable.

Representation of one segment: a plain ``list``. ``seg[0]`` is the tag (``"PO1"``, ``"UNH"``),
``seg[i]`` is the i-th data element, 1-based exactly as in the standards (``seg[1]`` is PO101).
Each element is one of:

- ``str``: a simple element (an empty string for an empty element that precedes a non-empty one);
- ``list[str]``: a composite (components, 1-based in the standards, 0-based here);
- ``Repeats`` (a ``list`` subclass) of ``str | list[str]``: a repeated element (X12 ISA11 / EDIFACT
  repetition), one entry per repeat.

Trailing empty elements are dropped by the reader and never written. Release / escape characters are
already removed: values are plain ``str``.

``Interchange`` -> ``groups`` (X12 GS/GE; EDIFACT UNG/UNE, or one implicit group when absent) ->
``transactions`` (ST/SE, UNH/UNT). A transaction's ``segments`` include its ST/UNH header and SE/UNT
trailer. Positions (``segment_index`` within the transaction, byte ``offset`` within the input) let
findings name where a problem is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

Element = Union[str, list[str], "Repeats"]
Segment = list  # [tag, element1, element2, ...]


class Repeats(list):
    """A repeated element: one entry per repetition."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    segment: str
    repetition: str | None = None
    release: str | None = None  # EDIFACT only
    decimal: str = "."  # EDIFACT UNA3
    suffix: str = ""  # what follows each segment terminator when writing (e.g. "\r\n")


X12_DEFAULT = Delimiters(element="*", component=">", segment="~", repetition="^")
EDIFACT_DEFAULT = Delimiters(element="+", component=":", segment="'", repetition="*", release="?")


@dataclass(slots=True)
class Transaction:
    type: str  # "850", "ORDERS"
    control_number: str  # ST02 / UNH01
    segments: list[Segment]
    version: str = ""  # GS08 (e.g. "004010") or UNH02 "D:96A:UN"
    offset: int = 0  # byte offset of the header segment in the input
    segment_offset: int = 0  # index of the header segment counted from the interchange header


@dataclass(slots=True)
class Group:
    functional_id: str  # GS01 ("PO"), UNG01, or "" for an implicit EDIFACT group
    sender: str
    receiver: str
    control_number: str
    version: str
    header: Segment | None
    trailer: Segment | None
    transactions: list[Transaction] = field(default_factory=list)


@dataclass(slots=True)
class Interchange:
    standard: Literal["x12", "edifact"]
    sender_qualifier: str
    sender: str
    receiver_qualifier: str
    receiver: str
    control_number: str
    version: str  # ISA12 ("00401") / UNB01 syntax ("UNOA:3")
    delimiters: Delimiters
    header: Segment
    trailer: Segment | None
    groups: list[Group] = field(default_factory=list)
    una: str | None = None  # the UNA service string advice as read, when present
    offset: int = 0
    test: bool = False  # ISA15 == "T" / UNB11 == "1"
    # Segments that sit directly in the interchange, outside any group (X12 TA1), in input order.
    service_segments: list[Segment] = field(default_factory=list)
    encoding: str = ""  # how the bytes were decoded ("ascii", "utf-8", "latin-1", "cp037"); "" = default

    def transactions(self) -> list[Transaction]:
        return [t for g in self.groups for t in g.transactions]
