"""Conversions ("pipes"): dates with the partner's timezone, implied decimals, numbers, padding, codes.

A mapping names them after a value: ``BEG05 | date``, ``$total | implied:2``. Each name is compiled once
into a function ``f(value, rt) -> value``; ``rt`` is the per-document runtime (timezone, findings, path).
Inbound pipes read EDI text into canonical values; outbound pipes write canonical values as EDI text.
A conversion that fails reports a finding and yields ``None``, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from gateway.edi.findings import Finding

Pipe = Callable[[Any, Any], Any]


class Runtime:
    """Per-document state the compiled mapping threads through: timezone, findings, coverage."""

    __slots__ = ("tz", "tzname", "findings", "seen", "path", "counts", "root", "hl", "stack")

    def __init__(self, tzname: str = "UTC", seen: set[tuple[int, int]] | None = None) -> None:
        self.tzname = tzname
        self.tz = _zone(tzname)
        self.findings: list[Finding] = []
        self.seen = seen
        self.path = ""
        self.counts: dict[str, int] = {}
        self.root: Any = None
        self.stack: list[Any] = []  # outbound: the enclosing array items, innermost last
        self.hl: list[Any] = [0, []]  # outbound HL numbering: last id, stack of open HL segments

    def problem(self, code: str, message: str, path: str, value: Any = None, severity: str = "error") -> None:
        self.findings.append(Finding(code, message, level="business", severity=severity,  # type: ignore[arg-type]
                                     path=path or None, value=value))


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def dec_str(d: Decimal) -> str:
    """A Decimal as a plain decimal string: no exponent, no trailing fractional zeros."""
    if d == d.to_integral_value():
        return str(d.quantize(Decimal(1)))
    s = format(d.normalize(), "f")
    return s


def _decimal(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, bool) or isinstance(v, float):
        raise InvalidOperation(f"not a decimal: {v!r}")
    return Decimal(str(v).strip())


# ---------------------------------------------------------------- inbound: EDI text -> canonical values

def _in_date(arg: str | None) -> Pipe:
    fmt = (arg or "").upper()

    def conv(v: Any, rt: Runtime) -> Any:
        s = v.strip() if isinstance(v, str) else ""
        try:
            if fmt in ("", "CCYYMMDD", "102") and len(s) == 8:
                return date(int(s[:4]), int(s[4:6]), int(s[6:8])).isoformat()
            if fmt in ("", "YYMMDD", "101") and len(s) == 6:
                return date(2000 + int(s[:2]), int(s[2:4]), int(s[4:6])).isoformat()
            if fmt in ("", "203", "CCYYMMDDHHMM") and len(s) == 12:
                return _in_datetime_text(s[:8], s[8:], rt)
        except ValueError:
            pass
        rt.problem("mapping_bad_date", f"{s!r} is not a date ({fmt or 'CCYYMMDD'})", rt.path, s)
        return None

    return conv


def _in_datetime_text(d: str, t: str, rt: Runtime) -> str:
    t = (t or "0000").ljust(4, "0")
    dt = datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(t[:2]), int(t[2:4]),
                  int(t[4:6]) if len(t) >= 6 else 0, tzinfo=rt.tz)
    return dt.isoformat()


def _in_datetime(arg: str | None) -> Pipe:
    def conv(v: Any, rt: Runtime) -> Any:
        d, t = (v[0], v[1] if len(v) > 1 else "") if isinstance(v, tuple | list) else (v, "")
        try:
            if len(d) == 12 and not t:
                d, t = d[:8], d[8:]
            return _in_datetime_text(d, t or "", rt)
        except (ValueError, TypeError):
            rt.problem("mapping_bad_date", f"{d!r} {t!r} is not a date and time", rt.path, f"{d} {t}".strip())
            return None

    return conv


def _in_number(places: int | None, implied: int = 0) -> Pipe:
    def conv(v: Any, rt: Runtime) -> Any:
        try:
            d = _decimal(v)
        except (InvalidOperation, ValueError):
            rt.problem("mapping_bad_number", f"{v!r} is not a number", rt.path, v)
            return None
        if implied:
            d = d.scaleb(-implied)
        if places is not None:
            return format(d.quantize(Decimal(1).scaleb(-places)), "f")
        return dec_str(d)

    return conv


def _in_int(_: str | None) -> Pipe:
    def conv(v: Any, rt: Runtime) -> Any:
        try:
            d = _decimal(v)
            if d != d.to_integral_value():
                raise InvalidOperation
            return int(d)
        except (InvalidOperation, ValueError):
            rt.problem("mapping_bad_number", f"{v!r} is not a whole number", rt.path, v)
            return None

    return conv


def _text(fn: Callable[[str], str]) -> Callable[[str | None], Pipe]:
    def factory(_: str | None) -> Pipe:
        return lambda v, rt: fn(v) if isinstance(v, str) else v
    return factory


def _pad(arg: str | None, right: bool = False, fill: str = "0") -> Pipe:
    width = int(arg or "0")
    if right:
        return lambda v, rt: str(v).ljust(width, " ")
    return lambda v, rt: str(v).rjust(width, fill)


def _max(arg: str | None) -> Pipe:
    width = int(arg or "0")
    return lambda v, rt: str(v)[:width]


def _bool_in(_: str | None) -> Pipe:
    table = {"Y": True, "N": False, "1": True, "0": False, "TRUE": True, "FALSE": False}

    def conv(v: Any, rt: Runtime) -> Any:
        r = table.get(str(v).strip().upper())
        if r is None:
            rt.problem("mapping_bad_flag", f"{v!r} is not Y or N", rt.path, v)
        return r

    return conv


INBOUND: dict[str, Callable[[str | None], Pipe]] = {
    "date": _in_date,
    "datetime": _in_datetime,
    "num": lambda a: _in_number(None),
    "decimal": lambda a: _in_number(int(a) if a else None),
    "implied": lambda a: _in_number(None, int(a or "2")),
    "int": _in_int,
    "bool": _bool_in,
    "strip": _text(str.strip),
    "upper": _text(str.upper),
    "lower": _text(str.lower),
    "lstrip0": _text(lambda s: s.lstrip("0") or "0"),
    "pad": _pad,
    "rpad": lambda a: _pad(a, right=True),
    "max": _max,
}

# ---------------------------------------------------------------- outbound: canonical values -> EDI text


def _parse_iso(v: Any, rt: Runtime) -> datetime | date | None:
    if isinstance(v, datetime | date):
        return v
    s = str(v)
    try:
        if len(s) == 10:
            return date.fromisoformat(s)
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        return dt.astimezone(rt.tz) if dt.tzinfo else dt
    except ValueError:
        rt.problem("mapping_bad_date", f"{s!r} is not an ISO 8601 date", rt.path, s)
        return None


def _out_date(arg: str | None) -> Pipe:
    fmt = {"": "%Y%m%d", "CCYYMMDD": "%Y%m%d", "102": "%Y%m%d", "YYMMDD": "%y%m%d", "101": "%y%m%d",
           "203": "%Y%m%d%H%M", "CCYYMMDDHHMM": "%Y%m%d%H%M"}.get((arg or "").upper(), arg or "%Y%m%d")

    def conv(v: Any, rt: Runtime) -> Any:
        d = _parse_iso(v, rt)
        if d is None:
            return None
        if not isinstance(d, datetime):
            d = datetime.combine(d, time(0))
        return d.strftime(fmt)

    return conv


def _out_time(arg: str | None) -> Pipe:
    fmt = "%H%M%S" if (arg or "").upper() == "HHMMSS" else "%H%M"

    def conv(v: Any, rt: Runtime) -> Any:
        d = _parse_iso(v, rt)
        if d is None or not isinstance(d, datetime):
            return "0000" if d is not None else None
        return d.strftime(fmt)

    return conv


def _out_number(places: int | None, implied: int = 0, integer: bool = False) -> Pipe:
    def conv(v: Any, rt: Runtime) -> Any:
        try:
            d = _decimal(v)
        except (InvalidOperation, ValueError):
            rt.problem("mapping_bad_number", f"{v!r} is not a decimal number (decimal string or integer)",
                       rt.path, v if isinstance(v, str | int) else repr(v))
            return None
        if implied:
            d = d.scaleb(implied)
            if d != d.to_integral_value():
                rt.problem("mapping_precision_lost", f"{v} has more than {implied} decimals", rt.path, str(v))
            return str(d.quantize(Decimal(1)))
        if integer:
            return str(d.quantize(Decimal(1)))
        if places is not None:
            return format(d.quantize(Decimal(1).scaleb(-places)), "f")
        return dec_str(d)

    return conv


def _bool_out(_: str | None) -> Pipe:
    return lambda v, rt: ("Y" if v else "N") if isinstance(v, bool) else v


OUTBOUND: dict[str, Callable[[str | None], Pipe]] = {
    "date": _out_date,
    "time": _out_time,
    "num": lambda a: _out_number(None),
    "decimal": lambda a: _out_number(int(a) if a else None),
    "implied": lambda a: _out_number(None, int(a or "2")),
    "int": lambda a: _out_number(None, integer=True),
    "bool": _bool_out,
    "strip": _text(str.strip),
    "upper": _text(str.upper),
    "lower": _text(str.lower),
    "pad": _pad,
    "rpad": lambda a: _pad(a, right=True),
    "max": _max,
}

# Reshape (JSON -> JSON/XML) keeps canonical values; only text helpers and number formats apply.
RESHAPE: dict[str, Callable[[str | None], Pipe]] = {
    "num": lambda a: _out_number(None),
    "decimal": lambda a: _out_number(int(a) if a else None),
    "int": _in_int,
    "float_text": lambda a: _out_number(None),
    "strip": _text(str.strip),
    "upper": _text(str.upper),
    "lower": _text(str.lower),
    "pad": _pad,
    "max": _max,
    "string": lambda a: (lambda v, rt: v if isinstance(v, str) else str(v)),
}
