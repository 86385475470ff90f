"""Compiling ``fields:`` (the output document's shape) into closures, for inbound and reshape mappings.

A field is one of::

    po_number: BEG03                                  # a selector, then optional pipes
    order_date: BEG05 | date
    currency: {from: CUR02, default: USD}             # the same, long form
    order_type: {from: BEG02, codes: order_type}      # code table (named, or inline {NE: RegularOrder})
    kind: {const: regular}
    ship_to: {in: "N1[01=ST]", fields: {...}}         # an object read inside one loop
    lines: {each: PO1, fields: {...}}                 # a list, one object per loop
    refs: {each: "REF[01=PD]", value: REF02}         # a list of values

``required: true`` turns a missing value into a finding naming the output path. Where values come from
is left to a *source* (EDI loop tree for inbound, canonical JSON for reshape), so both share this code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.mapping.convert import Pipe, Runtime
from gateway.yamlfile import Located, PathKey, Problem

MISSING: Any = object()
LEAF_KEYS = {"from", "const", "default", "required", "codes", "pipes"}
NODE_KEYS = {"fields", "in", "each", "value", "required", "when"}


class Source(Protocol):
    def value(self, text: str) -> Callable[[Any, Runtime], Any]: ...
    def each(self, text: str) -> Callable[[Any, Runtime], list[Any]]: ...


@dataclass
class Explained:
    output: str
    source: str
    conversions: list[str] = field(default_factory=list)


@dataclass
class CompileCtx:
    doc: Located
    source: Source
    pipes: dict[str, Callable[[str | None], Pipe]]
    codes: dict[str, dict[str, Any]]
    problems: list[Problem] = field(default_factory=list)
    explained: list[Explained] = field(default_factory=list)
    where: list[str] = field(default_factory=list)  # enclosing in:/each: selectors, for explain

    def fail(self, path: PathKey, message: str) -> None:
        self.problems.append(self.doc.problem(path, message))


Node = Callable[[Any, Runtime, str], Any]


def code_pipe(ctx: CompileCtx, spec: Any, path: PathKey, inverse: bool = False) -> Pipe | None:
    """A code-table lookup: an unknown code is a warning finding and passes through unchanged."""
    name = spec
    if isinstance(spec, dict):
        table = {str(k): v for k, v in spec.items()}
        name = "inline"
    else:
        inverse = inverse or str(spec).startswith("~")
        name = str(spec).lstrip("~")
        if name not in ctx.codes:
            ctx.fail(path, f"unknown code table '{name}' (tables: {', '.join(sorted(ctx.codes)) or 'none'})")
            return None
        table = ctx.codes[name]
    if inverse:
        inv: dict[str, Any] = {}
        for k, v in table.items():
            if k != "_default":
                inv.setdefault(_key(v), k)
        if "_default" in table:
            inv["_default"] = table["_default"]
        table = inv
    default = table.get("_default", MISSING)

    def lookup(v: Any, rt: Runtime) -> Any:
        r = table.get(_key(v), MISSING)
        if r is not MISSING:
            return r
        if default is not MISSING:
            return default
        rt.problem("mapping_code_unknown", f"code {v!r} is not in table '{name}'", rt.path, v, "warning")
        return v

    return lookup


def _key(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if v is not None else None


def parse_pipes(ctx: CompileCtx, items: list[tuple[str, Any]], path: PathKey) -> list[Pipe]:
    out: list[Pipe] = []
    for name, arg in items:
        if name == "codes":
            p = code_pipe(ctx, arg, path)
        elif name in ctx.pipes:
            try:
                p = ctx.pipes[name](None if arg in (None, True) else str(arg))
            except ValueError as exc:
                ctx.fail(path, f"conversion '{name}': {exc}")
                p = None
        else:
            ctx.fail(path, f"unknown conversion '{name}' (known: codes, {', '.join(sorted(ctx.pipes))})")
            p = None
        if p is not None:
            out.append(p)
    return out


def split_pipes(text: str) -> tuple[str, list[tuple[str, Any]]]:
    head, *rest = [p.strip() for p in text.split("|")]
    items = []
    for r in rest:
        name, _, arg = r.partition(":")
        items.append((name.strip(), arg.strip() or None))
    return head, items


def compile_leaf(ctx: CompileCtx, spec: Any, path: PathKey, out: str) -> Node:
    if isinstance(spec, str):
        spec = {"from": spec}
    unknown = set(spec) - LEAF_KEYS - set(ctx.pipes)
    if unknown:
        ctx.fail(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; a field takes from/const/default/"
                       f"required/codes or a conversion ({', '.join(sorted(ctx.pipes))})")
    if "const" in spec:
        const = spec["const"]
        ctx.explained.append(Explained(out, f"constant {const!r}"))
        return lambda scope, rt, p: const
    src = spec.get("from")
    if src is None:
        ctx.fail(path, "a field needs 'from' (a selector) or 'const'")
        return lambda scope, rt, p: MISSING
    items: list[tuple[str, Any]] = []
    getters: list[Callable[[Any, Runtime], Any]] = []
    texts = src if isinstance(src, list) else [src]
    for t in texts:
        head, piped = split_pipes(str(t))
        items.extend(piped)
        try:
            getters.append(ctx.source.value(head))
        except ValueError as exc:
            ctx.fail(path + ("from",), str(exc))
    for k, v in spec.items():
        if k not in LEAF_KEYS or k == "codes":
            items.append((str(k), v))
    pipes = parse_pipes(ctx, items, path)
    default = spec.get("default", MISSING)
    required = bool(spec.get("required", False))
    prefix = "".join(w + "/" for w in ctx.where)
    ctx.explained.append(Explained(out, " + ".join(prefix + split_pipes(str(t))[0] for t in texts),
                                   [n if a in (None, True) else f"{n}:{a if not isinstance(a, dict) else 'inline'}"
                                    for n, a in items] + ([f"default {default!r}"] if default is not MISSING else [])))
    single = getters[0] if len(getters) == 1 else None

    def leaf(scope: Any, rt: Runtime, p: str) -> Any:
        if single is not None:
            v = single(scope, rt)
        else:
            vals = tuple(g(scope, rt) for g in getters)
            v = None if vals[0] is None else vals
        if v is None:
            if default is not MISSING:
                return default
            if required:
                rt.problem("mapping_missing", f"{p} is required but {src} is absent", p)
            return MISSING
        if pipes:
            rt.path = p
            for f in pipes:
                v = f(v, rt)
                if v is None:
                    return MISSING if default is MISSING else default
        return v

    return leaf


def compile_node(ctx: CompileCtx, spec: Any, path: PathKey, out: str) -> Node:
    if isinstance(spec, dict) and ("fields" in spec or "each" in spec or "in" in spec):
        unknown = set(spec) - NODE_KEYS
        if unknown:
            ctx.fail(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; an object or list takes "
                           f"{', '.join(sorted(NODE_KEYS))}")
        return _compile_group(ctx, spec, path, out)
    if isinstance(spec, dict) and not (set(spec) & (LEAF_KEYS | set(ctx.pipes))):
        return compile_object(ctx, spec, path, out)  # a nested object written without 'fields:'
    if not isinstance(spec, str | dict):
        ctx.fail(path, "expected a selector string or a mapping")
        return lambda scope, rt, p: MISSING
    return compile_leaf(ctx, spec, path, out)


def compile_object(ctx: CompileCtx, spec: dict[str, Any], path: PathKey, out: str) -> Node:
    parts = [(str(k), compile_node(ctx, v, path + (k,), f"{out}.{k}" if out else str(k))) for k, v in spec.items()]

    def obj(scope: Any, rt: Runtime, p: str) -> Any:
        d: dict[str, Any] = {}
        for k, fn in parts:
            v = fn(scope, rt, f"{p}.{k}" if p else k)
            if v is not MISSING:
                d[k] = v
        return d if d else MISSING

    return obj


def _compile_group(ctx: CompileCtx, spec: dict[str, Any], path: PathKey, out: str) -> Node:
    required = bool(spec.get("required", False))
    if "fields" in spec and not isinstance(spec["fields"], dict):
        ctx.fail(path + ("fields",), "fields must be a mapping of output names")
        return lambda scope, rt, p: MISSING
    sel_key = "each" if "each" in spec else "in"
    sel = spec.get(sel_key)
    saved = list(getattr(ctx.source, "scope", []))
    try:
        many = ctx.source.each(str(sel)) if sel is not None else None
    except ValueError as exc:
        ctx.fail(path + (sel_key,), str(exc))
        many = None
    if sel is not None:
        ctx.where.append(str(sel))
    if "value" in spec:
        body = compile_node(ctx, spec["value"], path + ("value",), out + "[]")
    else:
        body = compile_object(ctx, spec.get("fields") or {}, path + ("fields",), out + ("[]" if "each" in spec else ""))
    if sel is not None:
        ctx.where.pop()
    if hasattr(ctx.source, "scope"):
        ctx.source.scope = saved
    if "each" in spec:
        def each(scope: Any, rt: Runtime, p: str) -> Any:
            items = many(scope, rt) if many else []
            res: list[Any] = []
            for s in items:
                v = body(s, rt, f"{p}[{len(res)}]")
                if v is not MISSING:
                    res.append(v)
            if not res:
                if required:
                    rt.problem("mapping_missing", f"{p} is required but {sel} matched nothing", p)
                return MISSING
            return res
        return each

    def within(scope: Any, rt: Runtime, p: str) -> Any:
        if many is None:
            v = body(scope, rt, p)
        else:
            items = many(scope, rt)
            v = body(items[0], rt, p) if items else MISSING
        if v is MISSING and required:
            rt.problem("mapping_missing", f"{p} is required but {sel or 'nothing'} matched nothing", p)
        return v
    return within
