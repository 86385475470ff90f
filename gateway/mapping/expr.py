"""Mapping expressions, in the same safe, exact language as business rules (``gateway.rules.expr``).

Compiled once at load into a Python function over a read-only view of the document; names are checked
against the document kind's fields then, so a typo is refused at load. Used by outbound templates
(``"=sum(D(l.quantity) for l in lines)"``, with ``item`` for the current array item) and by the
``derived:`` section of inbound mappings (fields computed from the finished document).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gateway.mapping.convert import dec_str
from gateway.rules.expr import Compiler, Context, ExprError, runtime_globals
from gateway.rules.schema import SCHEMAS, _freeze_map, freeze

__all__ = ["ExprError", "compile_expr", "plain"]


class _Env:
    """What ``today()``/``now()`` need: the partner's timezone. No index: mappings do not look documents up."""

    def __init__(self, tz: str) -> None:
        self.now = datetime.now(UTC)
        self.tz = ZoneInfo(tz or "UTC")
        self.index = None

    def documents(self, kind: str, po_number: Any) -> tuple:
        return ()

    def key_used(self, *args: Any) -> bool:
        return False


def compile_expr(text: str, kind: str, with_item: bool = False) -> Callable[[Any, Any, str], Any]:
    """``fn(frozen_doc, item, tz) -> value``; ExprError (with offset) on a mistake."""
    consts: dict[str, Any] = {}
    scope = {"item": ("_item", "map")} if with_item else {}
    src, _ = Compiler(SCHEMAS.get(kind, {}), scope, consts).compile(text)
    g = runtime_globals(consts)
    fn = eval(compile(f"lambda _doc, _item, _ctx: {src}", "<mapping expression>", "eval"), g)  # checked source only

    def run(doc: Any, item: Any, tz: str) -> Any:
        return fn(doc, _freeze_map(item) if item is not None else None, Context(_Env(tz)))

    return run


def frozen(doc: dict[str, Any]) -> Any:
    kind = doc.get("document") or ""
    if kind not in SCHEMAS:
        return _freeze_map(doc)
    return freeze(doc, SCHEMAS[kind], "", [])


def plain(v: Any) -> Any:
    """An expression result as canonical JSON: decimals as strings, dates in ISO 8601, tuples as lists."""
    if isinstance(v, Decimal):
        return dec_str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, tuple | list):
        return [plain(x) for x in v]
    return v
