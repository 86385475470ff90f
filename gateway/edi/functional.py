"""X12 functional identifier codes (GS01) and the transaction sets (ST01) each one carries."""

from __future__ import annotations

# GS01 -> transaction sets it may carry. Only codes we are sure of; an unknown GS01 or ST01 is not judged.
GROUP_SETS: dict[str, frozenset[str]] = {
    "PO": frozenset({"850"}),
    "PR": frozenset({"855"}),
    "PC": frozenset({"860"}),
    "CA": frozenset({"865"}),
    "SH": frozenset({"856", "857"}),
    "IN": frozenset({"810", "880"}),
    "FA": frozenset({"997", "999"}),
    "IB": frozenset({"846"}),
    "PD": frozenset({"852"}),
    "RA": frozenset({"820"}),
    "AN": frozenset({"180"}),
    "CD": frozenset({"812"}),
    "SC": frozenset({"832"}),
    "PS": frozenset({"830"}),
    "SS": frozenset({"862"}),
    "AG": frozenset({"824"}),
    "TX": frozenset({"864"}),
    "OW": frozenset({"940"}),
    "SW": frozenset({"945"}),
    "AR": frozenset({"943"}),
    "RE": frozenset({"944"}),
    "AW": frozenset({"947"}),
    "GF": frozenset({"753", "754", "990"}),
    "SM": frozenset({"204"}),
    "IM": frozenset({"210"}),
    "QM": frozenset({"214"}),
}

KNOWN_SETS: frozenset[str] = frozenset().union(*GROUP_SETS.values())

# ST01 -> GS01, for building envelopes.
SET_GROUP: dict[str, str] = {s: g for g, sets in GROUP_SETS.items() for s in sorted(sets)}


def matches(functional_id: str, transaction_type: str) -> bool:
    """False only when both codes are known and do not belong together."""
    sets = GROUP_SETS.get(functional_id)
    if sets is None or transaction_type not in KNOWN_SETS:
        return True
    return transaction_type in sets
