"""Field types of the canonical documents that rule packs read, and their frozen views.

Rules name fields (``lines``, ``l.unit_price``); the compiler checks every name against these types when
a pack loads, and ``freeze`` turns a document dict into read-only objects with money and quantities as
``Decimal``, dates as ``date``/``datetime`` and lists as tuples, so a rule computes exactly and cannot
change the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class ListT:
    """The type of a list whose items are of type ``item`` (for the rule compiler)."""

    item: Any

# Type notation: "str" "dec" "int" "bool" "date" "datetime" "map" (free-form, unchecked),
# {field: type} an object, [type] a list.
PRODUCT_IDS = {k: "str" for k in ("asin", "upc", "ean", "gtin", "isbn", "vendor_sku", "buyer_sku")}
PARTY = {"id": "str", "qualifier": "str", "name": "str", "address": "map"}
COMMON = {"document": "str", "partner": "str", "doc_id": "str", "received_at": "datetime", "source": "map"}
AMOUNT = {"code": "str", "amount": "dec", "description": "str"}
ITEM = {"line_number": "str", "product_ids": PRODUCT_IDS, "quantity": "dec", "uom": "str", "lot": "str",
        "expiry": "date"}
CARTON = {"sscc": "str", "items": [ITEM]}

SCHEMAS: dict[str, dict[str, Any]] = {
    "purchase_order": {
        **COMMON, "po_number": "str", "purpose": "str", "order_type": "str", "order_date": "date",
        "currency": "str", "backorder_allowed": "bool",
        "ship_window": {"not_before": "date", "not_after": "date"},
        "ship_to": PARTY,
        "lines": [{"line_number": "str", "quantity": "dec", "uom": "str", "unit_price": "dec",
                   "product_ids": PRODUCT_IDS}],
    },
    "po_acknowledgement": {
        **COMMON, "po_number": "str", "status": "str", "ack_date": "date",
        "lines": [{"line_number": "str", "product_ids": PRODUCT_IDS, "unit_price": "dec",
                   "items": [{"status": "str", "quantity": "dec", "ship_date": "date", "reason": "str"}]}],
    },
    "ship_notice": {
        **COMMON, "shipment_id": "str", "ship_date": "datetime", "carrier": {"scac": "str"},
        "bill_of_lading": "str", "pro_number": "str", "ship_from": PARTY, "ship_to": PARTY,
        "orders": [{"po_number": "str", "pallets": [{"sscc": "str", "cartons": [CARTON]}], "cartons": [CARTON]}],
    },
    "invoice": {
        **COMMON, "invoice_number": "str", "invoice_date": "date", "po_number": "str", "currency": "str",
        "lines": [{"line_number": "str", "product_ids": PRODUCT_IDS, "quantity": "dec", "uom": "str",
                   "unit_price": "dec"}],
        "charges": [AMOUNT], "allowances": [AMOUNT], "taxes": [AMOUNT], "total": "dec",
    },
}


class Frozen:
    """Base of the generated read-only record classes (one per object type)."""

    __slots__: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("documents are read-only in rules")

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + "}"


class FrozenMap(dict):
    """A free-form mapping: attribute access, missing keys read as None, read-only."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)

    def _ro(self, *a: Any, **k: Any) -> None:
        raise TypeError("documents are read-only in rules")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _ro  # type: ignore[assignment]


_classes: dict[int, type] = {}


def record_class(fields: dict[str, Any]) -> type:
    key = id(fields)
    cls = _classes.get(key)
    if cls is None:
        cls = type("Record", (Frozen,), {"__slots__": tuple(fields)})
        _classes[key] = cls
    return cls


def _freeze_map(v: Any) -> Any:
    if isinstance(v, dict):
        return FrozenMap({k: _freeze_map(x) for k, x in v.items()})
    if isinstance(v, list):
        return tuple(_freeze_map(x) for x in v)
    return v


def _scalar(typ: str, v: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    if v is None:
        return None
    try:
        if typ == "dec":
            if isinstance(v, bool) or isinstance(v, float):
                raise InvalidOperation
            d = Decimal(str(v).strip()) if isinstance(v, str | int | Decimal) else None
            if d is None or not d.is_finite():
                raise InvalidOperation
            return d
        if typ == "str":
            return v if isinstance(v, str) else str(v)
        if typ == "int":
            return int(v)
        if typ == "bool":
            if isinstance(v, bool):
                return v
            raise ValueError
        if typ == "date":
            if isinstance(v, datetime):
                return v.date()
            if isinstance(v, date):
                return v
            return date.fromisoformat(v[:10]) if isinstance(v, str) else _raise()
        if typ == "datetime":
            if isinstance(v, datetime):
                return v
            return datetime.fromisoformat(v) if isinstance(v, str) else _raise()
        if typ == "map":
            return _freeze_map(v)
    except (InvalidOperation, ValueError, TypeError):
        problems.append((path, f"{path}: {v!r} is not a valid {typ}"))
        return v
    return v


def _raise() -> Any:
    raise ValueError


def freeze(value: Any, typ: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    """A read-only, typed view of ``value``; conversion problems are appended as (path, message)."""
    if isinstance(typ, dict):
        if value is None:
            return None
        if not isinstance(value, dict):
            problems.append((path, f"{path or 'document'}: expected an object"))
            return None
        cls = record_class(typ)
        obj: Frozen = object.__new__(cls)
        for name, ftyp in typ.items():
            object.__setattr__(obj, name, freeze(value.get(name), ftyp, f"{path}.{name}" if path else name, problems))
        return obj
    if isinstance(typ, list):
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            problems.append((path, f"{path}: expected a list"))
            return ()
        return tuple(freeze(v, typ[0], f"{path}[{i}]", problems) for i, v in enumerate(value))
    return _scalar(typ, value, path, problems)


def freeze_document(doc: dict[str, Any], kind: str | None = None) -> tuple[Any, list[tuple[str, str]]]:
    kind = kind or doc.get("document") or ""
    problems: list[tuple[str, str]] = []
    return freeze(doc, SCHEMAS[kind], "", problems), problems
