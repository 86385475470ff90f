"""Loading mappings: YAML with line numbers -> a compiled ``Mapping``, cached until the file changes.

Layout under the mappings directory::

    amazon/850-purchase_order.yaml          one mapping; its name is the path without .yaml
    amazon/codes.yaml                       shared code tables (``include_codes: [amazon/codes.yaml]``)
    partners/<partner>/amazon/850-purchase_order.yaml   a partner's override of a few keys

An override is merged key by key over the shipped file (``fields:`` of inbound and reshape mappings;
``codes:``; for outbound ``segments:`` a mapping from a segment's ``id:`` to its replacement), so a
partner changes one field without copying the file. Every mistake is collected and raised together
as ``MappingError`` (file, line, key).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from gateway.mapping.compiled import Mapping
from gateway.mapping.convert import INBOUND, OUTBOUND, RESHAPE
from gateway.mapping.fields import CompileCtx, compile_object
from gateway.mapping.outbound import OutCompiler
from gateway.mapping.schemas import KINDS, schema
from gateway.mapping.sources import EdiSource, JsonSource
from gateway.rules.specload import load_spec_for
from gateway.yamlfile import Located, Problem, ProblemsError, load

DEFAULT_MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"
TOP_KEYS = {"direction", "document", "standard", "version", "transaction", "association", "description",
            "include_codes", "codes", "fields", "derived", "segments", "output", "xml"}


class MappingError(ProblemsError):
    """A mapping that cannot be used; ``problems`` name the file, line and key of each mistake."""


_cache: dict[tuple[Any, ...], Mapping] = {}


def mapping_file(name: str, mappings_dir: Path) -> Path:
    return Path(mappings_dir) / f"{name}.yaml"


def _stamp(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def load_mapping(name: str, mappings_dir: Path | str | None = None, overrides: dict[str, Any] | None = None) -> Mapping:
    """The compiled mapping ``name`` (e.g. "amazon/850-purchase_order"); cached while its files are unchanged."""
    root = Path(mappings_dir) if mappings_dir is not None else DEFAULT_MAPPINGS_DIR
    path = mapping_file(name, root)
    if ".." in Path(name).parts or Path(name).is_absolute():
        raise MappingError([Problem(str(path), None, "", f"mapping name {name!r} must stay inside the mappings folder")])
    key = (str(path.resolve()), _stamp(path), json.dumps(overrides, sort_keys=True, default=str) if overrides else "")
    hit = _cache.get(key)
    if hit is not None and all(_stamp(p) == t for p, t in hit.deps):
        return hit
    mapping = compile_mapping(name, load(path), root, overrides)
    _cache[key] = mapping
    return mapping


def load_partner_mapping(name: str, mappings_dir: Path | str, partner: str) -> Mapping:
    """``name`` with the partner's override file (``partners/<partner>/<name>.yaml``) applied when it exists."""
    root = Path(mappings_dir)
    override = root / "partners" / partner / f"{name}.yaml"
    if not override.exists():
        return load_mapping(name, root)
    data = load(override).data or {}
    if not isinstance(data, dict):
        raise MappingError([Problem(str(override), 1, "", "an override must be a mapping of keys")])
    return load_mapping(name, root, data)


def merge(base: Any, over: Any) -> Any:
    """``over`` merged into ``base`` (dicts key by key; outbound segments by ``id``)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if k == "segments" and isinstance(v, dict) and isinstance(base.get(k), list):
                out[k] = _merge_segments(base[k], v)
            else:
                out[k] = merge(base.get(k), v) if k in base else v
        return out
    return copy.deepcopy(over)


def _merge_segments(items: list[Any], by_id: dict[str, Any]) -> list[Any]:
    out = []
    for item in items:
        if isinstance(item, dict) and item.get("id") in by_id:
            repl = by_id[item["id"]]
            if repl is not None:
                out.append({**repl, "id": item["id"]})
            continue
        if isinstance(item, dict) and isinstance(item.get("segments"), list):
            item = {**item, "segments": _merge_segments(item["segments"], by_id)}
        out.append(item)
    return out


def _codes(doc: Located, data: dict[str, Any], root: Path, problems: list[Problem], deps: list[Path]) -> dict:
    tables: dict[str, dict[str, Any]] = {}
    for i, inc in enumerate(data.get("include_codes") or []):
        p = root / str(inc)
        try:
            shared = load(p)
        except ProblemsError as exc:
            problems.append(doc.problem(("include_codes", i), f"cannot load shared code tables {inc}: "
                                        + "; ".join(str(x) for x in exc.problems)))
            continue
        deps.append(p)
        _add_tables(shared, shared.data if isinstance(shared.data, dict) else {}, (), tables, problems)
    _add_tables(doc, data.get("codes") or {}, ("codes",), tables, problems)
    return tables


def _add_tables(doc: Located, raw: Any, at: tuple, tables: dict, problems: list[Problem]) -> None:
    if not isinstance(raw, dict):
        problems.append(doc.problem(at, "code tables must be a mapping of table name -> {code: value}"))
        return
    for name, table in raw.items():
        if not isinstance(table, dict):
            problems.append(doc.problem(at + (name,), "a code table is a mapping {code: value}"))
            continue
        bad = [k for k in table if not isinstance(k, str)]
        if bad:
            problems.append(doc.problem(at + (name,), f"codes {bad} must be quoted strings (YAML reads 00 as a number)"))
        tables[str(name)] = {str(k): v for k, v in table.items()}


def compile_mapping(name: str, doc: Located, root: Path, overrides: dict[str, Any] | None = None) -> Mapping:
    data = doc.data
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise MappingError([doc.problem((), "a mapping file is a YAML mapping (direction:, document:, ...)")])
    if overrides:
        data = merge(data, overrides)
    for k in data:
        if k not in TOP_KEYS:
            problems.append(doc.problem((k,), f"unknown key (known: {', '.join(sorted(TOP_KEYS))})"))
    direction = data.get("direction")
    if direction not in ("inbound", "outbound", "reshape"):
        problems.append(doc.problem(("direction",), "direction must be inbound, outbound or reshape"))
    kind = data.get("document")
    if kind not in KINDS:
        problems.append(doc.problem(("document",), f"unknown document kind {kind!r} (kinds: {', '.join(KINDS)})"))
    std = data.get("standard")
    if direction in ("inbound", "outbound"):
        if std not in ("x12", "edifact"):
            problems.append(doc.problem(("standard",), "standard must be x12 or edifact"))
        for k in ("version", "transaction"):
            if not data.get(k):
                problems.append(doc.problem((k,), f"{k} is required for an {direction} mapping"))
    if problems:
        raise MappingError(problems)
    deps: list[Path] = [Path(doc.file)]
    tables = _codes(doc, data, root, problems, deps)
    ttype = str(data.get("transaction")) if data.get("transaction") is not None else None
    version = str(data.get("version")) if data.get("version") is not None else None
    spec = load_spec_for(std, version or "", ttype or "") if direction != "reshape" and std else None
    m = Mapping(name=name, file=Path(doc.file), direction=direction, document=kind, standard=std, version=version,
                transaction_type=ttype, association=data.get("association"), output=str(data.get("output", "json")),
                spec=spec)
    sch = schema(kind)
    if direction == "outbound":
        ctx = CompileCtx(doc, JsonSource(sch), OUTBOUND, tables, problems)
        oc = OutCompiler(ctx, sch, kind)
        m._segments = oc.items(data.get("segments"), ("segments",))
        m.used_tags = frozenset(oc.tags)
        if spec is not None:
            for tag in sorted(oc.tags):
                if tag not in spec.segments:
                    problems.append(doc.problem(("segments",), f"segment {tag} is not part of {spec.transaction} "
                                                f"({spec.standard} {spec.version})"))
    else:
        source = EdiSource(spec) if direction == "inbound" else JsonSource(sch)
        ctx = CompileCtx(doc, source, INBOUND if direction == "inbound" else RESHAPE, tables, problems)
        raw = data.get("fields")
        if not isinstance(raw, dict):
            problems.append(doc.problem(("fields",), "fields: is required, a mapping of output names"))
        else:
            m._fields = compile_object(ctx, raw, ("fields",), "")
        m.derived = _derived(doc, data.get("derived"), kind, problems)
        if isinstance(source, EdiSource):
            m.used_tags = frozenset(source.used)
            m.hints = (source.triggers, source.tag_scope)
        if m.output == "xml":
            m._xml = data.get("xml") or {}
            if not isinstance(m._xml, dict) or "root" not in m._xml:
                problems.append(doc.problem(("xml",), "xml output needs xml: {root: Name, namespaces: {...}}"))
    m.explained = ctx.explained
    if problems:
        raise MappingError(problems)
    m.deps = [(p, _stamp(p)) for p in deps]
    return m


def _derived(doc: Located, raw: Any, kind: str, problems: list[Problem]) -> list[tuple[str, Any]]:
    """``derived: {field: expression}``: fields computed from the finished document, in order."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        problems.append(doc.problem(("derived",), "derived: is a mapping of field -> expression"))
        return []
    from gateway.mapping.expr import ExprError, compile_expr

    out = []
    for name, text in raw.items():
        try:
            out.append((str(name), compile_expr(str(text), kind)))
        except ExprError as exc:
            problems.append(doc.problem(("derived", name), f"expression '{text}': {exc}"))
    return out


def check_mappings_tree(mappings_dir: Path | str) -> list[Problem]:
    """Compile every shipped mapping (not partner overrides alone); return all problems (for config check)."""
    root = Path(mappings_dir)
    problems: list[Problem] = []
    for p in sorted(root.rglob("*.yaml")):
        rel = p.relative_to(root)
        if rel.parts[0] == "partners" or p.name == "codes.yaml" or rel.parts[-2:-1] == ("codes",):
            continue
        try:
            load_mapping(str(rel.with_suffix("")).replace(os.sep, "/"), root)
        except ProblemsError as exc:
            problems.extend(exc.problems)
    return problems
