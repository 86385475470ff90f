"""Rule expressions: a small, safe subset of Python expressions, checked at load and compiled once.

Grammar (whitelisted AST nodes): literals, names, ``a.b`` field access, ``x[0]``, arithmetic
(``+ - * / // %``, no ``**``), comparisons (``== != < <= > >= in not in is``), ``and or not``,
``a if c else b``, list/tuple/set literals, and comprehensions (``[.. for x in xs if ..]``, generators).
Calls only to the registered functions of ``gateway.rules.functions``. Decimal literals (``0.01``) are
exact ``Decimal``. Every name, field and function is resolved against the document type at load, so a
typo is reported with the rule id and its position, never at run time.

Guards: an expression at most 2,000 characters and 40 levels deep; ``*`` refuses to repeat strings and
lists; all comprehensions of one evaluation share a budget of 200,000 iterated items.
"""

from __future__ import annotations

import ast
from decimal import Decimal
from typing import Any

from gateway.rules.functions import FUNCTIONS, FnSpec
from gateway.rules.schema import ListT

MAX_LENGTH = 2000
MAX_DEPTH = 40
ITERATION_BUDGET = 200_000

ANY = "any"


class ExprError(ValueError):
    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class Context:
    """Per-evaluation state shared by the compiled code: the iteration budget and host services."""

    __slots__ = ("budget", "env")

    def __init__(self, env: Any) -> None:
        self.budget = ITERATION_BUDGET
        self.env = env


def _it(ctx: Context, value: Any) -> Any:
    if value is None:
        return ()
    n = len(value)
    ctx.budget -= n
    if ctx.budget < 0:
        raise RuntimeError(f"rule iterated over more than {ITERATION_BUDGET} items")
    return value


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, str | tuple | list) or isinstance(b, str | tuple | list):
        raise TypeError("'*' works on numbers only")
    return a * b


_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
    ast.Mod, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt,
    ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Store,
    ast.Attribute, ast.Subscript, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.ListComp, ast.SetComp,
    ast.GeneratorExp, ast.comprehension,
)


def norm(t: Any) -> Any:
    """Schema notation ([item]) to compiler types (ListT)."""
    return ListT(t[0]) if isinstance(t, list) else t


def _type_name(t: Any) -> str:
    if isinstance(t, ListT | list):
        return "list"
    if isinstance(t, dict):
        return "object with fields " + ", ".join(sorted(t))
    return str(t)


class Compiler:
    """Checks and rewrites one expression in a scope of typed names."""

    def __init__(self, root: dict[str, Any], scope: dict[str, Any], consts: dict[str, Any]) -> None:
        self.root = root  # document fields -> types, reached as bare names
        self.scope = scope  # loop variables and lets -> (python name, type)
        self.consts = consts  # shared constant table of the pack (Decimal literals, compiled regexes)

    def compile(self, text: str) -> tuple[str, Any]:
        """Return (python source of the rewritten expression, its type)."""
        if not isinstance(text, str) or not text.strip():
            raise ExprError("an expression is required")
        if len(text) > MAX_LENGTH:
            raise ExprError(f"expression longer than {MAX_LENGTH} characters")
        text = " ".join(text.split("\n"))  # YAML block scalars may keep line breaks
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ExprError(f"syntax error: {exc.msg}", exc.offset) from None
        self.text = text
        self.depth = 0
        node, typ = self.visit(tree.body, dict(self.scope))
        return ast.unparse(node), typ

    def fail(self, node: ast.AST, message: str) -> ExprError:
        return ExprError(message, getattr(node, "col_offset", None))

    def const(self, value: Any) -> ast.Name:
        for name, v in self.consts.items():
            if type(v) is type(value) and v == value:
                return ast.Name(name, ast.Load())
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return ast.Name(name, ast.Load())

    def visit(self, node: ast.AST, scope: dict[str, Any]) -> tuple[ast.expr, Any]:
        if not isinstance(node, _ALLOWED):
            raise self.fail(node, f"'{type(node).__name__}' is not allowed in rule expressions")
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(node, f"expression nested deeper than {MAX_DEPTH}")
        try:
            return getattr(self, f"v_{type(node).__name__}")(node, scope)
        finally:
            self.depth -= 1

    def v_Constant(self, node: ast.Constant, scope: dict) -> tuple[ast.expr, Any]:
        v = node.value
        if isinstance(v, bool) or v is None:
            return node, "bool" if isinstance(v, bool) else ANY
        if isinstance(v, float):
            src = ast.get_source_segment(self.text.strip(), node) or repr(v)
            return self.const(Decimal(src)), "dec"
        if isinstance(v, int):
            return node, "int"
        if isinstance(v, str):
            return node, "str"
        raise self.fail(node, f"constant {v!r} is not allowed")

    def v_Name(self, node: ast.Name, scope: dict) -> tuple[ast.expr, Any]:
        if node.id in scope:
            pyname, typ = scope[node.id]
            return ast.Name(pyname, ast.Load()), typ
        if node.id in self.root:
            return ast.Attribute(ast.Name("_doc", ast.Load()), node.id, ast.Load()), norm(self.root[node.id])
        if node.id in FUNCTIONS:
            raise self.fail(node, f"'{node.id}' is a function: call it as {node.id}(...)")
        known = sorted(set(self.root) | {k for k in scope if not k.startswith("_")})
        raise self.fail(node, f"unknown name '{node.id}' (known: {', '.join(known)})")

    def v_Attribute(self, node: ast.Attribute, scope: dict) -> tuple[ast.expr, Any]:
        value, typ = self.visit(node.value, scope)
        if node.attr.startswith("_"):
            raise self.fail(node, f"field '{node.attr}' is not allowed")
        if typ == "map" or typ == ANY:
            return ast.Attribute(value, node.attr, ast.Load()), ANY
        if isinstance(typ, dict):
            if node.attr not in typ:
                raise self.fail(node, f"unknown field '{node.attr}' (fields: {', '.join(sorted(typ))})")
            return ast.Attribute(value, node.attr, ast.Load()), norm(typ[node.attr])
        raise self.fail(node, f"'{node.attr}': a {_type_name(typ)} has no fields")

    def v_Subscript(self, node: ast.Subscript, scope: dict) -> tuple[ast.expr, Any]:
        value, typ = self.visit(node.value, scope)
        if isinstance(node.slice, ast.Slice):
            raise self.fail(node, "slices are not allowed")
        index, ityp = self.visit(node.slice, scope)
        item = typ.item if isinstance(typ, ListT) else (typ if typ == "str" else ANY)
        return ast.Subscript(value, index, ast.Load()), item

    def v_BinOp(self, node: ast.BinOp, scope: dict) -> tuple[ast.expr, Any]:
        if not isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.FloorDiv | ast.Mod):
            raise self.fail(node, f"'{type(node.op).__name__}' is not allowed in rule expressions")
        left, lt = self.visit(node.left, scope)
        right, rt = self.visit(node.right, scope)
        typ = "dec" if "dec" in (lt, rt) else ("int" if lt == rt == "int" else ANY)
        if isinstance(node.op, ast.Add) and lt == rt and lt in ("str",) or isinstance(lt, ListT) and lt == rt:
            typ = lt
        if isinstance(node.op, ast.Sub) and "date" in (lt, rt):
            typ = ANY
        if isinstance(node.op, ast.Mult):
            return ast.Call(ast.Name("_mul", ast.Load()), [left, right], []), typ
        return ast.BinOp(left, node.op, right), typ

    def v_UnaryOp(self, node: ast.UnaryOp, scope: dict) -> tuple[ast.expr, Any]:
        if not isinstance(node.op, ast.Not | ast.USub | ast.UAdd):
            raise self.fail(node, f"'{type(node.op).__name__}' is not allowed in rule expressions")
        operand, typ = self.visit(node.operand, scope)
        return ast.UnaryOp(node.op, operand), "bool" if isinstance(node.op, ast.Not) else typ

    def v_BoolOp(self, node: ast.BoolOp, scope: dict) -> tuple[ast.expr, Any]:
        return ast.BoolOp(node.op, [self.visit(v, scope)[0] for v in node.values]), ANY

    def v_Compare(self, node: ast.Compare, scope: dict) -> tuple[ast.expr, Any]:
        left = self.visit(node.left, scope)[0]
        return ast.Compare(left, node.ops, [self.visit(c, scope)[0] for c in node.comparators]), "bool"

    def v_IfExp(self, node: ast.IfExp, scope: dict) -> tuple[ast.expr, Any]:
        test = self.visit(node.test, scope)[0]
        body, bt = self.visit(node.body, scope)
        orelse, ot = self.visit(node.orelse, scope)
        return ast.IfExp(test, body, orelse), bt if bt == ot else (bt if ot == ANY else ANY)

    def _seq(self, node: ast.List | ast.Tuple | ast.Set, scope: dict) -> tuple[list[ast.expr], Any]:
        items = [self.visit(e, scope) for e in node.elts]
        types = {t if isinstance(t, str) else id(t) for _, t in items}
        return [n for n, _ in items], ListT(items[0][1] if len(types) == 1 else ANY)

    def v_List(self, node: ast.List, scope: dict) -> tuple[ast.expr, Any]:
        elts, typ = self._seq(node, scope)
        return ast.Tuple(elts, ast.Load()), typ

    v_Tuple = v_List

    def v_Set(self, node: ast.Set, scope: dict) -> tuple[ast.expr, Any]:
        elts, typ = self._seq(node, scope)
        return ast.Call(ast.Name("frozenset", ast.Load()), [ast.Tuple(elts, ast.Load())], []), typ

    def _comprehension(self, node: Any, scope: dict) -> tuple[list[ast.comprehension], dict]:
        inner = dict(scope)
        gens = []
        for gen in node.generators:
            if gen.is_async:
                raise self.fail(node, "async comprehensions are not allowed")
            if not isinstance(gen.target, ast.Name):
                raise self.fail(gen.target, "a comprehension variable must be a single name")
            it, ityp = self.visit(gen.iter, inner)
            if not isinstance(ityp, ListT) and ityp not in (ANY, "map"):
                raise self.fail(gen.iter, f"cannot iterate over a {_type_name(ityp)}")
            name = gen.target.id
            if name in self.root or name in FUNCTIONS:
                raise self.fail(gen.target, f"'{name}' already names a field or function: pick another name")
            pyname = f"_v_{name}"
            inner[name] = (pyname, ityp.item if isinstance(ityp, ListT) else ANY)
            ifs = [self.visit(c, inner)[0] for c in gen.ifs]
            wrapped = ast.Call(ast.Name("_it", ast.Load()), [ast.Name("_ctx", ast.Load()), it], [])
            gens.append(ast.comprehension(ast.Name(pyname, ast.Store()), wrapped, ifs, 0))
        return gens, inner

    def v_ListComp(self, node: ast.ListComp, scope: dict) -> tuple[ast.expr, Any]:
        gens, inner = self._comprehension(node, scope)
        elt, typ = self.visit(node.elt, inner)
        return ast.Call(ast.Name("tuple", ast.Load()), [ast.GeneratorExp(elt, gens)], []), ListT(typ)

    def v_GeneratorExp(self, node: ast.GeneratorExp, scope: dict) -> tuple[ast.expr, Any]:
        gens, inner = self._comprehension(node, scope)
        elt, typ = self.visit(node.elt, inner)
        return ast.GeneratorExp(elt, gens), ListT(typ)

    def v_SetComp(self, node: ast.SetComp, scope: dict) -> tuple[ast.expr, Any]:
        gens, inner = self._comprehension(node, scope)
        elt, typ = self.visit(node.elt, inner)
        return ast.Call(ast.Name("frozenset", ast.Load()), [ast.GeneratorExp(elt, gens)], []), ListT(typ)

    def v_Call(self, node: ast.Call, scope: dict) -> tuple[ast.expr, Any]:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only the rule functions can be called (no methods)")
        fn: FnSpec | None = FUNCTIONS.get(node.func.id)
        if fn is None:
            raise self.fail(node, f"unknown function '{node.func.id}' (functions: {', '.join(sorted(FUNCTIONS))})")
        if node.keywords:
            raise self.fail(node, "keyword arguments are not allowed")
        n = len(node.args)
        if not fn.min_args <= n <= fn.max_args:
            raise self.fail(node, f"{fn.name}() takes {fn.min_args}..{fn.max_args} arguments, got {n}")
        args: list[ast.expr] = []
        types: list[Any] = []
        for i, a in enumerate(node.args):
            if i in fn.const_args:
                if not (isinstance(a, ast.Constant) and isinstance(a.value, str)):
                    raise self.fail(a, f"argument {i + 1} of {fn.name}() must be a quoted constant")
                try:
                    prepared = fn.const_args[i](a.value)
                except ValueError as exc:
                    raise self.fail(a, f"{fn.name}(): {exc}") from None
                args.append(self.const(prepared))
                types.append(("const", a.value))
                continue
            arg, t = self.visit(a, scope)
            args.append(arg)
            types.append(t)
        ret = fn.returns(types) if callable(fn.returns) else fn.returns
        call_args = ([ast.Name("_ctx", ast.Load())] if fn.needs_ctx else []) + args
        return ast.Call(ast.Name(f"_f_{fn.name}", ast.Load()), call_args, []), ret


def runtime_globals(consts: dict[str, Any]) -> dict[str, Any]:
    g: dict[str, Any] = {"__builtins__": {}, "_it": _it, "_mul": _mul, "tuple": tuple, "frozenset": frozenset,
                         "enumerate": enumerate, "Exception": Exception, "len": len}
    g.update({f"_f_{name}": fn.impl for name, fn in FUNCTIONS.items()})
    g.update(consts)
    return g
