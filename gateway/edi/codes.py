"""The envelope findings the readers report, each with its level and its acknowledgement codes.

One table, so the readers name a problem once and the 997/999/TA1/CONTRL writers find the right code.
"""

from __future__ import annotations

from typing import Any

from gateway.edi.findings import Finding

# code -> Finding fields (level and standard codes). Unknown codes get level "transaction", no codes.
SPEC: dict[str, dict[str, Any]] = {
    # syntax-independent
    "no_interchange": {"level": "interchange", "x12_ta1": "022", "edifact": "13"},
    "data_outside_interchange": {"level": "interchange", "x12_ta1": "024", "edifact": "33"},
    "segment_truncated": {"level": "interchange", "x12_ta1": "023", "edifact": "13"},
    "segment_too_long": {"level": "interchange", "x12_ta1": "023", "edifact": "39"},
    "element_too_long": {"level": "element", "x12_segment": "8", "x12_element": "5",
                         "x12_transaction": "5", "edifact": "39"},
    "charset_fallback": {"level": "interchange", "severity": "warning"},
    "invalid_characters": {"level": "interchange", "edifact": "21"},
    # X12 interchange
    "isa_malformed": {"level": "interchange", "x12_ta1": "022"},
    "isa_not_fixed_width": {"level": "interchange", "severity": "warning"},
    "isa_element_invalid": {"level": "interchange", "x12_ta1": "022"},
    "iea_missing": {"level": "interchange", "x12_ta1": "023"},
    "iea_count_mismatch": {"level": "interchange", "x12_ta1": "021"},
    "iea_control_mismatch": {"level": "interchange", "x12_ta1": "001"},
    "isa_control_duplicate": {"level": "interchange", "x12_ta1": "025"},
    # X12 group
    "gs_missing": {"level": "interchange", "x12_ta1": "024"},
    "ge_missing": {"level": "group", "x12_group": "3"},
    "ge_unexpected": {"level": "interchange", "x12_ta1": "024"},
    "ge_count_mismatch": {"level": "group", "x12_group": "5"},
    "ge_control_mismatch": {"level": "group", "x12_group": "4"},
    "gs_control_duplicate": {"level": "group", "x12_group": "19"},
    "segment_outside_transaction": {"level": "group", "x12_group": "5"},
    # X12 transaction
    "se_missing": {"level": "transaction", "x12_transaction": "2"},
    "se_unexpected": {"level": "group", "x12_group": "5"},
    "se_count_mismatch": {"level": "transaction", "x12_transaction": "4"},
    "se_control_mismatch": {"level": "transaction", "x12_transaction": "3"},
    "st_control_duplicate": {"level": "transaction", "x12_transaction": "23"},
    "transaction_type_mismatch": {"level": "transaction", "x12_transaction": "6"},
    "segment_tag_invalid": {"level": "segment", "x12_segment": "1", "x12_transaction": "5"},
    # EDIFACT
    "una_malformed": {"level": "interchange", "edifact": "22"},
    "unb_malformed": {"level": "interchange", "edifact": "13"},
    "syntax_not_supported": {"level": "interchange", "edifact": "2"},
    "unz_missing": {"level": "interchange", "edifact": "13"},
    "unz_count_mismatch": {"level": "interchange", "edifact": "29"},
    "unz_control_mismatch": {"level": "interchange", "edifact": "28"},
    "unb_control_duplicate": {"level": "interchange", "edifact": "26"},
    "groups_and_messages_mixed": {"level": "interchange", "edifact": "30"},
    "une_missing": {"level": "group", "edifact": "13"},
    "une_unexpected": {"level": "interchange", "edifact": "33"},
    "une_count_mismatch": {"level": "group", "edifact": "29"},
    "une_control_mismatch": {"level": "group", "edifact": "28"},
    "segment_outside_message": {"level": "interchange", "edifact": "33"},
    "unt_missing": {"level": "transaction", "edifact": "13"},
    "unt_unexpected": {"level": "interchange", "edifact": "33"},
    "unt_count_mismatch": {"level": "transaction", "edifact": "29"},
    "unt_control_mismatch": {"level": "transaction", "edifact": "28"},
    "unh_control_duplicate": {"level": "transaction", "edifact": "26"},
    "message_type_mismatch": {"level": "transaction", "edifact": "14"},
}

# ISA element number -> TA105 note code for an invalid value there.
ISA_TA1 = {1: "010", 2: "011", 3: "012", 4: "013", 5: "005", 6: "006", 7: "007", 8: "008", 9: "014",
           10: "015", 11: "016", 12: "017", 13: "018", 14: "019", 15: "020", 16: "027"}

# Longest value any directory defines for one element (rounded up); longer means broken separators.
X12_MAX_ELEMENT = 4096
EDIFACT_MAX_ELEMENT = 2560


def finding(code: str, message: str, **fields: Any) -> Finding:
    """A Finding for ``code`` with the level/codes from SPEC; keyword fields override or add position."""
    spec = SPEC.get(code, {})
    return Finding(code=code, message=message, **{**spec, **fields})
