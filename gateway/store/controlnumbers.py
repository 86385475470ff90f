"""Outbound control numbers per partner and level, allocated in SQLite and audited.

Levels: ``isa`` (ISA13), ``gs`` (GS06), ``st`` (ST02), ``unb`` (UNB 0020), ``unh`` (UNH 0062). Each
number is taken in one SQLite transaction (synchronous=FULL even though the index otherwise runs
NORMAL) and logged, then audited, so a number is
never handed out twice and never skipped without a record. X12 numbers wrap from 999999999 to 1;
EDIFACT references (up to 14 characters) wrap at 99999999999999.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.store.store import Store

LIMITS = {
    "isa": 999_999_999,
    "gs": 999_999_999,
    "st": 999_999_999,
    "unb": 99_999_999_999_999,
    "unh": 99_999_999_999_999,
}


class ControlNumbers:
    def __init__(self, store: Store) -> None:
        self.store = store

    def next(self, partner: str, level: str) -> int:
        if level not in LIMITS:
            raise ValueError(f"unknown control number level {level!r}; expected one of {sorted(LIMITS)}")
        at = datetime.now(UTC)
        value, allocations = self.store.index.allocate_control_number(
            partner, level, LIMITS[level], at.isoformat(timespec="microseconds")
        )
        ev = self.store.audit.append(
            "control_number.allocated",
            partner=partner,
            now=at,
            data={"level": level, "value": value, "allocations": allocations},
        )
        self.store.index.mark_applied(ev["seq"])  # the index wrote it itself: no replay after a crash
        return value

    def current(self, partner: str, level: str) -> int | None:
        return self.store.index.control_number(partner, level)
