"""YAML loading that remembers where every value came from.

EDI admins edit YAML all day, so every complaint about a file names the file, the line and the key path.
``load(path)`` returns a ``Located`` document: the plain Python value plus a map from key paths to
1-based line numbers. Every config-like loader (gateway.yaml, partners, mappings, rules) goes through
here. Safe loading only: no Python tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: where, which key, and what was expected."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: {self.key}: {self.message}" if self.key else f"{loc}: {self.message}"


class ProblemsError(Exception):
    """Raised with every problem found in one load, never only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(slots=True)
class Located:
    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def problem(self, path: PathKey, message: str) -> Problem:
        return Problem(self.file, self.line(path), dotted(path), message)


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, lines: dict[PathKey, int],
               problems: list[Problem], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        loader.flatten_mapping(node)
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            if not isinstance(key, str | int):
                key = str(key)
            if key in out:
                problems.append(Problem(file, knode.start_mark.line + 1, dotted(path + (key,)), "duplicate key"))
            child = path + (key,)
            lines[child] = knode.start_mark.line + 1
            out[key] = _construct(loader, vnode, child, lines, problems, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, v, path + (i,), lines, problems, file) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def loads(text: str, file: str = "<string>") -> Located:
    loader = _UniqueKeyLoader(text)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        lines: dict[PathKey, int] = {}
        data = None if node is None else _construct(loader, node, (), lines, problems, file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ProblemsError([Problem(file, line, "", f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ProblemsError([Problem(file, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise ProblemsError(problems)
    return Located(file, data, lines)


def load(path: str | Path) -> Located:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemsError([Problem(str(p), None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemsError([Problem(str(p), None, "", f"cannot read: {exc}")]) from None
    return loads(text, str(p))
