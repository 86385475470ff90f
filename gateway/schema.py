"""A small declarative checker for YAML config shapes.

A shape is a nested description (``Map``, ``ListOf``, ``Scalar``, ``MapOf``, ``OneOf``) that
``check`` walks against a ``Located`` document, collecting *every* problem with file, line and key path:
unknown keys, missing required keys, wrong types, values outside a set. It returns the data with
defaults filled in. Config loaders then build frozen dataclasses from checked data only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.yamlfile import Located, PathKey, Problem

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", float: "a number", dict: "a mapping",
               list: "a list"}


class Shape:
    def check(self, doc: Located, path: PathKey, value: Any, problems: list[Problem]) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Scalar(Shape):
    types: tuple[type, ...] = (str,)
    choices: tuple[Any, ...] | None = None
    validator: Callable[[Any], str | None] | None = None  # returns a message when the value is wrong
    nullable: bool = False

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types)

    def check(self, doc: Located, path: PathKey, value: Any, problems: list[Problem]) -> Any:
        if value is None and self.nullable:
            return None
        # YAML turns `yes`/1 into bool/int: a bool is never an acceptable int, and numbers may stand in for strings
        # only when the shape says so.
        ok = isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)
        if not ok:
            got = "nothing" if value is None else f"{type(value).__name__} {value!r}"
            problems.append(doc.problem(path, f"expected {self.describe()}, got {got}"))
            return value
        if self.choices is not None and value not in self.choices:
            problems.append(doc.problem(path, f"expected {self.describe()}, got {value!r}"))
        elif self.validator is not None and (msg := self.validator(value)):
            problems.append(doc.problem(path, msg))
        return value


@dataclass(frozen=True)
class Key:
    shape: Shape
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Map(Shape):
    keys: dict[str, Key] = field(default_factory=dict)
    nullable: bool = False

    def describe(self) -> str:
        return "a mapping"

    def check(self, doc: Located, path: PathKey, value: Any, problems: list[Problem]) -> Any:
        if value is None and self.nullable:
            return None
        if not isinstance(value, dict):
            problems.append(doc.problem(path, f"expected a mapping with keys {', '.join(self.keys)}, got "
                                              f"{'nothing' if value is None else type(value).__name__}"))
            return {}
        out: dict[str, Any] = {}
        for k in value:
            if k not in self.keys:
                near = ", ".join(sorted(self.keys))
                problems.append(doc.problem(path + (k,), f"unknown key; expected one of: {near}"))
        for name, key in self.keys.items():
            if name in value:
                out[name] = key.shape.check(doc, path + (name,), value[name], problems)
            elif key.required:
                problems.append(doc.problem(path + (name,), f"missing required key ({key.shape.describe()})"))
            elif key.default is dict and isinstance(key.shape, Map):
                out[name] = key.shape.check(doc, path + (name,), {}, problems)  # fill nested defaults
            else:
                out[name] = key.default() if callable(key.default) else key.default
        return out


@dataclass(frozen=True)
class MapOf(Shape):
    """A mapping whose keys are names chosen by the admin (e.g. destinations)."""

    values: Shape

    def describe(self) -> str:
        return "a mapping of names"

    def check(self, doc: Located, path: PathKey, value: Any, problems: list[Problem]) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.append(doc.problem(path, f"expected {self.describe()}, got {type(value).__name__}"))
            return {}
        return {k: self.values.check(doc, path + (k,), v, problems) for k, v in value.items()}


@dataclass(frozen=True)
class ListOf(Shape):
    items: Shape

    def describe(self) -> str:
        return "a list"

    def check(self, doc: Located, path: PathKey, value: Any, problems: list[Problem]) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            problems.append(doc.problem(path, f"expected a list, got {type(value).__name__} {value!r}"))
            return []
        return [self.items.check(doc, path + (i,), v, problems) for i, v in enumerate(value)]


def check(doc: Located, shape: Shape) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    data = shape.check(doc, (), doc.data, problems)
    return data, problems
