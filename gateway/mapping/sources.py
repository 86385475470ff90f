"""Where field values come from: the EDI loop tree (inbound) or a canonical JSON document (reshape).

The EDI source checks every selector against the transaction's structure spec at load: a segment that
the set does not have, or an element beyond the segment's last, is refused with the mapping's file and
line. The JSON source checks paths against the canonical schema of the document kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.mapping.convert import Runtime
from gateway.mapping.edipath import Selector, SelectorError, compile_each, compile_value, parse_selector
from gateway.rules.spec import LoopNode, Spec, iter_nodes


class EdiSource:
    def __init__(self, spec: Spec | None) -> None:
        self.spec = spec
        self.loop_ids: set[str] = set()
        self.used: set[str] = set()
        # Where the mapping reads each tag (chain of loop trigger tags): builds a loop tree from the
        # mapping itself when no structure spec is shipped for the transaction set.
        self.scope: list[str] = []
        self.triggers: dict[str, tuple[str, ...]] = {}
        self.tag_scope: dict[str, set[tuple[str, ...]]] = {}
        if spec is not None:
            self.loop_ids = {n.id for n in iter_nodes(spec.structure) if isinstance(n, LoopNode)}

    def _check(self, sel: Selector) -> None:
        spec = self.spec
        for step in sel.steps:
            self.used.add(step.tag)
            if spec is None or step.tag == "**":
                continue
            if step.tag not in spec.segments and step.tag not in self.loop_ids:
                where = "is not part of transaction set" if step.tag in spec.known_tags else "is not a segment of"
                raise SelectorError(f"'{sel.text}': segment {step.tag} {where} {spec.transaction} "
                                    f"({spec.standard} {spec.version})")
        ref = sel.element
        last = sel.steps[-1].tag
        if spec is None or ref is None or last not in spec.segments:
            return
        elements = spec.segments[last].elements
        if ref.element > len(elements) or ref.element < 1:
            raise SelectorError(f"'{sel.text}': {last} has {len(elements)} elements, there is no {last}{ref.element:02d}")
        comps = elements[ref.element - 1].components
        if ref.component is not None and comps is not None and ref.component > len(comps):
            raise SelectorError(f"'{sel.text}': {last}{ref.element:02d} has {len(comps)} components")

    def _note(self, sel: Selector, element: bool) -> None:
        chain = list(self.scope)
        steps = sel.steps[:-1] if element else sel.steps
        for st in steps:
            if st.tag != "**":
                self.triggers.setdefault(st.tag, _norm(chain))
                chain.append(st.tag)
        if element:
            last = sel.steps[-1].tag
            if last not in self.triggers or self.triggers[last] != _norm(chain):
                self.tag_scope.setdefault(last, set()).add(_norm(chain))
        else:
            self.scope = chain

    def value(self, text: str) -> Callable[[Any, Runtime], Any]:
        sel = parse_selector(text, need_element=True)
        self._check(sel)
        self._note(sel, True)
        fn = compile_value(sel)
        return lambda scope, rt: fn(scope, rt.seen)

    def each(self, text: str) -> Callable[[Any, Runtime], list[Any]]:
        sel = parse_selector(text, need_element=False)
        self._check(sel)
        self._note(sel, False)
        fn = compile_each(sel)
        return lambda scope, rt: fn(scope, rt.seen)


def _norm(chain: list[str]) -> tuple[str, ...]:
    """HL loops are nested by HL02 later, so every HL level reads as one 'HL' scope."""
    out: list[str] = []
    for t in chain:
        if t == "HL" and "HL" in out:
            continue
        out.append(t)
    if "HL" in out:
        out = out[out.index("HL"):]
    return tuple(out)


def schema_fields(schema: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    """The sub-schema at ``path`` (list items are stepped through), or None when the path is not declared."""
    node = schema
    for part in path:
        while node.get("type") == "array" or "items" in node:
            node = node.get("items", {})
        if "$ref" in node:
            node = _ref(schema, node["$ref"])
        props = node.get("properties")
        if props is None:
            return {} if node.get("additionalProperties") not in (None, False) else None
        if part not in props:
            extra = node.get("additionalProperties")
            if extra is None or extra is False:
                return None
            return {}
        node = props[part]
    while "items" in node:
        node = node["items"]
    if "$ref" in node:
        node = _ref(schema, node["$ref"])
    return node


def _ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


class JsonPath:
    """``a.b.c`` relative to the current object, ``/a.b`` from the document root."""

    def __init__(self, text: str, schema: dict[str, Any] | None, scope_path: list[str]) -> None:
        t = text.strip()
        self.text = t
        self.absolute = t.startswith("/")
        parts = [p for p in t.lstrip("/").split(".") if p]
        if not parts:
            raise SelectorError(f"'{text}' is not a field path")
        self.parts = tuple(parts)
        if schema is not None:
            full = parts if self.absolute else scope_path + parts
            if schema_fields(schema, full) is None:
                raise SelectorError(f"'{text}': the document has no field {'.'.join(full)}")

    def getter(self) -> Callable[[Any, Any], Any]:
        parts, absolute = self.parts, self.absolute

        def get(scope: Any, root: Any) -> Any:
            v = root if absolute else scope
            for p in parts:
                if not isinstance(v, dict):
                    return None
                v = v.get(p)
                if v is None:
                    return None
            return v

        return get


class JsonSource:
    """Reads canonical JSON; scope tracking keeps relative paths checkable against the schema."""

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self.schema = schema
        self.scope: list[str] = []

    def value(self, text: str) -> Callable[[Any, Runtime], Any]:
        get = JsonPath(text, self.schema, self.scope).getter()
        return lambda scope, rt: get(scope, rt.root)

    def each(self, text: str) -> Callable[[Any, Runtime], list[Any]]:
        jp = JsonPath(text, self.schema, self.scope)
        get = jp.getter()
        self.scope = list(jp.parts) if jp.absolute else self.scope + list(jp.parts)

        def each(scope: Any, rt: Runtime) -> list[Any]:
            v = get(scope, rt.root)
            return v if isinstance(v, list) else ([v] if isinstance(v, dict) else [])

        return each
