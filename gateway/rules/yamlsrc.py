"""YAML with line numbers, and the error that lists every problem of a rules file.

Specs and rule packs are loaded through :func:`load_yaml`, which returns plain dicts and lists that also
remember where each key and item was written (``LDict.line_of(key)``, ``LList.line_of(i)``), so that a
mistake is reported as ``file:line: where: what``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.yamlfile import Problem, ProblemsError

__all__ = ["LDict", "LList", "Problem", "RulesConfigError", "check_keys", "line_of", "load_yaml"]


class RulesConfigError(ProblemsError, ValueError):
    """A spec or rule pack that cannot be used; ``problems`` lists every mistake found (file, line, key or
    rule id, message), like every other config error (gateway/yamlfile.py)."""


class LDict(dict):
    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LList(list):
    line: int = 0
    item_lines: list[int]

    def line_of(self, i: int) -> int:
        return self.item_lines[i] if 0 <= i < len(self.item_lines) else self.line


def _convert(node: yaml.Node, file: str, problems: list[Problem]) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = LDict()
        out.line = line
        out.key_lines = {}
        for knode, vnode in node.value:
            key = _convert(knode, file, problems)
            if isinstance(key, (dict, list)):
                problems.append(Problem(file, knode.start_mark.line + 1, "", "a key must be a plain value"))
                continue
            if key in out:
                problems.append(Problem(file, knode.start_mark.line + 1, str(key), "duplicate key"))
            out[key] = _convert(vnode, file, problems)
            out.key_lines[key] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        lst = LList(_convert(n, file, problems) for n in node.value)
        lst.line = line
        lst.item_lines = [n.start_mark.line + 1 for n in node.value]
        return lst
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == "tag:yaml.org,2002:str" or node.style in ("'", '"', "|", ">"):
        return node.value
    # Resolve plain scalars the safe way (ints, bools, nulls); floats stay strings so that money and
    # version numbers such as 004010 keep their exact text.
    value = str(node.value)
    tag = node.tag
    if tag == "tag:yaml.org,2002:int":
        try:
            if value.startswith("0") and value not in ("0",) and value.isdigit():
                return value  # leading zeros: keep as text (004010, 063)
            return int(value.replace("_", ""))
        except ValueError:
            return value
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() in ("true", "yes", "on")
    if tag == "tag:yaml.org,2002:null":
        return None
    return value


def load_yaml(path: str | Path, text: str | None = None) -> Any:
    """Parse one YAML document; raise RulesConfigError naming the file and line on any mistake."""
    file = str(path)
    try:
        if text is None:
            text = Path(path).read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except OSError as exc:
        raise RulesConfigError([Problem(file, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise RulesConfigError([Problem(file, line, "", f"YAML syntax: {exc.problem}")]) from None
    except UnicodeDecodeError:
        raise RulesConfigError([Problem(file, None, "", "not UTF-8 text")]) from None
    if node is None:
        raise RulesConfigError([Problem(file, 1, "", "the file is empty")])
    problems: list[Problem] = []
    data = _convert(node, file, problems)
    if problems:
        raise RulesConfigError(problems)
    return data


def line_of(container: Any, key: Any) -> int | None:
    if isinstance(container, (LDict, LList)):
        return container.line_of(key)
    return None


def check_keys(
    d: Any, allowed: set[str], file: str, where: str, problems: list[Problem], required: tuple[str, ...] = ()
) -> bool:
    """Report unknown and missing keys of a mapping; return False when ``d`` is not a mapping."""
    if not isinstance(d, dict):
        problems.append(Problem(file, line_of(d, 0) or getattr(d, "line", None), where, "expected a mapping"))
        return False
    for key in d:
        if key not in allowed:
            problems.append(
                Problem(file, line_of(d, key), f"{where}.{key}" if where else str(key),
                        f"unknown key (allowed: {', '.join(sorted(allowed))})")
            )
    for key in required:
        if key not in d:
            problems.append(Problem(file, getattr(d, "line", None), where, f"missing key '{key}'"))
    return True
