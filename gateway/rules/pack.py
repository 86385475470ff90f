"""Business rule packs: YAML rules over canonical documents, compiled once, run per document.

A pack::

    pack: amazon/vendor
    params: {asn_days_past: 7}            # named constants the rules may use
    rules:
      - id: invoice.total
        document: invoice                 # or a list of kinds
        severity: error                   # error blocks, warning only reports
        for_each: lines                   # optional: check each item (orders/cartons for nested lists)
        as: line                          # the item's name (a list of names for nested steps)
        let: {computed: "sum(l.quantity * l.unit_price for l in lines)"}
        when: "currency == 'USD'"         # optional precondition
        assert: "total == computed"
        message: "invoice total {total} differs from the computed {computed}"
        path: total                       # optional JSON path of the finding (relative to the item)

Every mistake is reported at load with file, line and rule id; at run time a document that breaks a
rule, or that a rule cannot be evaluated on, yields findings, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.edi.findings import Finding
from gateway.rules.docindex import DocumentIndex
from gateway.rules.expr import Compiler, Context, ExprError, runtime_globals
from gateway.rules.schema import SCHEMAS, ListT, freeze, freeze_document
from gateway.rules.yamlsrc import Problem, RulesConfigError, check_keys, line_of, load_yaml

_RULE_KEYS = {"id", "document", "severity", "description", "for_each", "as", "let", "when", "assert", "message",
              "path"}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_STEPS = re.compile(r"^[a-z_][a-z0-9_]*(/[a-z_][a-z0-9_]*)*$")
_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_INDEX_FUNCTIONS = ("documents(", "key_used(")


@dataclass
class Rule:
    id: str
    kinds: tuple[str, ...]
    severity: str
    func: Any
    templates: tuple[str, ...]  # message text pieces between placeholders
    path: str
    needs_index: bool


@dataclass
class RulePack:
    name: str
    source: str
    rules: list[Rule] = field(default_factory=list)

    def rules_for(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if kind in r.kinds]

    def check(self, doc: dict[str, Any], index: DocumentIndex | None, now: datetime, partner_tz: str) -> list[Finding]:
        kind = doc.get("document") if isinstance(doc, dict) else None
        if kind not in SCHEMAS:
            return [Finding(code="unknown_document", message=f"no rules know document kind {kind!r}",
                            level="business", severity="error")]
        frozen, problems = freeze_document(doc, kind)
        findings = [Finding(code="invalid_value", message=msg, level="business", severity="error", path=path,
                            rule_id="schema") for path, msg in problems]
        env = _Env(doc, index, now, partner_tz)
        for rule in self.rules_for(kind):
            if rule.needs_index and index is None:
                continue
            ctx = Context(env)
            try:
                results = rule.func(frozen, ctx)
            except Exception as exc:  # a guard tripped outside any item: report, never raise
                results = [((), None, exc)]
            for indexes, values, exc in results:  # type: ignore[misc]  # a new loop variable, not the except clause's
                path = rule.path.format(*indexes) if indexes else rule.path.replace("{}", "")
                if exc is not None:
                    findings.append(Finding(
                        code=rule.id, rule_id=rule.id, level="business", severity=rule.severity, path=path or None,  # type: ignore[arg-type]  # checked to be error or warning at load
                        message=f"rule {rule.id} could not be evaluated: {type(exc).__name__}: {exc}"))
                    continue
                findings.append(Finding(code=rule.id, rule_id=rule.id, level="business", severity=rule.severity,  # type: ignore[arg-type]  # checked to be error or warning at load
                                        path=path or None, message=_render(rule.templates, values)))
        return findings


def _fmt(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, timedelta):
        hours = v.total_seconds() / 3600
        return f"{hours:g} h"
    if isinstance(v, tuple | list | frozenset | set):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def _render(templates: tuple[str, ...], values: tuple[Any, ...]) -> str:
    out = [templates[0]]
    for v, t in zip(values, templates[1:], strict=True):
        out.append(_fmt(v))
        out.append(t)
    return "".join(out)


class _Env:
    """What the compiled rules reach outside the document: the clock, the timezone and the index."""

    def __init__(self, doc: dict[str, Any], index: DocumentIndex | None, now: datetime, tz: str) -> None:
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.tz = _zone(tz)
        self.index = index
        self.partner = doc.get("partner") or ""
        self.doc_id = doc.get("doc_id")
        self._cache: dict[tuple[str, str], tuple] = {}

    def documents(self, kind: str, po_number: Any) -> tuple:
        if self.index is None or not po_number:
            return ()
        key = (kind, str(po_number))
        if key not in self._cache:
            found = self.index.documents_for_po(self.partner, str(po_number), kind)
            problems: list[tuple[str, str]] = []
            self._cache[key] = tuple(freeze(d, SCHEMAS[kind], kind, problems) for d in found
                                     if d.get("doc_id") is None or d.get("doc_id") != self.doc_id)
        return self._cache[key]

    def key_used(self, key_kind: str, value: Any, within: Any) -> bool:
        if self.index is None or value in (None, ""):
            return False
        since = self.now - (within if isinstance(within, timedelta) else timedelta(days=int(within)))
        return self.index.key_used(self.partner, key_kind, str(value), since,  # type: ignore[arg-type]
                                   exclude_doc_id=self.doc_id)


_zones: dict[str, Any] = {}


def _zone(name: str) -> Any:
    if name not in _zones:
        try:
            _zones[name] = ZoneInfo(name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            _zones[name] = UTC
    return _zones[name]


# ---------------------------------------------------------------------------------------------- loading


def _split_template(text: str) -> tuple[list[str], list[str]]:
    pieces, exprs, last = [], [], 0
    for m in _PLACEHOLDER.finditer(text):
        pieces.append(text[last : m.start()])
        exprs.append(m.group(1))
        last = m.end()
    pieces.append(text[last:])
    return pieces, exprs


def _compile_rule(raw: Any, i: int, file: str, params: dict[str, Any], consts: dict[str, Any],
                  problems: list[Problem]) -> Rule | None:
    rid = str(raw.get("id", f"rules[{i}]")) if isinstance(raw, dict) else f"rules[{i}]"
    before = len(problems)
    if not check_keys(raw, _RULE_KEYS, file, rid, problems, required=("id", "document", "assert", "message")):
        return None
    if not _ID.match(rid):
        problems.append(Problem(file, line_of(raw, "id"), rid, "a rule id is letters, digits, '.', '_' or '-'"))
    kinds = raw.get("document")
    kinds = tuple(str(k) for k in (kinds if isinstance(kinds, list) else [kinds]))
    for k in kinds:
        if k not in SCHEMAS:
            problems.append(Problem(file, line_of(raw, "document"), rid,
                                    f"unknown document '{k}' (kinds: {', '.join(sorted(SCHEMAS))})"))
    severity = str(raw.get("severity", "error"))
    if severity not in ("error", "warning"):
        problems.append(Problem(file, line_of(raw, "severity"), rid, f"severity '{severity}' is not error or warning"))
    if any(k not in SCHEMAS for k in kinds):
        return None
    root = dict(SCHEMAS[kinds[0]])
    for k in kinds[1:]:  # a rule over several kinds sees the fields they share
        root = {f: t for f, t in root.items() if f in SCHEMAS[k] and SCHEMAS[k][f] == t}
    scope: dict[str, Any] = {name: (f"_p_{name}", t) for name, (t, _) in params.items()}
    indent = "    "
    index_vars: list[str] = []
    path_parts: list[str] = []

    def expr(key: str, text: Any, sc: dict[str, Any]) -> tuple[str, Any] | None:
        try:
            return Compiler(root, sc, consts).compile(str(text) if text is not None else "")
        except ExprError as exc:
            col = f" at column {exc.offset}" if exc.offset else ""
            problems.append(Problem(file, line_of(raw, key), f"{rid}.{key}", f"{exc}{col}"))
            return None

    needs_index = any(f in str(raw.get(k, "")) for k in ("assert", "when", "let", "for_each", "message")
                      for f in _INDEX_FUNCTIONS)
    for_each = raw.get("for_each")
    names = raw.get("as", "it")
    names = [str(n) for n in (names if isinstance(names, list) else [names])]
    body_lines: list[str] = []
    if for_each is not None:
        text = str(for_each)
        if _STEPS.match(text):
            steps = text.split("/")
            if len(names) == 1 and len(steps) > 1:
                names = [f"_s{j}" for j in range(len(steps) - 1)] + names
            if len(names) != len(steps):
                problems.append(Problem(file, line_of(raw, "as"), f"{rid}.as", f"give {len(steps)} names for {len(steps)} steps"))
                return None
            current: Any = root
            source = "_doc"
            for j, (step, name) in enumerate(zip(steps, names, strict=True)):
                ftype = current.get(step) if isinstance(current, dict) else None
                if not isinstance(ftype, list):
                    problems.append(Problem(file, line_of(raw, "for_each"), f"{rid}.for_each",
                                            f"'{step}' is not a list field here"))
                    return None
                body_lines.append(f"{indent * (j + 1)}for _i{j}, _v_{name} in enumerate(_it(_ctx, {source}.{step})):")
                scope[name] = (f"_v_{name}", ftype[0])
                index_vars.append(f"_i{j}")
                path_parts.append(f"{step}[{{}}]")
                current, source = ftype[0], f"_v_{name}"
        else:
            compiled = expr("for_each", text, scope)
            if compiled is None:
                return None
            src, typ = compiled
            if not isinstance(typ, ListT) or len(names) != 1:
                problems.append(Problem(file, line_of(raw, "for_each"), f"{rid}.for_each",
                                        "must be a list field path (orders/cartons) or a list expression, with one name"))
                return None
            body_lines.append(f"{indent}for _i0, _v_{names[0]} in enumerate(_it(_ctx, {src})):")
            scope[names[0]] = (f"_v_{names[0]}", typ.item)
            index_vars.append("_i0")
            path_parts.append(f"{text}[{{}}]")
    depth = len(index_vars) + 1
    pad = indent * depth
    body_lines.append(f"{pad}try:")
    pad2 = pad + indent
    lets = raw.get("let") or {}
    if not isinstance(lets, dict):
        problems.append(Problem(file, line_of(raw, "let"), f"{rid}.let", "expected a mapping of name: expression"))
        return None
    for name, text in lets.items():
        if not re.match(r"^[a-z_][a-z0-9_]*$", str(name)) or name in root:
            problems.append(Problem(file, line_of(lets, name), f"{rid}.let.{name}", "a let name must be a new lowercase name"))
            continue
        compiled = expr("let", text, scope)
        if compiled:
            body_lines.append(f"{pad2}_l_{name} = {compiled[0]}")
            scope[str(name)] = (f"_l_{name}", compiled[1])
    when = raw.get("when")
    cond_pad = pad2
    if when is not None:
        compiled = expr("when", when, scope)
        if compiled:
            body_lines.append(f"{pad2}if {compiled[0]}:")
            cond_pad = pad2 + indent
    compiled = expr("assert", raw.get("assert"), scope)
    pieces, placeholders = _split_template(str(raw.get("message", "")))
    msg_srcs = []
    for ph in placeholders:
        c = expr("message", ph, scope)
        if c:
            msg_srcs.append(c[0])
    if len(problems) > before or compiled is None:
        return None
    idx = "(" + "".join(f"{v}, " for v in index_vars) + ")"
    body_lines.append(f"{cond_pad}if not ({compiled[0]}):")
    body_lines.append(f"{cond_pad}{indent}_out.append(({idx}, ({''.join(s + ', ' for s in msg_srcs)}), None))")
    body_lines.append(f"{pad}except Exception as _e:")
    body_lines.append(f"{pad2}_out.append(({idx}, None, _e))")
    source = "def _rule(_doc, _ctx):\n    _out = []\n" + "\n".join(body_lines) + "\n    return _out\n"
    g = runtime_globals(consts)
    g.update({f"_p_{name}": value for name, (_, value) in params.items()})
    exec(compile(source, f"<rule {rid}>", "exec"), g)  # the source is generated from checked expressions only
    item_path = ".".join(path_parts)
    rel = str(raw.get("path", "")) if raw.get("path") is not None else ""
    path = ".".join(p for p in (item_path, rel) if p)
    return Rule(rid, kinds, severity, g["_rule"], tuple(pieces), path, needs_index)


def _params(raw: Any, file: str, problems: list[Problem]) -> dict[str, tuple[str | ListT, Any]]:
    out: dict[str, tuple[str | ListT, Any]] = {}
    for name, value in (raw or {}).items():
        if isinstance(value, bool):
            out[str(name)] = ("bool", value)
        elif isinstance(value, int):
            out[str(name)] = ("int", value)
        elif isinstance(value, str):
            try:
                out[str(name)] = ("dec", Decimal(value)) if re.fullmatch(r"-?\d+\.\d+", value) else ("str", value)
            except ArithmeticError:
                out[str(name)] = ("str", value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[str(name)] = (ListT("str"), tuple(value))
        else:
            problems.append(Problem(file, line_of(raw, name), f"params.{name}", "a parameter is a number, text or list of text"))
    return out


def load_rule_pack(path: str | Path, text: str | None = None) -> RulePack:
    """Load and compile a rule pack; raise RulesConfigError listing every problem (file, line, rule id)."""
    file = str(path)
    data = load_yaml(path, text)
    problems: list[Problem] = []
    if not check_keys(data, {"pack", "description", "params", "rules"}, file, "", problems, required=("rules",)):
        raise RulesConfigError(problems)
    params = _params(data.get("params"), file, problems)
    consts: dict[str, Any] = {}
    pack = RulePack(str(data.get("pack", Path(file).stem)), file)
    seen: dict[str, int] = {}
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        problems.append(Problem(file, line_of(data, "rules"), "rules", "expected a list of rules"))
        raw_rules = []
    for i, raw in enumerate(raw_rules):
        rule = _compile_rule(raw, i, file, params, consts, problems)
        if rule is None:
            continue
        if rule.id in seen:
            problems.append(Problem(file, line_of(raw_rules, i), rule.id, f"duplicate rule id (first at line {seen[rule.id]})"))
        seen[rule.id] = line_of(raw_rules, i) or 0
        pack.rules.append(rule)
    if problems:
        raise RulesConfigError(problems)
    return pack
