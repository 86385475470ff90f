"""Structural finding codes and the acknowledgement codes they carry.

One stable name per kind of problem, mapped once to the X12 997/999 codes (AK304/IK304 segment syntax
error, AK403/IK403 element syntax error, AK502/IK502 transaction error) and the EDIFACT CONTRL syntax
error code (data element 0085, reported in UCS/UCD).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AckCodes:
    level: str  # "segment" or "element"
    x12_segment: str
    x12_element: str | None
    edifact: str
    x12_element_4010: str | None = None  # the 997 code when the 999 one does not exist in 4010


SEGMENT_CODES: dict[str, AckCodes] = {
    "segment_unrecognized": AckCodes("segment", "1", None, "15"),
    "segment_unexpected": AckCodes("segment", "2", None, "15"),
    "segment_missing": AckCodes("segment", "3", None, "13"),
    "loop_over_max": AckCodes("segment", "4", None, "36"),
    "segment_over_max": AckCodes("segment", "5", None, "35"),
    "segment_not_in_set": AckCodes("segment", "6", None, "15"),
    "segment_out_of_order": AckCodes("segment", "7", None, "15"),
    "hl_parent_unknown": AckCodes("element", "8", "7", "12"),
    "hl_id_duplicate": AckCodes("element", "8", "7", "12"),
}

ELEMENT_CODES: dict[str, AckCodes] = {
    "element_missing": AckCodes("element", "8", "1", "13"),
    "element_conditional_missing": AckCodes("element", "8", "2", "13"),
    "element_too_many": AckCodes("element", "8", "3", "16"),
    "element_too_short": AckCodes("element", "8", "4", "40"),
    "element_too_long": AckCodes("element", "8", "5", "39"),
    "element_bad_character": AckCodes("element", "8", "6", "21"),
    "element_bad_code": AckCodes("element", "8", "7", "12"),
    "element_bad_date": AckCodes("element", "8", "8", "12"),
    "element_bad_time": AckCodes("element", "8", "9", "12"),
    "element_exclusion": AckCodes("element", "8", "10", "12"),
    "element_too_many_repetitions": AckCodes("element", "8", "12", "35", x12_element_4010="6"),
    "element_too_many_components": AckCodes("element", "8", "13", "16", x12_element_4010="6"),
    "element_not_used": AckCodes("element", "8", "I10", "12", x12_element_4010="3"),
}

ALL_CODES: dict[str, AckCodes] = {**SEGMENT_CODES, **ELEMENT_CODES}

# AK502 / IK502: "5" = one or more segments in error; "1" = transaction set not supported.
X12_TRANSACTION_SEGMENTS_IN_ERROR = "5"
X12_TRANSACTION_NOT_SUPPORTED = "1"
X12_TRANSACTION_COUNT_MISMATCH = "4"
X12_TRANSACTION_CONTROL_MISMATCH = "3"
