"""Any byte string gives a clear result (a tree, or findings), never an exception or a hang."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.edi import iter_transactions, parse, same_tree, write
from gateway.edi.parser import ParseResult
from tests.edi.samples import ISA_5010, edifact, x12

SEEDS = [x12(pos=2), x12(isa=ISA_5010, term="\n", sep=""), edifact(), edifact(una=False, syntax="UNOC:3")]


def check(data: bytes) -> ParseResult:
    r = parse(data)
    assert isinstance(r, ParseResult)
    assert r.ok == (not any(f.severity == "error" for f in r.findings))
    assert len(r.findings) <= 1001
    for f in r.findings:
        assert f.code and f.message
        assert f.offset is None or 0 <= f.offset <= len(data)
    if r.ok:
        for ic in r.interchanges:
            again = parse(write(ic))
            assert same_tree(again.interchanges[0], ic)
    return r


@st.composite
def mutated(draw, seeds=SEEDS):
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "cut"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.sampled_from(b"*~>^:+'?\r\n \x00\xff0A"))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(max_size=8))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 20))]
        elif op == "dup":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 200))]
        else:
            del data[pos:]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_fixtures_give_a_tree_or_findings(data):
    r = check(data)
    reader = iter_transactions(data, chunk_size=97)
    items = list(reader)
    assert len(items) == len(r.transactions())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(data):
    check(data)
    check(b"ISA*" + data)
    check(b"UNA:+.? 'UNB+" + data)


def test_truncated_at_every_offset():
    for data in (x12(pos=1), edifact(messages=1)):
        for cut in range(len(data)):
            r = check(data[:cut])
            full_trailer_left = data[cut:].strip() in (b"~", b"'", b"")
            assert r.ok == full_trailer_left, (cut, data[cut:], [f.code for f in r.findings])


def test_a_separator_inside_an_envelope_element_is_reported_not_raised() -> None:
    """GS, ST, SE, GE and IEA have simple elements only. A component (``>``) or repetition (``^``)
    separator inside one used to be split into a list that crashed the envelope checks. Now the checks
    read the plain text (a changed control number or count is a mismatch) and the tree keeps the split,
    so a segment that passes writes back as it came."""
    good = x12(pos=1).decode()
    cases = (("GS*PO*AMAZON*ACMEVENDOR*20260115*1200*1*", "GS*PO*AMAZON*ACMEVENDOR*20260115*1200*>1*", True),
             ("ST*850*0001", "ST*850*00>01", True), ("SE*7*0001", "SE*7*00>01", True), ("GE*1*1", "GE*1*>1", True),
             ("IEA*1*000000001", "IEA*1^1*000000001", True),
             ("GS*PO*AMAZON*", "GS*PO*AMA>ZON*", False))  # no check reads GS02: parses clean, round-trips
    for old, new, mismatch in cases:
        assert old in good, old
        result = check(good.replace(old, new, 1).encode())  # no exception; round trip when clean
        assert bool(result.findings) == mismatch, (new, [f.line() for f in result.findings])


def test_digits_outside_ascii_are_not_numbers() -> None:
    """``str.isdigit`` is true for '²' and other Unicode digits that ``int`` refuses; counts, control
    numbers, dates, times and GS1 check digits must treat them as bad values, not crash on them."""
    from gateway.rules.elements import _valid_date, _valid_time
    from gateway.rules.functions import gtin_ok

    data = x12(pos=1).decode().replace("IEA*1*000000001", "IEA*1*²00000001").encode("utf-8")
    result = check(data)
    assert any("IEA02" in f.line() for f in result.findings), [f.line() for f in result.findings]
    assert not _valid_date("2026011²") and not _valid_date("26011²") and not _valid_time("12³0")
    assert not gtin_ok("0123456789²2") and gtin_ok("012345678905")


def test_findings_stay_capped_with_a_decoder_warning_in_front() -> None:
    from gateway.edi.x12_reader import MAX_FINDINGS

    body = "".join(f"UNH+{n}+ORDERS:D:96A:UN'UNT+9+{n + 1}'" for n in range(1, 1200))
    data = f"UNA:+.? 'UNB+UNOA:3+S:14+R:14+260115:1200+1'{body}UNZ+1+2'".encode() + "é".encode("latin-1")
    result = check(data)
    assert result.findings[0].code == "invalid_characters"
    assert len(result.findings) == MAX_FINDINGS + 1 and result.findings[-1].code == "too_many_findings"


def test_a_separator_inside_a_segment_tag_is_reported_and_the_tag_stays_text() -> None:
    """The component separator inside a segment tag used to turn the tag into a list that the structure
    validation could not look up. Now the reader reports it (AK3 code 1) and the tag stays text."""
    from gateway.rules import validate_parse_result

    for old, new in (("PO1*1*3*EA", "P>O1*1*3>1*EA"), ("PO1*1*3*EA", "P>O1*1*3*EA")):
        data = x12(pos=1).decode().replace(old, new, 1).encode()
        result = check(data)
        bad = [f for f in result.findings if f.code == "segment_tag_invalid"]
        assert len(bad) == 1 and bad[0].x12_segment == "1" and not result.ok, [f.line() for f in result.findings]
        tags = [seg[0] for ic in result.interchanges for g in ic.groups for t in g.transactions for seg in t.segments]
        assert "P>O1" in tags and all(isinstance(t, str) for t in tags)
        assert any(f.code == "segment_unrecognized" for f in validate_parse_result(result))
    edi = edifact().decode().replace("LIN+1++", "L:IN+1++", 1).encode("latin-1")
    result = check(edi)
    assert any(f.code == "segment_tag_invalid" for f in result.findings), [f.line() for f in result.findings]


def test_a_repetition_inside_the_message_identifier_reads_as_text() -> None:
    """UNH S009 with the repetition separator inside (syntax 4) used to fail joining a nested list."""
    data = b"UNA:+.?*'UNB+UNOC:4+S:14+R:14+260115:1200+1'UNH+1+ORD*ERS:D:96A:UN'BGM+220+PO1+9'UNT+3+1'UNZ+1+1'"
    result = check(data)
    (_, _, t), = result.transactions()
    assert isinstance(t.type, str) and isinstance(t.version, str) and t.type == "ORD"


def test_released_characters_next_to_a_repeat_inside_a_component() -> None:
    """With a release character in the input, values are unescaped; a repeat nested inside a component
    (broken syntax 4 input) used to fail there, in UNB and in body segments alike."""
    data = (b"UNA:+.?*'UNB+UNOC:4+S?+X*Y:14+R:14+260115:1200+1'UNH+1+ORDERS:D:96A:UN'"
            b"BGM+220+PO?+1+9'LIN+1++A*B:EN'UNT+4+1'UNZ+1+1'")
    result = check(data)
    (ic, _, t), = result.transactions()
    assert t.type == "ORDERS" and ["BGM", "220", "PO+1", "9"] in t.segments
    assert ic.sender.startswith("S+X")
