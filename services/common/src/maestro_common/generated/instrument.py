"""The AST rewrite that lets validated generated code run under the guards of `guards`.

- every function body and every `for`/`while` body starts with ``_tick()``; each comprehension's
  first condition is ``_tick()`` (which returns None, so it is wrapped as ``_tick() is None``);
- ``a * b``, ``a ** b``, ``a << b`` and ``a + b`` become guarded calls; the augmented forms too;
- annotations are removed (they would otherwise be evaluated when the function is defined).

Inserted names start with an underscore, which validated code can never name.
"""

from __future__ import annotations

import ast
import itertools

TICK = "_tick"
"""Global name of the step counter."""
GUARD_BY_OPERATOR: dict[type[ast.operator], str] = {
    ast.Mult: "_mul", ast.Pow: "_pow", ast.LShift: "_lshift", ast.Add: "_add",
}
"""Global name of the guarded function for each guarded operator."""


def _tick_call(at: ast.AST) -> ast.Call:
    """The expression ``_tick()`` located at `at`."""
    return ast.copy_location(ast.Call(func=ast.Name(id=TICK, ctx=ast.Load()), args=[], keywords=[]), at)


def _tick_statement(at: ast.AST) -> ast.Expr:
    """The statement ``_tick()`` located at `at`."""
    return ast.copy_location(ast.Expr(value=_tick_call(at)), at)


def _guard(op: ast.operator, left: ast.expr, right: ast.expr, at: ast.AST) -> ast.Call:
    """``_guard(left, right)`` for operator `op`."""
    name = ast.Name(id=GUARD_BY_OPERATOR[type(op)], ctx=ast.Load())
    return ast.copy_location(ast.Call(func=name, args=[left, right], keywords=[]), at)


class Instrument(ast.NodeTransformer):
    """Adds step counting and size guards to a validated module."""

    def __init__(self) -> None:
        self._temporaries = itertools.count()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        node.returns = None
        for argument in node.args.args:
            argument.annotation = None
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_For(self, node: ast.For) -> ast.For:
        self.generic_visit(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_While(self, node: ast.While) -> ast.While:
        self.generic_visit(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.comprehension:
        self.generic_visit(node)
        always = ast.Compare(left=_tick_call(node.iter), ops=[ast.Is()], comparators=[ast.Constant(value=None)])
        node.ifs.insert(0, ast.copy_location(always, node.iter))
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        self.generic_visit(node)
        if type(node.op) not in GUARD_BY_OPERATOR:
            return node
        return _guard(node.op, node.left, node.right, node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.stmt | list[ast.stmt]:
        self.generic_visit(node)
        if type(node.op) not in GUARD_BY_OPERATOR:
            return node
        target = node.target
        if isinstance(target, ast.Name):
            value = _guard(node.op, ast.Name(id=target.id, ctx=ast.Load()), node.value, node)
            return ast.copy_location(ast.Assign(targets=[ast.Name(id=target.id, ctx=ast.Store())], value=value), node)
        if isinstance(target, ast.Subscript):
            return self._subscript_update(node, target)
        return node  # attribute targets are rejected by the validator

    def _subscript_update(self, node: ast.AugAssign, target: ast.Subscript) -> list[ast.stmt]:
        """``obj[key] op= value`` as temporaries, so obj and key are evaluated once."""
        number = next(self._temporaries)
        holder, key = f"_aug_object_{number}", f"_aug_key_{number}"
        statements: list[ast.stmt] = [ast.Assign(targets=[ast.Name(id=holder, ctx=ast.Store())], value=target.value)]
        index: ast.expr = target.slice
        if not isinstance(index, ast.Slice):
            statements.append(ast.Assign(targets=[ast.Name(id=key, ctx=ast.Store())], value=index))
            index = ast.Name(id=key, ctx=ast.Load())
        current = ast.Subscript(value=ast.Name(id=holder, ctx=ast.Load()), slice=index, ctx=ast.Load())
        store = ast.Subscript(value=ast.Name(id=holder, ctx=ast.Load()), slice=index, ctx=ast.Store())
        statements.append(ast.Assign(targets=[store], value=_guard(node.op, current, node.value, node)))
        return [ast.fix_missing_locations(ast.copy_location(s, node)) for s in statements]


def instrument(tree: ast.Module) -> ast.Module:
    """`tree` rewritten in place with step counting and size guards, locations filled in."""
    return ast.fix_missing_locations(Instrument().visit(tree))
