"""Loading structure specs from YAML: dictionaries, transaction specs and partner overrides.

Layout under the rules directory::

    x12/004010/segments.yaml     the segment dictionary of X12 4010
    x12/004010/850.yaml          the 850 transaction set
    edifact/D96A/ORDERS.yaml
    partners/<partner>/x12/004010/850.yaml   a partner's override of the shipped 850 (optional)

Every mistake is collected and raised together as RulesConfigError (file, line, key, what is wrong).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from gateway.rules.spec import (
    _LOOP,
    _NODE,
    ElementDef,
    LoopNode,
    SegmentDef,
    SegNode,
    Spec,
    iter_nodes,
    parse_element,
    parse_max,
    parse_syntax,
    with_element_change,
)
from gateway.rules.yamlsrc import LDict, Problem, RulesConfigError, check_keys, line_of, load_yaml

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"

_dict_cache: dict[tuple[str, float], tuple[dict[str, SegmentDef], dict[str, Any]]] = {}
_spec_cache: dict[tuple[str, ...], Spec | None] = {}


def rules_dir(path: str | os.PathLike[str] | None = None) -> Path:
    return Path(path) if path is not None else Path(os.environ.get("ACORN_RULES_DIR", DEFAULT_RULES_DIR))


def normalize_version(standard: str, version: str) -> str:
    v = (version or "").strip().upper()
    if standard == "x12":
        digits = v[:6]
        if len(v) == 5 and v.isdigit():  # ISA12 00401 -> 004010
            digits = v + "0"
        return digits
    parts = v.replace("+", ":").split(":")
    if len(parts) >= 2 and parts[0] in ("D", "S", "0", "") and parts[1]:
        return "D" + parts[1]
    return v.replace(":", "")


def _parse_elements(raw: Any, composites: dict, file: str, where: str, problems: list[Problem]) -> tuple:
    out: list[ElementDef] = []
    if not isinstance(raw, list):
        problems.append(Problem(file, line_of(raw, 0), where, "elements must be a list"))
        return ()
    for i, item in enumerate(raw):
        codes = None
        text = item
        if isinstance(item, dict):
            check_keys(item, {"def", "codes"}, file, f"{where}[{i}]", problems, required=("def",))
            text, codes = item.get("def", ""), item.get("codes")
            if codes is not None and not isinstance(codes, list):
                problems.append(Problem(file, line_of(item, "codes"), f"{where}[{i}].codes", "must be a list"))
                codes = None
        try:
            out.append(parse_element(str(text), composites, [str(c) for c in codes] if codes else None))
        except ValueError as exc:
            problems.append(Problem(file, line_of(raw, i), f"{where}[{i}]", str(exc)))
    return tuple(out)


def _parse_segment_defs(raw: Any, composites: dict, file: str, problems: list[Problem]) -> dict[str, SegmentDef]:
    segs: dict[str, SegmentDef] = {}
    if not isinstance(raw, dict):
        problems.append(Problem(file, getattr(raw, "line", None), "segments", "expected a mapping of segment tags"))
        return segs
    for tag, body in raw.items():
        where = f"segments.{tag}"
        if not check_keys(body, {"name", "elements", "syntax"}, file, where, problems, required=("elements",)):
            continue
        elements = _parse_elements(body.get("elements", []), composites, file, f"{where}.elements", problems)
        notes = []
        for j, s in enumerate(body.get("syntax") or []):
            try:
                note = parse_syntax(s)
                if max(note.positions) > len(elements):
                    raise ValueError(f"syntax note '{s}' names element {max(note.positions)} of {len(elements)}")
                notes.append(note)
            except ValueError as exc:
                problems.append(Problem(file, line_of(body["syntax"], j), f"{where}.syntax", str(exc)))
        segs[str(tag)] = SegmentDef(str(tag), str(body.get("name", "")), elements, tuple(notes))
    return segs


def load_dictionary(path: Path) -> tuple[dict[str, SegmentDef], dict[str, Any]]:
    """Load ``segments.yaml``: returns (segment defs, composites)."""
    key = (str(path), path.stat().st_mtime if path.exists() else 0.0)
    if key in _dict_cache:
        return _dict_cache[key]
    file = str(path)
    data = load_yaml(path)
    problems: list[Problem] = []
    check_keys(data, {"standard", "version", "composites", "segments"}, file, "", problems)
    composites: dict[str, tuple[str, tuple[ElementDef, ...]]] = {}
    for ref, body in (data.get("composites") or {}).items():
        where = f"composites.{ref}"
        if check_keys(body, {"name", "elements"}, file, where, problems, required=("elements",)):
            comps = _parse_elements(body["elements"], {}, file, f"{where}.elements", problems)
            composites[str(ref)] = (str(body.get("name", "")), comps)
    segs = _parse_segment_defs(data.get("segments") or {}, composites, file, problems)
    if problems:
        raise RulesConfigError(problems)
    _dict_cache[key] = (segs, composites)
    return segs, composites


def _parse_structure(raw: Any, file: str, where: str, problems: list[Problem]) -> list[SegNode | LoopNode]:
    body: list[SegNode | LoopNode] = []
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(file, getattr(raw, "line", None), where, "expected a non-empty list"))
        return body
    for i, item in enumerate(raw):
        line = line_of(raw, i)
        if isinstance(item, dict) and len(item) == 1:
            (head, inner), = item.items()
            m = _LOOP.match(str(head))
            if not m:
                problems.append(Problem(file, line, where, f"'{head}': expected 'ID loop USAGE MAX:' or 'SGn group ...'"))
                continue
            sub = _parse_structure(inner, file, f"{where}/{m.group(1)}", problems)
            if sub and not isinstance(sub[0], SegNode):
                problems.append(Problem(file, line, f"{where}/{m.group(1)}", "a loop must start with its trigger segment"))
            body.append(LoopNode(m.group(1), m.group(3), parse_max(m.group(4)), sub, line))
        else:
            m = _NODE.match(str(item).strip())
            if not m:
                problems.append(Problem(file, line, where, f"'{item}': expected 'TAG USAGE MAX', e.g. 'REF O >1'"))
                continue
            body.append(SegNode(m.group(1), m.group(2), parse_max(m.group(3)), line))
    return body


def _find_body(structure: list, path: str) -> tuple[list, int] | None:
    """Resolve 'PO1/PID/MSG' (loop ids then a segment tag or loop id) to (body, index)."""
    parts = [p for p in path.split("/") if p]
    body = structure
    for k, part in enumerate(parts):
        last = k == len(parts) - 1
        for i, node in enumerate(body):
            if last and (getattr(node, "tag", None) == part or getattr(node, "id", None) == part):
                return body, i
            if not last and isinstance(node, LoopNode) and node.id == part:
                body = node.body
                break
        else:
            return None
    return None


_SPEC_KEYS = {"standard", "version", "transaction", "name", "dictionary", "structure", "elements", "syntax",
              "segment_defs", "extends", "usage", "max", "add", "description"}


def _apply_changes(spec: Spec, data: dict[str, Any], file: str, problems: list[Problem], composites: dict) -> None:
    """Apply the keys that both a shipped spec and a partner override may carry."""
    if "segment_defs" in data:
        spec.segments.update(_parse_segment_defs(data["segment_defs"], composites, file, problems))
    for i, item in enumerate(data.get("add") or []):
        if not check_keys(item, {"after", "item"}, file, f"add[{i}]", problems, required=("after", "item")):
            continue
        found = _find_body(spec.structure, str(item["after"]))
        new = _parse_structure([item["item"]], file, f"add[{i}]", problems)
        if found is None:
            problems.append(Problem(file, line_of(item, "after"), f"add[{i}].after", f"no '{item['after']}' in the structure"))
        elif new:
            body, idx = found
            body.insert(idx + 1, new[0])
    for key, attr in (("usage", "usage"), ("max", "max")):
        for path, value in (data.get(key) or {}).items():
            found = _find_body(spec.structure, str(path))
            line = line_of(data[key], path)
            if found is None:
                problems.append(Problem(file, line, f"{key}.{path}", "no such segment or loop in the structure"))
                continue
            body, idx = found
            if key == "usage" and value not in ("M", "O", "C", "N"):
                problems.append(Problem(file, line, f"usage.{path}", f"'{value}' is not M, O, C or N (not used)"))
                continue
            setattr(body[idx], attr, parse_max(str(value)) if key == "max" else value)
    for name, change in (data.get("elements") or {}).items():
        where = f"elements.{name}"
        line = line_of(data["elements"], name)
        tag, pos = str(name)[:-2], str(name)[-2:]
        if not pos.isdigit() or tag not in spec.segments:
            problems.append(Problem(file, line, where, "expected a segment tag and a 2-digit position, e.g. BEG03"))
            continue
        seg = spec.segments[tag]
        if not 1 <= int(pos) <= len(seg.elements):
            problems.append(Problem(file, line, where, f"{tag} has {len(seg.elements)} elements"))
            continue
        if not check_keys(change, {"req", "min", "max", "codes", "add_codes", "name"}, file, where, problems):
            continue
        edef = seg.elements[int(pos) - 1]
        kw: dict[str, Any] = {}
        if "req" in change:
            kw["req"] = str(change["req"])
        for k in ("min", "max"):
            if k in change:
                kw[k] = int(change[k])
        if "name" in change:
            kw["name"] = str(change["name"])
        if "codes" in change:
            kw["codes"] = frozenset(str(c) for c in change["codes"])
        if "add_codes" in change:
            kw["codes"] = frozenset(edef.codes or ()) | {str(c) for c in change["add_codes"]}
        spec.segments[tag] = with_element_change(seg, int(pos), **kw)
    for tag, notes in (data.get("syntax") or {}).items():
        if str(tag) not in spec.segments:
            problems.append(Problem(file, line_of(data["syntax"], tag), f"syntax.{tag}", "unknown segment"))
            continue
        seg = spec.segments[str(tag)]
        try:
            extra = tuple(parse_syntax(n) for n in notes)
        except ValueError as exc:
            problems.append(Problem(file, line_of(data["syntax"], tag), f"syntax.{tag}", str(exc)))
            continue
        from dataclasses import replace

        spec.segments[str(tag)] = replace(seg, syntax=seg.syntax + extra)


def load_spec_file(path: str | os.PathLike[str]) -> Spec:
    """Load one shipped transaction spec (with its dictionary from the same folder)."""
    path = Path(path)
    file = str(path)
    data = load_yaml(path)
    problems: list[Problem] = []
    if not check_keys(data, _SPEC_KEYS - {"extends", "usage", "max"}, file, "", problems,
                      required=("standard", "version", "transaction", "structure")):
        raise RulesConfigError(problems)
    names = data.get("dictionary", "segments.yaml")
    segdefs, composites = {}, {}
    for name in names if isinstance(names, list) else [names]:
        dict_path = (path.parent / str(name)).resolve()
        try:
            more_segs, more_comps = load_dictionary(dict_path)
        except RulesConfigError as exc:
            problems.extend(exc.problems)
            raise RulesConfigError(problems) from None
        segdefs.update(more_segs)
        composites.update(more_comps)
    structure = _parse_structure(data["structure"], file, "structure", problems)
    spec = Spec(str(data["standard"]), str(data["version"]), str(data["transaction"]), str(data.get("name", "")),
                structure, {}, frozenset(segdefs), file)
    for node in iter_nodes(structure):
        if isinstance(node, SegNode) and node.tag not in spec.segments:
            if node.tag in segdefs:
                spec.segments[node.tag] = segdefs[node.tag]
            elif node.tag not in (data.get("segment_defs") or {}):
                problems.append(Problem(file, node.line, f"structure.{node.tag}", f"segment {node.tag} is not in the segment dictionary"))
    _apply_changes(spec, data, file, problems, composites)
    if problems:
        raise RulesConfigError(problems)
    return spec


def apply_override(base: Spec, override: str | os.PathLike[str] | dict[str, Any]) -> Spec:
    """A partner's spec: ``base`` tightened or extended by an override file or mapping."""
    if isinstance(override, dict) and not isinstance(override, LDict):
        data, file = override, "<override>"
    else:
        data, file = load_yaml(override), str(override)  # type: ignore[arg-type]
    problems: list[Problem] = []
    check_keys(data, _SPEC_KEYS - {"structure"}, file, "", problems)
    spec = copy.deepcopy(base)
    spec._compiled = None
    spec.source = f"{base.source} + {file}"
    if "name" in data:
        spec.name = str(data["name"])
    composites: dict[str, Any] = {}
    for dict_path in sorted(Path(base.source).parent.parent.glob("*/segments.yaml")):
        try:
            composites.update(load_dictionary(dict_path)[1])
        except (RulesConfigError, OSError):
            pass
    _apply_changes(spec, data, file, problems, composites)
    if problems:
        raise RulesConfigError(problems)
    return spec


def spec_path(standard: str, version: str, type: str, root: Path) -> Path:
    std = standard.lower()
    return root / std / normalize_version(std, version) / f"{type.upper()}.yaml"


def load_spec_for(
    standard: str,
    version: str,
    type: str,
    partner_overrides: str | os.PathLike[str] | dict[str, Any] | None = None,
    *,
    partner: str | None = None,
    rules_dir_path: str | os.PathLike[str] | None = None,
) -> Spec | None:
    """The structure spec for (standard, version, transaction type), or None when none is shipped.

    ``partner_overrides`` is an override file or mapping; with ``partner`` instead, the file
    ``partners/<partner>/<standard>/<version>/<type>.yaml`` under the rules directory is used when it exists.
    Results are cached; a changed file is reloaded.
    """
    root = rules_dir(rules_dir_path)
    std = standard.lower()
    path = spec_path(std, version, type, root)
    override_path = None
    if partner_overrides is None and partner:
        candidate = root / "partners" / partner / std / normalize_version(std, version) / f"{type.upper()}.yaml"
        if candidate.exists():
            override_path = candidate
    elif partner_overrides is not None and not isinstance(partner_overrides, dict):
        override_path = Path(partner_overrides)
    stamp = tuple(str(p.stat().st_mtime) if p is not None and p.exists() else "-" for p in (path, override_path))
    key = (str(path), str(override_path), *stamp)
    if isinstance(partner_overrides, dict):
        base = load_spec_for(standard, version, type, rules_dir_path=rules_dir_path)
        return apply_override(base, partner_overrides) if base else None
    if key in _spec_cache:
        return _spec_cache[key]
    spec: Spec | None = None
    if path.exists():
        spec = load_spec_file(path)
        if override_path is not None:
            spec = apply_override(spec, override_path)
    _spec_cache[key] = spec
    return spec


def check_rules_tree(root: str | os.PathLike[str] | None = None) -> list[Problem]:
    """Load every spec under the rules directory; return all problems (for `config check`)."""
    base = rules_dir(root)
    problems: list[Problem] = []
    for std in ("x12", "edifact"):
        for path in sorted((base / std).glob("*/*.yaml")):
            if path.name == "segments.yaml":
                continue
            try:
                load_spec_file(path)
            except RulesConfigError as exc:
                problems.extend(exc.problems)
    return problems
