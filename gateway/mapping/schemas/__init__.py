"""Canonical document schemas: one JSON Schema per document kind, shipped beside this file.

``validate(doc)`` checks a canonical document against the schema of its ``document`` kind and returns
findings (never raises on a bad document). The schemas are compiled once (fastjsonschema generates a
plain Python function per schema), so validation costs microseconds per document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema

from gateway.edi.findings import Finding

HERE = Path(__file__).resolve().parent
KINDS: tuple[str, ...] = (
    "purchase_order", "po_acknowledgement", "po_change", "ship_notice", "invoice", "functional_ack",
    "inventory", "remittance", "return_authorization",
)


@cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one document kind (KeyError for an unknown kind)."""
    if kind not in KINDS:
        raise KeyError(kind)
    return json.loads((HERE / f"{kind}.json").read_text(encoding="utf-8"))


@cache
def _validator(kind: str) -> Callable[[Any], Any]:
    return fastjsonschema.compile(schema(kind))


def _path(name: str) -> str:
    """fastjsonschema names 'data.lines[0].quantity'; we say 'lines[0].quantity'."""
    return name[5:] if name.startswith("data.") else ("" if name == "data" else name)


def validate(doc: Any) -> list[Finding]:
    """Findings for ``doc`` against its kind's schema; [] when it conforms."""
    if not isinstance(doc, dict):
        return [Finding("schema_not_object", "a canonical document must be a JSON object", level="business")]
    kind = doc.get("document")
    if kind not in KINDS:
        return [Finding("schema_unknown_document", f"unknown document kind {kind!r}; expected one of "
                        f"{', '.join(KINDS)}", level="business", path="document", value=kind)]
    try:
        _validator(kind)(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        path = _path(exc.name or "")
        return [Finding("schema_violation", f"{kind}: {path or 'document'} {exc.message.removeprefix(exc.name or '').strip()}",
                        level="business", path=path or None, rule_id=exc.rule,
                        value=exc.value if isinstance(exc.value, str | int | bool) else None)]
    return []


__all__ = ["KINDS", "schema", "validate"]
