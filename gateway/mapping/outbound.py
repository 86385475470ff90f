"""Outbound templates: canonical JSON -> the segments of one transaction, compiled once.

A template is a list of segments and groups::

    segments:
      - BIG: [$invoice_date|date, $invoice_number!, "", $po_number]
      - CUR: [SE, $currency]                    # a segment whose fields are all absent is left out
      - each: lines                             # one pass per array item; paths become relative
        segments:
          - IT1: [$line_number, $quantity|num, $uom, $unit_price|num, "",
                  {pairs: {UP: $product_ids.upc, EN: $product_ids.ean, VN: $product_ids.vendor_sku}}]
      - CTT: ["#count:IT1", "#sum:IT102"]       # counts and hash totals of what was written
      - hl: S                                   # an HL level: HL01/HL02/HL04 are numbered for you
        segments: [...]

Element values: a plain string is a constant; ``$path`` reads the document (``$/path`` from its root,
``!`` marks it required), followed by ``|conversion`` pipes; a list is a composite; ``{pairs: ...}``
writes qualifier/value pairs for the values present. ``$$`` writes a literal ``$``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from gateway.mapping.convert import Runtime, dec_str
from gateway.mapping.fields import CompileCtx, Explained, code_pipe, parse_pipes, split_pipes
from gateway.mapping.sources import JsonPath
from gateway.yamlfile import PathKey

TAG = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
GROUP_KEYS = {"each", "hl", "cps", "segments", "when", "id"}
SEG_OPTS = {"when", "id"}
_COUNT = re.compile(r"^#(count|sum):([A-Z][A-Z0-9]{1,2})(?:(\d{2}))?$")

class Default(str):
    """A value that came from a ``|default:`` rather than from the document."""

    __slots__ = ()


def rt_stack(rt: Any) -> list[Any]:
    return [rt.root, *rt.stack[1:]] if rt.stack else [rt.root]


Emit = Callable[[Any, Runtime, list[list[Any]]], None]


class OutCompiler:
    def __init__(self, ctx: CompileCtx, schema: dict[str, Any] | None, kind: str = "") -> None:
        self.ctx = ctx
        self.kind = kind
        self.schema = schema
        self.scope: list[str] = []
        self.tags: set[str] = set()

    # ------------------------------------------------------------------ values
    def ref(self, text: str, path: PathKey, where: str) -> Callable[[Any, Runtime], Any] | None:
        head, pipes = split_pipes(text[1:])
        defaults = [a for n, a in pipes if n == "default"]
        pipes = [(n, a) for n, a in pipes if n != "default"]
        fallback = defaults[-1] if defaults else None
        required = head.endswith("!")
        head = head.rstrip("!")
        up = head.startswith("^")  # ^field: the nearest enclosing item (or the document) that has it
        head = head.lstrip("^")
        try:
            if up:
                jp = self._up_path(head)
            else:
                jp = JsonPath(head, self.schema, self.scope)
        except ValueError as exc:
            self.ctx.fail(path, str(exc))
            return None
        get = jp.getter()
        if up:
            inner = get

            def get(scope: Any, root: Any) -> Any:
                for s in reversed(rt_stack(root)):
                    v = inner(s, root)
                    if v is not None:
                        return v
                return None
        fns = parse_pipes(self.ctx, pipes, path)
        full = ".".join(jp.parts if jp.absolute else [*self.scope, *jp.parts])
        self.ctx.explained.append(Explained(where, full, [n if a is None else f"{n}:{a}" for n, a in pipes]
                                            + (["required"] if required else [])))

        def value(scope: Any, rt: Runtime) -> Any:
            v = get(scope, rt if up else rt.root)
            if (v is None or v == "") and fallback is not None:
                return Default(fallback)
            if v is None or v == "":
                if required:
                    rt.problem("mapping_missing", f"{full} is required for {where}", full)
                return None
            if fns:
                rt.path = full
                for f in fns:
                    v = f(v, rt)
                    if v is None:
                        return None
            if v.__class__ is not str:
                v = ("Y" if v else "N") if isinstance(v, bool) else (dec_str(v) if isinstance(v, Decimal) else str(v))
            return v if v != "" else None

        return value

    def _up_path(self, head: str) -> JsonPath:
        for k in range(len(self.scope) - 1, -1, -1):
            try:
                return JsonPath(head, self.schema, self.scope[:k])
            except ValueError:
                continue
        raise ValueError(f"'^{head}': no enclosing object has the field {head}")

    def expression(self, text: str, path: PathKey, where: str) -> tuple[str, Any]:
        from gateway.mapping.expr import ExprError, compile_expr, frozen, plain

        try:
            fn = compile_expr(text, self.kind, with_item=bool(self.scope))
        except ExprError as exc:
            self.ctx.fail(path, f"expression '{text}': {exc}")
            return "lit", ""
        self.ctx.explained.append(Explained(where, f"= {text}"))

        def value(scope: Any, rt: Runtime) -> Any:
            doc = rt.counts.get("_frozen")
            if doc is None:
                doc = rt.counts["_frozen"] = frozen(rt.root)
            try:
                v = plain(fn(doc, scope if scope is not rt.root else None, rt.tzname))
            except (ArithmeticError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
                rt.problem("mapping_expression_failed", f"{where}: {text}: {exc}", rt.path)
                return None
            if v is None or v == "":
                return None
            return ("Y" if v else "N") if isinstance(v, bool) else str(v)

        return "ref", value

    def element(self, spec: Any, path: PathKey, where: str) -> tuple[str, Any]:
        if isinstance(spec, bool):
            self.ctx.fail(path, "write Y/N or a quoted constant, not a YAML boolean")
            return "lit", ""
        if isinstance(spec, int | float):
            return "lit", str(spec)
        if spec is None:
            return "lit", ""
        if isinstance(spec, str):
            if spec.startswith("$$"):
                return "lit", spec[1:]
            if spec.startswith("$"):
                fn = self.ref(spec, path, where)
                return ("ref", fn) if fn else ("lit", "")
            if spec.startswith("="):
                return self.expression(spec[1:], path, where)
            m = _COUNT.match(spec)
            if m:
                return "count", (m.group(1), m.group(2), int(m.group(3)) if m.group(3) else 0)
            if spec.startswith("#"):
                self.ctx.fail(path, f"'{spec}': expected #count:TAG or #sum:TAGnn")
            return "lit", spec
        if isinstance(spec, list):
            return "comp", [self.element(s, path + (i,), f"{where}.{i + 1}") for i, s in enumerate(spec)]
        if isinstance(spec, dict) and set(spec) == {"pairs"} and isinstance(spec["pairs"], dict):
            pairs = []
            for q, v in spec["pairs"].items():
                kind, fn = self.element(v, path + ("pairs", q), f"{where} after {q}")
                if kind != "ref":
                    self.ctx.fail(path + ("pairs", q), "a pair's value must be a $field")
                    continue
                pairs.append((str(q), fn))
            return "pairs", pairs
        if isinstance(spec, dict) and set(spec) == {"codes", "value"}:
            kind, fn = self.element(spec["value"], path + ("value",), where)
            lookup = code_pipe(self.ctx, spec["codes"], path + ("codes",))
            if kind != "ref" or lookup is None:
                return kind, fn

            def coded(scope: Any, rt: Runtime, fn: Any = fn, lookup: Any = lookup) -> Any:
                v = fn(scope, rt)
                return None if v is None else str(lookup(v, rt))
            return "ref", coded
        self.ctx.fail(path, "an element is a constant, a $field, a list (composite) or {pairs: {...}}")
        return "lit", ""

    # ------------------------------------------------------------------ segments and groups
    def segment(self, tag: str, elems: Any, path: PathKey) -> Emit:
        if not isinstance(elems, list):
            elems = [elems]
        self.tags.add(tag)
        compiled = [self.element(e, path + (i,), f"{tag}{i + 1:02d}") for i, e in enumerate(elems)]

        def run_elem(kind: str, arg: Any, scope: Any, rt: Runtime, out: list[list[Any]], acc: list[int]) -> Any:
            if kind == "lit":
                return arg
            if kind == "ref":
                acc[0] += 1
                v = arg(scope, rt)
                if v is None:
                    return ""
                if v.__class__ is Default:  # a default alone does not make the segment worth writing
                    return str(v)
                acc[1] += 1
                return v
            if kind == "count":
                what, ctag, pos = arg
                if what == "count":
                    return str(rt.counts.get(ctag, 0))
                total = Decimal(0)
                for s in out:
                    if s[0] == ctag and len(s) > pos and s[pos]:
                        total += Decimal(s[pos])
                return dec_str(total)
            if kind == "comp":
                parts = [run_elem(k, a, scope, rt, out, acc) for k, a in arg]
                while parts and parts[-1] == "":
                    parts.pop()
                return parts if len(parts) > 1 else (parts[0] if parts else "")
            raise AssertionError(kind)

        def emit(scope: Any, rt: Runtime, out: list[list[Any]]) -> None:
            seg: list[Any] = [tag]
            acc = [0, 0]
            for kind, arg in compiled:
                if kind == "pairs":
                    acc[0] += 1
                    for q, fn in arg:
                        v = fn(scope, rt)
                        if v is not None:
                            acc[1] += 1
                            seg.append(q)
                            seg.append(str(v) if v.__class__ is Default else v)
                    continue
                seg.append(run_elem(kind, arg, scope, rt, out, acc))
            if acc[0] and not acc[1]:
                return
            while len(seg) > 1 and seg[-1] == "":
                seg.pop()
            out.append(seg)
            rt.counts[tag] = rt.counts.get(tag, 0) + 1

        return emit

    def when(self, text: Any, path: PathKey) -> Callable[[Any, Runtime], bool] | None:
        if not isinstance(text, str) or not text.startswith("$"):
            self.ctx.fail(path, "when: expects a $field (true when present and not false/empty)")
            return None
        fn = self.ref(text, path, "when")
        if fn is None:
            return None
        return lambda scope, rt: (v := fn(scope, rt)) is not None and v not in ("N", "0", "false")

    def items(self, raw: Any, path: PathKey) -> list[Emit]:
        if not isinstance(raw, list):
            self.ctx.fail(path, "segments must be a list")
            return []
        return [e for i, item in enumerate(raw) if (e := self.item(item, path + (i,))) is not None]

    def item(self, item: Any, path: PathKey) -> Emit | None:
        if not isinstance(item, dict):
            self.ctx.fail(path, "expected a segment ({TAG: [elements]}) or a group ({each:/hl:, segments:})")
            return None
        tags = [k for k in item if isinstance(k, str) and TAG.match(k)]
        if tags:
            extra = set(item) - set(tags) - SEG_OPTS
            if len(tags) > 1 or extra:
                self.ctx.fail(path, f"one segment per list item (found {', '.join(map(str, item))})")
                return None
            emit = self.segment(tags[0], item[tags[0]], path + (tags[0],))
            cond = self.when(item["when"], path + ("when",)) if "when" in item else None
            if cond is None:
                return emit
            return lambda scope, rt, out: emit(scope, rt, out) if cond(scope, rt) else None
        unknown = set(item) - GROUP_KEYS
        if unknown or "segments" not in item:
            self.ctx.fail(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}" if unknown
                          else "a group needs segments:")
            return None
        return self.group(item, path)

    def group(self, item: dict[str, Any], path: PathKey) -> Emit:
        saved = list(self.scope)
        many = None
        if "each" in item:
            try:
                jp = JsonPath(str(item["each"]), self.schema, self.scope)
                many = jp.getter()
                self.scope = list(jp.parts) if jp.absolute else self.scope + list(jp.parts)
            except ValueError as exc:
                self.ctx.fail(path + ("each",), str(exc))
        cond = self.when(item["when"], path + ("when",)) if "when" in item else None
        level = str(item["hl"]) if "hl" in item else ("CPS" if item.get("cps") else None)
        cps = level == "CPS"
        body = self.items(item["segments"], path + ("segments",))
        self.scope = saved
        if level:
            self.tags.add("CPS" if cps else "HL")

        def once(scope: Any, rt: Runtime, out: list[list[Any]]) -> None:
            if cond is not None and not cond(scope, rt):
                return
            if level is None:
                for e in body:
                    e(scope, rt, out)
                return
            state = rt.hl
            state[0] += 1
            stack = state[1]
            if cps:  # EDIFACT consignment packing sequence: CPS+id+parent
                hl = ["CPS", str(state[0]), stack[-1][1]] if stack else ["CPS", str(state[0])]
            else:
                hl = ["HL", str(state[0]), stack[-1][1] if stack else "", level, "0"]
                if stack and stack[-1][0] == "HL":
                    stack[-1][4] = "1"
            out.append(hl)
            rt.counts[hl[0]] = rt.counts.get(hl[0], 0) + 1
            stack.append(hl)
            for e in body:
                e(scope, rt, out)
            stack.pop()

        if many is None:
            return once

        def each(scope: Any, rt: Runtime, out: list[list[Any]]) -> None:
            items = many(scope, rt.root)
            if isinstance(items, list):
                rt.stack.append(scope)
                for x in items:
                    once(x, rt, out)
                rt.stack.pop()

        return each
