"""The functions rule expressions may call, with the types the load-time checker needs.

``documents`` and ``key_used`` ask the document index (cross-document rules); ``today``/``now`` use
the clock and the partner's timezone given to ``RulePack.check``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import re2

from gateway.rules.schema import SCHEMAS, ListT

ANY = "any"


@dataclass(frozen=True)
class FnSpec:
    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int
    returns: Any  # a type, or a function of the argument types
    const_args: dict[int, Callable[[str], Any]] = field(default_factory=dict)
    needs_ctx: bool = False
    doc: str = ""


def _list_t(item: Any) -> Any:
    return ListT(item)


def _item_of(t: Any) -> Any:
    return getattr(t, "item", ANY)


def _dec(x: Any) -> Decimal:
    if x is None or x == "":
        raise ValueError("D(): the value is missing")
    return x if isinstance(x, Decimal) else Decimal(str(x))


def _sum(xs: Any) -> Decimal:
    total = Decimal(0)
    for x in xs:
        total += _dec(x)
    return total


def gs1_check_digit_ok(code: Any) -> bool:
    """GS1 mod-10 check (GTIN-8/12/13/14, SSCC-18)."""
    if not isinstance(code, str) or not (code.isascii() and code.isdigit()) or len(code) < 2:
        return False
    body, check = code[:-1], int(code[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def gtin_ok(code: Any) -> bool:
    return isinstance(code, str) and len(code) in (8, 12, 13, 14) and gs1_check_digit_ok(code)


def sscc_ok(code: Any) -> bool:
    if isinstance(code, str) and len(code) == 20 and code.startswith("00"):
        code = code[2:]  # with the GS1-128 application identifier
    return isinstance(code, str) and len(code) == 18 and gs1_check_digit_ok(code)


def _matches(pattern: Any, value: Any) -> bool:
    return isinstance(value, str) and pattern.search(value) is not None


def _compile_regex(text: str) -> Any:
    try:
        return re2.compile(text)
    except re2.error as exc:
        raise ValueError(f"bad regular expression: {exc}") from None


def _to_date(x: Any) -> date:
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    return date.fromisoformat(str(x)[:10])


def _to_datetime(x: Any) -> datetime:
    return x if isinstance(x, datetime) else datetime.fromisoformat(str(x))


def _today(ctx: Any) -> date:
    return ctx.env.now.astimezone(ctx.env.tz).date()


def _now(ctx: Any) -> datetime:
    return ctx.env.now


def _local_date(ctx: Any, x: Any) -> date:
    if isinstance(x, datetime):
        return (x if x.tzinfo else x.replace(tzinfo=ctx.env.tz)).astimezone(ctx.env.tz).date()
    return _to_date(x)


def _kind(text: str) -> str:
    if text not in SCHEMAS:
        raise ValueError(f"unknown document kind '{text}' (kinds: {', '.join(sorted(SCHEMAS))})")
    return text


def _key_kind(text: str) -> str:
    kinds = ("invoice_number", "shipment_id", "sscc", "po_number")
    if text not in kinds:
        raise ValueError(f"unknown key kind '{text}' (kinds: {', '.join(kinds)})")
    return text


def _documents(ctx: Any, kind: str, po_number: Any) -> tuple:
    return ctx.env.documents(kind, po_number)


def _key_used(ctx: Any, key_kind: str, value: Any, within: Any) -> bool:
    return ctx.env.key_used(key_kind, value, within)


def _flatten(xss: Any) -> tuple:
    return tuple(x for xs in xss if xs for x in xs)


def _cartons(order: Any) -> tuple:
    out = list(order.cartons or ())
    for pallet in order.pallets or ():
        out.extend(pallet.cartons or ())
    return tuple(out)


def _duplicates(xs: Any) -> tuple:
    seen: set[Any] = set()
    dup: list[Any] = []
    for x in xs:
        if x in seen and x not in dup:
            dup.append(x)
        seen.add(x)
    return tuple(dup)


def _money(x: Any) -> Decimal:
    return _dec(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _minmax(f: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if len(args) == 1:
            items = [a for a in args[0] if a is not None]
            return f(items) if items else None
        return f(args)

    return call


_cartons_ret = _list_t(SCHEMAS["ship_notice"]["orders"][0]["cartons"][0])

FUNCTIONS: dict[str, FnSpec] = {
    f.name: f
    for f in [
        FnSpec("D", _dec, 1, 1, "dec", doc="exact decimal of a number or decimal string"),
        FnSpec("sum", _sum, 1, 1, "dec", doc="exact decimal sum"),
        FnSpec("len", len, 1, 1, "int"),
        FnSpec("count", len, 1, 1, "int"),
        FnSpec("any", any, 1, 1, "bool"),
        FnSpec("all", all, 1, 1, "bool"),
        FnSpec("min", _minmax(min), 1, 2, lambda t: _item_of(t[0]) if len(t) == 1 else t[0]),
        FnSpec("max", _minmax(max), 1, 2, lambda t: _item_of(t[0]) if len(t) == 1 else t[0]),
        FnSpec("abs", abs, 1, 1, lambda t: t[0]),
        FnSpec("money", _money, 1, 1, "dec", doc="round half up to cents"),
        FnSpec("str", lambda x: "" if x is None else str(x), 1, 1, "str"),
        FnSpec("upper", lambda s: (s or "").upper(), 1, 1, "str"),
        FnSpec("strip", lambda s: (s or "").strip(), 1, 1, "str"),
        FnSpec("is_set", lambda x: x is not None and x != "" and x != (), 1, 1, "bool"),
        FnSpec("coalesce", lambda a, b: b if a is None or a == "" else a, 2, 2, lambda t: t[0]),
        FnSpec("gtin_ok", gtin_ok, 1, 1, "bool", doc="GTIN-8/12/13/14 with a valid GS1 check digit"),
        FnSpec("sscc_ok", sscc_ok, 1, 1, "bool", doc="SSCC-18 (optionally with AI 00) with a valid check digit"),
        FnSpec("matches", _matches, 2, 2, "bool", const_args={0: _compile_regex}, doc="RE2 search"),
        FnSpec("date", _to_date, 1, 1, "date"),
        FnSpec("datetime", _to_datetime, 1, 1, "datetime"),
        FnSpec("days", lambda n: timedelta(days=int(n)), 1, 1, "duration"),
        FnSpec("hours", lambda n: timedelta(hours=int(n)), 1, 1, "duration"),
        FnSpec("today", _today, 0, 0, "date", needs_ctx=True, doc="today in the partner's timezone"),
        FnSpec("now", _now, 0, 0, "datetime", needs_ctx=True),
        FnSpec("local_date", _local_date, 1, 1, "date", needs_ctx=True, doc="the date in the partner's timezone"),
        FnSpec("documents", _documents, 2, 2, lambda t: _list_t(SCHEMAS[t[0][1]]), const_args={0: _kind},
               needs_ctx=True, doc="stored documents of a kind for a PO, oldest first"),
        FnSpec("key_used", _key_used, 3, 3, "bool", const_args={0: _key_kind}, needs_ctx=True,
               doc="whether another document used this key within the duration"),
        FnSpec("flatten", _flatten, 1, 1, lambda t: _list_t(_item_of(_item_of(t[0])))),
        FnSpec("cartons", _cartons, 1, 1, _cartons_ret, doc="an order's cartons, loose and on pallets"),
        FnSpec("duplicates", _duplicates, 1, 1, lambda t: t[0]),
        FnSpec("unique", lambda xs: tuple(dict.fromkeys(xs)), 1, 1, lambda t: t[0], doc="distinct values, in order"),
        FnSpec("first", lambda xs: xs[0] if xs else None, 1, 1, lambda t: _item_of(t[0])),
        FnSpec("last", lambda xs: xs[-1] if xs else None, 1, 1, lambda t: _item_of(t[0])),
    ]
}
