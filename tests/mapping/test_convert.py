"""Conversions: partner timezone, implied decimals, number formats, padding."""

from __future__ import annotations

from gateway.mapping.convert import INBOUND, OUTBOUND, Runtime


def _in(name: str, value: object, arg: str | None = None, tz: str = "America/New_York") -> object:
    return INBOUND[name](arg)(value, Runtime(tz))


def _out(name: str, value: object, arg: str | None = None, tz: str = "America/New_York") -> object:
    return OUTBOUND[name](arg)(value, Runtime(tz))


def test_dates_and_times_carry_the_partner_timezone() -> None:
    assert _in("date", "20261127") == "2026-11-27"
    assert _in("date", "261127", "YYMMDD") == "2026-11-27"
    assert _in("datetime", ("20260704", "0930")) == "2026-07-04T09:30:00-04:00"
    assert _in("datetime", ("20261127", "0930")) == "2026-11-27T09:30:00-05:00"
    assert _in("date", "202611271430", "203", tz="Europe/Luxembourg") == "2026-11-27T14:30:00+01:00"
    # A UTC instant is written in the partner's local time.
    assert _out("date", "2026-11-28T03:30:00+00:00") == "20261127"
    assert _out("time", "2026-11-28T03:30:00+00:00") == "2230"
    assert _out("date", "2026-11-27", "YYMMDD") == "261127"


def test_implied_decimals_and_numbers_are_exact() -> None:
    assert _out("implied", "161.67", "2") == "16167"
    assert _out("implied", 12, "2") == "1200"
    assert _in("implied", "16167", "2") == "161.67"
    assert _in("implied", "-325", "2") == "-3.25"
    assert _in("num", "019.500") == "19.5"
    assert _out("decimal", "4.5", "2") == "4.50"
    assert _out("num", "0.1") == "0.1"
    assert _in("int", "0042") == 42


def test_bad_values_become_findings() -> None:
    rt = Runtime("UTC")
    assert INBOUND["date"](None)("20261340", rt) is None
    assert OUTBOUND["num"](None)(0.1, rt) is None  # floats are refused: money is never binary
    assert [f.code for f in rt.findings] == ["mapping_bad_date", "mapping_bad_number"]
    rt2 = Runtime("UTC")
    OUTBOUND["implied"]("2")("1.005", rt2)
    assert rt2.findings[0].code == "mapping_precision_lost"


def test_padding_and_text() -> None:
    assert _out("pad", "42", "6") == "000042"
    assert _out("rpad", "AB", "4") == "AB  "
    assert _out("max", "ABCDEFG", "3") == "ABC"
    assert _in("lstrip0", "000123") == "123"
