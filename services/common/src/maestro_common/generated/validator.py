"""Static validation of generated code: a whitelist of syntax, names and attributes.

`validate(code, role)` returns every problem found (empty = valid), each with the line, column and a
message that names the construct, so a person or the LLM can fix it. Decisions:

- lambda, nested functions, classes, try/except/raise, with, import, global/nonlocal, del, yield,
  await, walrus, star-arguments and ``**`` unpacking are rejected;
- top-level helper functions are allowed (plain positional parameters, no defaults, no decorators);
  top-level statements other than functions must be constant assignments (``MAX_DEPTH = 4``);
- a name must be a parameter, a local, a top-level constant or function, or an allowed builtin; an
  attribute must be a context field or an allowed method; nothing may start with ``_``;
- attribute and item assignment: item assignment is allowed (``state["phase"] = 1``), attribute
  assignment is not;
- arithmetic size (``[1] * 10**9``) is not judged here: the loader guards ``*``, ``**``, ``<<``, ``+``
  and ``range`` at run time, since non-constant operands can grow just as much as constant ones;
- infinite loops are syntactically fine; the loader's per-call step budget stops them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, fields

from maestro_common.generated.contract import (
    ALLOWED_BUILTINS,
    ALLOWED_METHODS,
    REQUIRED_FUNCTIONS,
    ROLES,
    SkillContext,
    Snapshot,
)

MAX_CODE_BYTES = 20_000
"""Longest code accepted, in UTF-8 bytes."""
MAX_AST_NODES = 5_000
"""Most AST nodes accepted."""
MAX_AST_DEPTH = 100
"""Deepest nesting of AST nodes accepted (keeps checking, compiling and running far from recursion limits)."""
MAX_FORMAT_WIDTH = 100
"""Largest number allowed in an f-string format spec (a huge width would build a huge string)."""

ALLOWED_ATTRIBUTES: frozenset[str] = frozenset(
    [f.name for f in fields(SkillContext)] + [f.name for f in fields(Snapshot)] + list(ALLOWED_METHODS))
"""Every attribute name generated code may use."""

_OPERATORS = (ast.operator, ast.boolop, ast.unaryop, ast.cmpop, ast.expr_context)
_ALLOWED_NODES = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.If, ast.For, ast.While, ast.Break,
    ast.Continue, ast.Pass, ast.Assign, ast.AugAssign, ast.Expr, ast.Compare, ast.BoolOp, ast.BinOp,
    ast.UnaryOp, ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Slice, ast.Call, ast.keyword,
    ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
    ast.comprehension, ast.IfExp, ast.JoinedStr, ast.FormattedValue,
) + _OPERATORS

_FORBIDDEN_NAMES = {
    ast.Import: "import", ast.ImportFrom: "import", ast.Global: "global", ast.Nonlocal: "nonlocal",
    ast.Lambda: "lambda (write a def or a loop instead)", ast.ClassDef: "class definition",
    ast.With: "with statement", ast.AsyncWith: "with statement", ast.Try: "try/except",
    ast.Raise: "raise", ast.Delete: "del", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Await: "await", ast.AsyncFunctionDef: "async def", ast.AsyncFor: "async for",
    ast.NamedExpr: "assignment expression (:=)", ast.Starred: "star unpacking (*x)",
    ast.AnnAssign: "annotated assignment (drop the annotation)", ast.Assert: "assert", ast.Match: "match",
}
if hasattr(ast, "TryStar"):
    _FORBIDDEN_NAMES[ast.TryStar] = "try/except*"


@dataclass(frozen=True)
class ValidationIssue:
    """One problem in generated code."""

    line: int
    """1-based line of the offending construct (0 when the problem is about the whole code)."""
    column: int
    """0-based column of the offending construct."""
    message: str
    """What is wrong and what to do instead."""

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


def _issue(node: ast.AST, message: str) -> ValidationIssue:
    """An issue located at `node`."""
    return ValidationIssue(getattr(node, "lineno", 0), getattr(node, "col_offset", 0), message)


def _is_constant_value(node: ast.expr) -> bool:
    """A literal: constants and displays of literals, with unary minus or plus."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_constant_value(node.operand)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_is_constant_value(element) for element in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_constant_value(k) and _is_constant_value(v)
                   for k, v in zip(node.keys, node.values))
    return False


def _check_top_level(tree: ast.Module, role: str) -> tuple[list[ValidationIssue], set[str]]:
    """Top-level shape: functions and constant assignments only; required functions present."""
    issues: list[ValidationIssue] = []
    globals_: set[str] = set()
    defined: dict[str, ast.FunctionDef] = {}
    for index, statement in enumerate(tree.body):
        if isinstance(statement, ast.FunctionDef):
            if statement.name in defined:
                issues.append(_issue(statement, f"function {statement.name!r} is defined twice"))
            defined[statement.name] = statement
            globals_.add(statement.name)
        elif isinstance(statement, ast.Assign):
            hidden = [t.id for t in statement.targets if isinstance(t, ast.Name) and t.id.startswith("_")]
            if hidden:
                issues.append(_issue(statement, f"name {hidden[0]!r} starts with an underscore; such names are "
                                                "not allowed"))
            if not all(isinstance(t, ast.Name) for t in statement.targets) or not _is_constant_value(statement.value):
                issues.append(_issue(statement, "top-level assignment must be NAME = literal constant"))
            globals_.update(t.id for t in statement.targets if isinstance(t, ast.Name))
        elif index == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # module docstring
        elif type(statement) not in _FORBIDDEN_NAMES:
            issues.append(_issue(statement, f"top-level {type(statement).__name__} statement is not allowed; "
                                            "only function definitions and constant assignments"))
    for name, params in REQUIRED_FUNCTIONS[role].items():
        function = defined.get(name)
        signature = f"def {name}({', '.join(params)})"
        if function is None:
            issues.append(ValidationIssue(0, 0, f"missing required function `{signature}`"))
        elif tuple(a.arg for a in function.args.args) != params or function.args.posonlyargs:
            got = ", ".join(a.arg for a in function.args.posonlyargs + function.args.args)
            issues.append(_issue(function, f"function {name!r} must be `{signature}`, got parameters ({got})"))
        elif not _always_returns(function.body):
            issues.append(_issue(function.body[-1], f"function {name!r} can reach its end without a return statement "
                                                    "(it would return None): end every path with a return"))
    return issues, globals_


def _always_returns(body: list[ast.stmt]) -> bool:
    """Whether every path through `body` ends in a return (an if needs one in both branches)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    if isinstance(last, ast.While) and isinstance(last.test, ast.Constant) and last.test.value is True:
        return not any(isinstance(node, ast.Break) for node in ast.walk(last))
    return False


def _function_locals(function: ast.FunctionDef) -> set[str]:
    """Parameters and every name the function assigns (comprehension variables included)."""
    names = {a.arg for a in function.args.args}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _check_function(function: ast.FunctionDef, nested: bool) -> list[ValidationIssue]:
    """Signature rules of one function definition."""
    issues: list[ValidationIssue] = []
    if nested:
        issues.append(_issue(function, f"nested function {function.name!r} is not allowed; define it at top level"))
    hidden = [name for name in [function.name, *(a.arg for a in function.args.args)] if name.startswith("_")]
    if hidden:
        issues.append(_issue(function, f"name {hidden[0]!r} starts with an underscore; such names are not allowed"))
    if function.decorator_list:
        issues.append(_issue(function, f"decorators on function {function.name!r} are not allowed"))
    arguments = function.args
    if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.posonlyargs:
        issues.append(_issue(function, f"function {function.name!r} may only have plain positional parameters"))
    if arguments.defaults or arguments.kw_defaults:
        issues.append(_issue(function, f"function {function.name!r} may not have default parameter values"))
    return issues


def _check_format_spec(node: ast.FormattedValue) -> list[ValidationIssue]:
    """Format specs must be literal and small."""
    spec = node.format_spec
    if spec is None:
        return []
    parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
    if not all(isinstance(p, ast.Constant) for p in parts):
        return [_issue(node, "f-string format spec must be a literal (no nested {...})")]
    text = "".join(str(p.value) for p in parts)  # type: ignore[attr-defined]
    if any(int(number) > MAX_FORMAT_WIDTH for number in re.findall(r"\d+", text)):
        return [_issue(node, f"f-string format spec {text!r} has a number above {MAX_FORMAT_WIDTH}")]
    return []


def _is_context_field(node: ast.expr) -> bool:
    """`ctx.<field>` or `ctx.now.<field>` / `ctx.at_skill_start.<field>`: data, never callable."""
    if not isinstance(node, ast.Attribute) or node.attr in ALLOWED_METHODS:
        return False
    base = node.value
    if isinstance(base, ast.Attribute) and base.attr in ("now", "at_skill_start"):
        base = base.value
    return isinstance(base, ast.Name) and base.id == "ctx"


def _check_node(node: ast.AST, allowed_names: set[str]) -> list[ValidationIssue]:
    """Issues of one node on its own (children are visited separately)."""
    kind = type(node)
    if kind in _FORBIDDEN_NAMES:
        return [_issue(node, f"{_FORBIDDEN_NAMES[kind]} is not allowed")]
    if not isinstance(node, _ALLOWED_NODES):
        return [_issue(node, f"{kind.__name__} is not allowed")]
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            return [_issue(node, f"name {node.id!r} starts with an underscore; such names are not allowed")]
        if node.id not in allowed_names:
            return [_issue(node, f"name {node.id!r} is not defined or not allowed; allowed builtins are "
                                 f"{', '.join(ALLOWED_BUILTINS)}")]
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            return [_issue(node, f"attribute {node.attr!r} starts with an underscore; such attributes are not "
                                 "allowed")]
        if isinstance(node.ctx, ast.Store):
            return [_issue(node, f"assignment to attribute {node.attr!r} is not allowed; the context is "
                                 "read-only (use local variables or state[...])")]
        if node.attr not in ALLOWED_ATTRIBUTES:
            return [_issue(node, f"attribute {node.attr!r} is not allowed; use the context fields or the "
                                 "allowed methods")]
    elif isinstance(node, ast.Call) and _is_context_field(node.func):
        field = ast.unparse(node.func)
        return [_issue(node, f"{field} is a value, not a function: write {field} without ( )")]
    elif isinstance(node, ast.keyword):
        if node.arg is None:
            return [_issue(node, "** unpacking of keyword arguments is not allowed")]
        if node.arg.startswith("_"):
            return [_issue(node, f"keyword {node.arg!r} starts with an underscore; not allowed")]
    elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        return [_issue(node, "** unpacking in a dict display is not allowed")]
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
        return [_issue(node, "string constant containing '__' is not allowed")]
    elif isinstance(node, ast.FormattedValue):
        return _check_format_spec(node)
    return []


def _walk(node: ast.AST, allowed_names: set[str], depth: int, issues: list[ValidationIssue]) -> None:
    """Checks `node` and its children; `depth` counts enclosing function definitions."""
    if isinstance(node, ast.FunctionDef):
        issues.extend(_check_function(node, nested=depth > 0))
        allowed_names = allowed_names | _function_locals(node)
        children = [*node.body]  # annotations are stripped by the loader and checked below
        for annotation in [node.returns, *(a.annotation for a in node.args.args)]:
            if annotation is not None:
                _check_annotation(annotation, issues)
        for child in children:
            _walk(child, allowed_names, depth + 1, issues)
        return
    issues.extend(_check_node(node, allowed_names))
    if type(node) in _FORBIDDEN_NAMES or not isinstance(node, _ALLOWED_NODES):
        return  # one issue per rejected construct, none for its insides
    for child in ast.iter_child_nodes(node):
        _walk(child, allowed_names, depth, issues)


def _check_annotation(node: ast.expr, issues: list[ValidationIssue]) -> None:
    """Annotations may only be simple type expressions (they are removed before the code runs)."""
    for sub in ast.walk(node):
        if not isinstance(sub, (ast.Name, ast.Constant, ast.Subscript, ast.Attribute, ast.Tuple, ast.BinOp,
                                ast.BitOr, ast.Load)):
            issues.append(_issue(sub, f"annotation contains {type(sub).__name__}; use a plain type name"))
        elif isinstance(sub, ast.Name) and sub.id.startswith("_") or (
                isinstance(sub, ast.Attribute) and sub.attr.startswith("_")):
            issues.append(_issue(sub, "annotation names may not start with an underscore"))


def parse_checked(code: str) -> tuple[ast.Module | None, list[ValidationIssue]]:
    """Size limits and parsing; the tree is None when the code cannot be parsed or is too big."""
    size = len(code.encode("utf-8"))
    if size > MAX_CODE_BYTES:
        return None, [ValidationIssue(0, 0, f"code is {size} bytes; the limit is {MAX_CODE_BYTES}")]
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as error:
        return None, [ValidationIssue(error.lineno or 0, max((error.offset or 1) - 1, 0),
                                      f"syntax error: {error.msg}")]
    except (RecursionError, MemoryError):
        return None, [ValidationIssue(0, 0, "code is nested too deeply to parse; split long expressions")]
    count, depth = _size_and_depth(tree)
    if count > MAX_AST_NODES:
        return None, [ValidationIssue(0, 0, f"code has {count} syntax nodes; the limit is {MAX_AST_NODES}")]
    if depth > MAX_AST_DEPTH:
        return None, [ValidationIssue(0, 0, f"code is nested {depth} syntax levels deep; the limit is "
                                            f"{MAX_AST_DEPTH}; split long expressions")]
    return tree, []


def _size_and_depth(tree: ast.AST) -> tuple[int, int]:
    """Node count and nesting depth of `tree`, without recursion."""
    count, deepest = 0, 0
    pending = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        count += 1
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return count, deepest


def validate(code: str, role: str) -> list[ValidationIssue]:
    """Every problem that keeps `code` from running as `role`; an empty list means valid."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    tree, issues = parse_checked(code)
    if tree is None:
        return issues
    top_issues, globals_ = _check_top_level(tree, role)
    body_issues: list[ValidationIssue] = []
    allowed = set(ALLOWED_BUILTINS) | globals_
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            continue  # checked as a literal by _check_top_level
        _walk(statement, allowed, 0, body_issues)
    found = top_issues + body_issues
    return sorted(set(found), key=lambda issue: (issue.line, issue.column, issue.message))


def format_issues(issues: list[ValidationIssue]) -> str:
    """All issues as one message, one per line."""
    return "\n".join(str(issue) for issue in issues)
