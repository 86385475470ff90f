"""Structural validation: every shipped spec accepts a valid transaction and reports exact codes and positions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.edi.model import Repeats
from gateway.rules import build_tree, load_spec_for, validate_transaction
from gateway.rules.specload import check_rules_tree

T = list[list[Any]]

VALID: dict[tuple[str, str, str], T] = {
    ("x12", "004010", "850"): [
        ["ST", "850", "0001"], ["BEG", "00", "NE", "2K4XQ9TZ", "", "20261126"], ["REF", "CR", "VEND1"],
        ["CSH", "N"], ["DTM", "064", "20261128"], ["DTM", "063", "20261203"], ["N1", "ST", "", "92", "ABE2"],
        ["PO1", "1", "6", "EA", "19.99", "PE", "UP", "012345678905"], ["CTP", "", "RTL", "24.99"],
        ["PO1", "2", "2", "CA", "5", "PE", "EN", "4006381333931"], ["CTT", "2", "8"], ["SE", "12", "0001"]],
    ("x12", "004010", "855"): [
        ["ST", "855", "0001"], ["BAK", "00", "AC", "2K4XQ9TZ", "20261126"],
        ["PO1", "1", "6", "EA", "19.99", "PE", "UP", "012345678905"], ["ACK", "IA", "6", "EA", "068", "20261129"],
        ["CTT", "1"], ["SE", "6", "0001"]],
    ("x12", "004010", "810"): [
        ["ST", "810", "0001"], ["BIG", "20261127", "INV1", "", "2K4XQ9TZ"], ["CUR", "SE", "USD"],
        ["N1", "RI", "ACME"], ["N3", "1 MAIN ST"], ["N4", "SEATTLE", "WA", "98101"], ["ITD", "01", "3"],
        ["IT1", "1", "6", "EA", "19.99", "", "UP", "012345678905"], ["TDS", "11994"],
        ["SAC", "C", "D240", "", "", "1000"], ["CTT", "1"], ["SE", "12", "0001"]],
    ("x12", "004010", "846"): [
        ["ST", "846", "0001"], ["BIA", "00", "MM", "REF1", "20261127"], ["LIN", "1", "UP", "012345678905"],
        ["QTY", "33", "100", "EA"], ["SE", "5", "0001"]],
    ("x12", "004010", "820"): [
        ["ST", "820", "0001"], ["BPR", "C", "150", "C", "ACH"], ["TRN", "1", "12345"], ["N1", "PE", "ACME"],
        ["ENT", "1"], ["RMR", "IV", "INV1", "", "150"], ["SE", "7", "0001"]],
    ("x12", "004010", "860"): [
        ["ST", "860", "0001"], ["BCH", "04", "SA", "2K4XQ9TZ", "", "", "20261127"],
        ["POC", "1", "QD", "5", "1", "EA", "19.99"], ["SE", "4", "0001"]],
    ("x12", "004010", "865"): [
        ["ST", "865", "0001"], ["BCA", "04", "AC", "2K4XQ9TZ", "", "", "20261127"],
        ["POC", "1", "QD", "5", "1", "EA"], ["ACK", "IA", "5", "EA"], ["SE", "5", "0001"]],
    ("x12", "004010", "852"): [
        ["ST", "852", "0001"], ["XQ", "G", "20261120", "20261126"], ["LIN", "", "UP", "012345678905"],
        ["ZA", "QS", "12", "EA"], ["SE", "5", "0001"]],
    ("x12", "004010", "997"): [
        ["ST", "997", "0001"], ["AK1", "PO", "17"], ["AK2", "850", "0001"], ["AK3", "PO1", "8", "PO1", "8"],
        ["AK4", ["2"], "330", "6", "6x"], ["AK5", "R", "5"], ["AK9", "R", "1", "1", "0"], ["SE", "8", "0001"]],
    ("x12", "004010", "180"): [
        ["ST", "180", "0001"], ["BGN", "00", "RMA1", "20261127"], ["BLI", "UP", "012345678905", "2"],
        ["SE", "4", "0001"]],
    ("x12", "004010", "856"): [
        ["ST", "856", "0001"], ["BSN", "00", "SHIP0001", "20261127", "0900", "0001"],
        ["HL", "1", "", "S"], ["TD5", "", "2", "UPSN"], ["HL", "2", "1", "O"], ["PRF", "2K4XQ9TZ"],
        ["HL", "3", "2", "P"], ["MAN", "GM", "001234560000000018"], ["HL", "4", "3", "I"],
        ["LIN", "", "UP", "012345678905"], ["SN1", "", "6", "EA"], ["CTT", "4"], ["SE", "13", "0001"]],
    ("x12", "005010", "856"): [
        ["ST", "856", "0001"], ["BSN", "00", "SHIP0001", "20261127", "0900", "0001"],
        ["HL", "1", "", "S"], ["TD5", "", "2", "UPSN"], ["REF", "BM", "VEND1-BOL-000123456789012345678901234"],
        ["HL", "2", "1", "O"], ["PRF", "2K4XQ9TZ"], ["HL", "3", "2", "T"], ["MAN", "GM", "001234560000000025"],
        ["HL", "4", "3", "P"], ["MAN", "GM", "001234560000000018"], ["HL", "5", "4", "I"],
        ["LIN", "", "UP", "012345678905"], ["SN1", "", "6", "EA"], ["CTT", "5"], ["SE", "16", "0001"]],
    ("x12", "005010", "999"): [
        ["ST", "999", "0001", "005010X231A1"], ["AK1", "PO", "17", "004010"], ["AK2", "850", "0001"],
        ["IK3", "PO1", "8", "", "8"], ["IK4", ["2"], "330", "6", "6x"], ["IK5", "R", "5"],
        ["AK9", "R", "1", "1", "0"], ["SE", "8", "0001"]],
    ("x12", "005010", "753"): [
        ["ST", "753", "0001"], ["BGN", "00", "RR1", "20261127"], ["N1", "SF", "ACME", "92", "VEND1"],
        ["LX", "1"], ["OID", "", "2K4XQ9TZ", "", "CT", "10"], ["SE", "6", "0001"]],
    ("x12", "005010", "754"): [
        ["ST", "754", "0001"], ["BGN", "00", "RI1", "20261127"], ["LX", "1"], ["TD5", "", "2", "UPSN"],
        ["OID", "", "2K4XQ9TZ"], ["SE", "6", "0001"]],
    ("edifact", "D96A", "ORDERS"): [
        ["UNH", "1", ["ORDERS", "D", "96A", "UN", "EAN008"]], ["BGM", "220", "2K4XQ9TZ", "9"],
        ["DTM", ["137", "20261126", "102"]], ["NAD", "DP", ["5450534000024", "", "9"]],
        ["LIN", "1", "", ["4006381333931", "EN"]], ["QTY", ["21", "6"]], ["PRI", ["AAA", "19.99"]],
        ["UNS", "S"], ["CNT", ["2", "1"]], ["UNT", "10", "1"]],
    ("edifact", "D96A", "ORDRSP"): [
        ["UNH", "1", ["ORDRSP", "D", "96A", "UN"]], ["BGM", "231", "ACK1", "29"],
        ["DTM", ["137", "20261127", "102"]], ["LIN", "1", "5", ["4006381333931", "EN"]], ["QTY", ["21", "6"]],
        ["UNS", "S"], ["UNT", "7", "1"]],
    ("edifact", "D96A", "DESADV"): [
        ["UNH", "1", ["DESADV", "D", "96A", "UN"]], ["BGM", "351", "SHIP0001", "9"],
        ["DTM", ["11", "20261127", "102"]], ["RFF", ["ON", "2K4XQ9TZ"]], ["CPS", "1"], ["PAC", "1"],
        ["PCI", "33E"], ["GIN", "BJ", ["001234560000000018"]], ["LIN", "1", "", ["4006381333931", "EN"]],
        ["QTY", ["12", "6"]], ["UNT", "11", "1"]],
    ("edifact", "D96A", "INVOIC"): [
        ["UNH", "1", ["INVOIC", "D", "96A", "UN"]], ["BGM", "380", "INV1", "9"],
        ["DTM", ["137", "20261127", "102"]], ["LIN", "1", "", ["4006381333931", "EN"]], ["QTY", ["47", "6"]],
        ["UNS", "S"], ["MOA", ["77", "119.94"]], ["UNT", "8", "1"]],
    ("edifact", "D96A", "CONTRL"): [
        ["UNH", "1", ["CONTRL", "2", "2", "UN"]], ["UCI", "17", ["5450534000024", "14"], ["4012345000009", "14"], "4"],
        ["UCM", "1", ["ORDERS", "D", "96A", "UN"], "4"], ["UCS", "5", "13"], ["UCD", "12", ["2", "1"]],
        ["UNT", "6", "1"]],
}


def spec_for(key: tuple[str, str, str]):  # type: ignore[no-untyped-def]
    spec = load_spec_for(*key)
    assert spec is not None, key
    return spec


def codes(findings) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [(f.code, f.segment_position, f.segment_id, f.element, f.x12_segment, f.x12_element, f.edifact)
            for f in findings]


def test_every_shipped_spec_loads() -> None:
    assert check_rules_tree() == []


@pytest.mark.parametrize("key", sorted(VALID), ids=lambda k: "-".join(k))
def test_valid_transaction_has_no_findings(key: tuple[str, str, str]) -> None:
    assert codes(validate_transaction(VALID[key], spec_for(key))) == []


@pytest.mark.parametrize("key", sorted(VALID), ids=lambda k: "-".join(k))
def test_missing_mandatory_header_segment(key: tuple[str, str, str]) -> None:
    tx = copy.deepcopy(VALID[key])
    missing = tx.pop(1)[0]
    found = codes(validate_transaction(tx, spec_for(key)))
    assert found[0][:3] == ("segment_missing", 2, missing)
    assert found[0][4] == "3" and found[0][6] == "13"


@pytest.mark.parametrize("key", sorted(VALID), ids=lambda k: "-".join(k))
def test_unknown_segment_is_unrecognized(key: tuple[str, str, str]) -> None:
    tx = copy.deepcopy(VALID[key])
    tx.insert(2, ["ZZQ", "1"])
    assert codes(validate_transaction(tx, spec_for(key))) == [
        ("segment_unrecognized", 3, "ZZQ", None, "1", None, "15")]


@pytest.mark.parametrize("key", sorted(VALID), ids=lambda k: "-".join(k))
def test_trailer_before_body_is_out_of_order(key: tuple[str, str, str]) -> None:
    tx = copy.deepcopy(VALID[key])
    tx.insert(1, copy.deepcopy(tx[-1]))  # the trailer right after the header: what follows is out of order
    found = codes(validate_transaction(tx, spec_for(key)))
    assert ("segment_out_of_order", 3, tx[2][0], None, "7", None, "15") in found


PO850 = ("x12", "004010", "850")


@pytest.mark.parametrize(
    ("position", "segment", "expected"),
    [
        (2, ["BEG", "00", "NE", "2K4XQ9TZ", "", "20261301"], ("element_bad_date", 2, "BEG", 5, "8", "8", "12")),
        (2, ["BEG", "0", "NE", "2K4XQ9TZ", "", "20261126"], ("element_too_short", 2, "BEG", 1, "8", "4", "40")),
        (2, ["BEG", "00", "NE", "X" * 23, "", "20261126"], ("element_too_long", 2, "BEG", 3, "8", "5", "39")),
        (2, ["BEG", "09", "NE", "2K4XQ9TZ", "", "20261126"], ("element_bad_code", 2, "BEG", 1, "8", "7", "12")),
        (2, ["BEG", "00", "NE", "", "", "20261126"], ("element_missing", 2, "BEG", 3, "8", "1", "13")),
        (8, ["PO1", "1", "6x", "EA", "19.99"], ("element_bad_character", 8, "PO1", 2, "8", "6", "21")),
        (8, ["PO1", "1", "6", "EA", "19.99", "PE", "UP"], ("element_conditional_missing", 8, "PO1", 7, "8", "2", "13")),
        (7, ["N1", "ST", "", "92", "ABE2", "", "", "X"], ("element_too_many", 7, "N1", 7, "8", "3", "16")),
        (4, ["CSH", "N", "", "", "", "", "", "", "", "", "", "X"], ("element_too_many", 4, "CSH", 11, "8", "3", "16")),
        (5, ["DTM", "064", "20261128", "2561"], ("element_bad_time", 5, "DTM", 3, "8", "9", "12")),
        (3, ["REF", "CR", "A", "", ["VN", "X"], "Z"], ("element_too_many", 3, "REF", 5, "8", "3", "16")),
    ],
)
def test_850_element_errors(position: int, segment: list, expected: tuple) -> None:
    tx = copy.deepcopy(VALID[PO850])
    tx[position - 1] = segment
    assert codes(validate_transaction(tx, spec_for(PO850))) == [expected]


def test_850_exclusion_and_repetition() -> None:
    spec = spec_for(PO850)
    tx = copy.deepcopy(VALID[PO850])
    tx[7] = ["PO1", "1", "6", "EA", "19.99", "PE", "UP", "012345678905", Repeats(["A", "B"])]
    found = codes(validate_transaction(tx, spec))
    assert ("element_too_many_repetitions", 8, "PO1", 8, "8", "6", "35") in found  # 4010 has no repeats: 997 code 6


def test_850_max_use_and_loop_repeats() -> None:
    spec = spec_for(PO850)
    tx = copy.deepcopy(VALID[PO850])
    tx[3:3] = [["CSH", "N"]] * 5  # CSH max 5 -> the sixth is over
    assert codes(validate_transaction(tx, spec)) == [("segment_over_max", 9, "CSH", None, "5", None, "35")]
    tx = copy.deepcopy(VALID[PO850])
    tx[9:9] = [["CTT", "1"], ["CTT", "1"]]  # the CTT loop may occur once
    found = codes(validate_transaction(tx, spec))
    assert ("loop_over_max", 11, "CTT", None, "4", None, "36") in found


def test_850_missing_mandatory_loop_reports_where_it_was_expected() -> None:
    tx = [s for s in VALID[PO850] if s[0] not in ("PO1", "CTP")]
    found = validate_transaction(tx, spec_for(PO850), interchange=0, group=0, index=3)
    assert codes(found) == [("segment_missing", 8, "PO1", None, "3", None, "13")]
    assert (found[0].interchange, found[0].group, found[0].transaction, found[0].x12_transaction) == (0, 0, 3, "5")


def test_850_segment_from_another_set() -> None:
    tx = copy.deepcopy(VALID[PO850])
    tx.insert(3, ["BIG", "20261127", "INV1"])
    assert codes(validate_transaction(tx, spec_for(PO850))) == [
        ("segment_not_in_set", 4, "BIG", None, "6", None, "15")]


def test_850_loop_tree() -> None:
    tree = build_tree(VALID[PO850], spec_for(PO850))
    assert [lp.id for lp in tree.loops()] == ["N1", "PO1", "PO1", "CTT"]
    po1 = tree.loops("PO1")[0]
    assert po1.segment("PO1")[2] == "6" and po1.loops("CTP")[0].position == 9
    assert tree.segment("BEG")[3] == "2K4XQ9TZ"


@pytest.mark.parametrize(
    "order",
    [
        ["S", "O", "P", "I"],
        ["S", "O", "T", "P", "I"],
        ["I", "P", "O", "S"],  # levels sent children first: nested by HL02 all the same
    ],
)
def test_856_hl_hierarchy_nested_by_parent(order: list[str]) -> None:
    ids = {lvl: str(i + 1) for i, lvl in enumerate(["S", "O", "T", "P", "I"])}
    parent = {"S": "", "O": "1", "T": "2", "P": "3" if "T" in order else "2", "I": "4"}
    body: T = []
    for lvl in order:
        body.append(["HL", ids[lvl], parent[lvl], lvl])
        if lvl == "I":
            body += [["LIN", "", "UP", "012345678905"], ["SN1", "", "6", "EA"]]
    tx = [["ST", "856", "0001"], ["BSN", "00", "SHIP1", "20261127", "0900"], *body, ["SE", str(len(body) + 3), "0001"]]
    spec = spec_for(("x12", "005010", "856"))
    assert validate_transaction(tx, spec) == []
    tree = build_tree(tx, spec)
    (ship,) = tree.loops("HL")
    chain = [ship.hl_level]
    node = ship
    while node.loops("HL"):
        (node,) = node.loops("HL")
        chain.append(node.hl_level)
    assert chain == [lvl for lvl in ["S", "O", "T", "P", "I"] if lvl in order]
    assert tree.hl_levels("I")[0].segment("SN1")[2] == "6"


def test_856_cross_dock_orders_and_bad_parent() -> None:
    body = [["HL", "1", "", "S"]]
    n = 1
    for _po in range(2):
        n += 1
        order = str(n)
        body += [["HL", order, "1", "O"], ["PRF", f"PO{order}"]]
        for _c in range(2):
            n += 1
            body += [["HL", str(n), order, "P"], ["HL", str(n + 1), str(n), "I"], ["SN1", "", "1", "EA"]]
            n += 1
    body.append(["HL", "99", "77", "I"])
    tx = [["ST", "856", "0001"], ["BSN", "00", "SHIP1", "20261127", "0900"], *body, ["SE", str(len(body) + 3), "0001"]]
    spec = spec_for(("x12", "005010", "856"))
    found = validate_transaction(tx, spec)
    assert codes(found) == [("hl_parent_unknown", len(tx) - 1, "HL", 2, "8", "7", "12")]
    tree = build_tree(tx, spec)
    orders = tree.loops("HL")[0].loops("HL")
    assert [o.segment("PRF")[1] for o in orders] == ["PO2", "PO7"]
    assert all(len(o.loops("HL")) == 2 for o in orders)


def test_edifact_composite_errors_name_component() -> None:
    key = ("edifact", "D96A", "ORDERS")
    tx = copy.deepcopy(VALID[key])
    tx[5] = ["QTY", ["21", "six"]]
    tx[2] = ["DTM", ["", "20261126", "102"]]
    found = codes(validate_transaction(tx, spec_for(key)))
    assert found == [("element_missing", 3, "DTM", 1, "8", "1", "13"),
                     ("element_bad_character", 6, "QTY", 1, "8", "6", "21")]
    f = validate_transaction(tx, spec_for(key))[1]
    assert f.component == 2


def test_partner_override_tightens_and_extends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    override = {
        "usage": {"CSH": "M", "N1": "M"},
        "elements": {"BEG02": {"codes": ["NE", "CN", "NP", "RO"]}, "BEG03": {"max": 8}},
        "segment_defs": {"ZZA": {"elements": ["127 M AN 1/10 Partner reference"]}},
        "add": [{"after": "PO1/CTP", "item": "ZZA O 1"}],
    }
    spec = load_spec_for("x12", "004010", "850", override)
    tx = copy.deepcopy(VALID[PO850])
    tx[1] = ["BEG", "00", "SA", "2K4XQ9TZ0", "", "20261126"]
    del tx[3]  # CSH, now mandatory
    tx.insert(8, ["ZZA", "X1"])  # after CTP inside the PO1 loop
    found = codes(validate_transaction(tx, spec))
    assert ("element_bad_code", 2, "BEG", 2, "8", "7", "12") in found
    assert ("element_too_long", 2, "BEG", 3, "8", "5", "39") in found
    assert ("segment_missing", 4, "CSH", None, "3", None, "13") in found
    assert not any(c[2] == "ZZA" for c in found)
    assert codes(validate_transaction(VALID[PO850], load_spec_for("x12", "004010", "850"))) == []  # base untouched
