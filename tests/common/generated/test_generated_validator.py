"""The validator rejects every attack in the corpus with a message naming the construct and line."""

from __future__ import annotations

import pytest

from maestro_common.generated.contract import contract_doc
from maestro_common.generated.validator import MAX_CODE_BYTES, validate

PREDICATES = "def initiation(ctx):\n    return True\n\ndef termination(ctx):\n    return {body}\n"

ATTACKS: dict[str, tuple[str, str]] = {
    "__import__": ("__import__('os')", "'__import__' starts with an underscore"),
    "subclasses": ("().__class__.__bases__[0].__subclasses__()", "'__subclasses__' starts with an underscore"),
    "getattr dunder": ("getattr(ctx, '__dict__')", "name 'getattr' is not defined or not allowed"),
    "open": ("open('/etc/passwd')", "name 'open' is not defined or not allowed"),
    "eval": ("eval('1')", "name 'eval' is not defined or not allowed"),
    "exec": ("exec('x = 1')", "name 'exec' is not defined or not allowed"),
    "compile": ("compile('1', 'f', 'eval')", "name 'compile' is not defined or not allowed"),
    "globals": ("globals()", "name 'globals' is not defined or not allowed"),
    "vars": ("vars(ctx)", "name 'vars' is not defined or not allowed"),
    "type": ("type(ctx)", "name 'type' is not defined or not allowed"),
    "private attribute": ("ctx._private", "attribute '_private' starts with an underscore"),
    "unknown attribute": ("ctx.now.gi_frame", "attribute 'gi_frame' is not allowed"),
    "str.format escape": ("'{0.now}'.format(ctx)", "attribute 'format' is not allowed"),
    "lambda": ("(lambda: 1)()", "lambda"),
    "walrus": ("(y := 1)", "assignment expression"),
    "dunder string": ("ctx.get('__class__')", "string constant containing '__'"),
    "f-string dunder": ("f'{ctx.__class__}'", "'__class__' starts with an underscore"),
    "f-string width bomb": ("f'{1:>999999999}'", "format spec"),
    "star args": ("max(*[1, 2])", "star unpacking"),
    "kwargs unpack": ("dict(**{'a': 1})", "** unpacking of keyword arguments"),
    "dict unpack": ("{**{'a': 1}}", "** unpacking in a dict display"),
    "print": ("print('x')", "name 'print' is not defined"),
}

STATEMENT_ATTACKS: dict[str, tuple[str, str]] = {
    "import": ("import os\n", "import is not allowed"),
    "from import": ("from os import system\n", "import is not allowed"),
    "import in function": ("def f(ctx):\n    import os\n    return os\n", "import is not allowed"),
    "class def": ("class A:\n    pass\n", "class definition is not allowed"),
    "try/except": ("def f(ctx):\n    try:\n        return 1\n    except Exception:\n        return 2\n",
                   "try/except is not allowed"),
    "raise": ("def f(ctx):\n    raise ValueError()\n", "raise is not allowed"),
    "with": ("def f(ctx):\n    with ctx:\n        pass\n", "with statement is not allowed"),
    "global": ("def f(ctx):\n    global X\n", "global is not allowed"),
    "del": ("def f(ctx):\n    x = 1\n    del x\n", "del is not allowed"),
    "yield": ("def f(ctx):\n    yield 1\n", "yield is not allowed"),
    "nested def": ("def f(ctx):\n    def g(y):\n        return y\n    return g(1)\n", "nested function 'g'"),
    "decorator": ("@initiation\ndef f(ctx):\n    return 1\n", "decorators on function 'f'"),
    "default arg": ("def f(ctx, x=[]):\n    return x\n", "may not have default parameter values"),
    "varargs": ("def f(ctx, *rest):\n    return rest\n", "plain positional parameters"),
    "attribute assignment": ("def f(ctx):\n    ctx.now = 1\n", "assignment to attribute 'now'"),
    "top-level call": ("x = len([1])\n", "top-level assignment must be NAME = literal constant"),
    "top-level loop": ("for i in range(3):\n    pass\n", "top-level For statement is not allowed"),
    "private global": ("_x = 1\n", "name '_x' starts with an underscore"),
    "private helper": ("def _f(ctx):\n    return 1\n", "name '_f' starts with an underscore"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_expression_attacks_are_rejected(name: str) -> None:
    expression, fragment = ATTACKS[name]
    code = PREDICATES.format(body=expression)
    issues = validate(code, "skill_functions")
    assert issues, f"{name} was accepted"
    assert any(fragment in issue.message for issue in issues), [str(i) for i in issues]
    assert all(issue.line == 5 for issue in issues if fragment in issue.message)
    assert any("line 5" in str(issue) for issue in issues)


@pytest.mark.parametrize("name", sorted(STATEMENT_ATTACKS))
def test_statement_attacks_are_rejected(name: str) -> None:
    statement, fragment = STATEMENT_ATTACKS[name]
    issues = validate(PREDICATES.format(body="True") + statement, "skill_functions")
    assert any(fragment in issue.message for issue in issues), [str(i) for i in issues]
    assert all(issue.line >= 6 for issue in issues)


def test_syntax_error_is_one_issue_at_its_location() -> None:
    issues = validate("def initiation(ctx):\n    return (\n", "skill_functions")
    assert len(issues) == 1
    assert issues[0].line >= 2 and "syntax error" in issues[0].message


def test_required_functions_and_parameter_names() -> None:
    issues = validate("def initiation(c):\n    return True\n", "skill_functions")
    messages = [issue.message for issue in issues]
    assert any("must be `def initiation(ctx)`, got parameters (c)" in m for m in messages)
    assert any("missing required function `def termination(ctx)`" in m for m in messages)
    policy_issues = validate("def select_skill(ctx, avail, state):\n    return avail[0]\n", "policy")
    assert any("select_skill(ctx, available, state)" in issue.message for issue in policy_issues)


def test_size_limits() -> None:
    big = PREDICATES.format(body="True") + "X = '" + "a" * MAX_CODE_BYTES + "'\n"
    assert "bytes; the limit is" in validate(big, "skill_functions")[0].message
    many = PREDICATES.format(body="[" + ", ".join(["1"] * 6000) + "]")
    assert "syntax nodes; the limit is" in validate(many, "skill_functions")[0].message
    deep = PREDICATES.format(body=" + ".join(["1"] * 500))
    assert "nested" in validate(deep, "skill_functions")[0].message
    very_deep = PREDICATES.format(body=" + ".join(["1"] * 3000))
    assert "nested" in validate(very_deep, "skill_functions")[0].message


def test_ordinary_code_is_valid() -> None:
    code = '''"""doc"""
LIMITS = {"a": (1, 2), "b": -3}

def helper(x):
    return [v * 2 for v in range(x) if v % 2 == 0]

def initiation(ctx) -> bool:
    total = 0
    for i, v in enumerate(helper(4)):
        total += v
        if total > 100:
            break
    while total > 0:
        total -= 1
    words = ctx.message.lower().split()
    seen = {w for w in words}
    table = {k: v for k, v in zip(words, range(len(words)))}
    return bool(total == 0 and len(seen) >= 0 and table.get("x", 0) == 0 and LIMITS["b"] < 0)

def termination(ctx):
    label = f"{ctx.now.depth:>3}"
    return ctx.now.depth > ctx.at_skill_start.depth if label else not ctx.merchant_precondition
'''
    assert validate(code, "skill_functions") == []


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        validate("", "other")


def test_contract_doc_lists_fields_functions_and_rules() -> None:
    skill_doc = contract_doc("skill_functions")
    assert "ctx.turns_since_skill_start: int" in skill_doc and "ctx.now.new_items: int" in skill_doc
    assert "def initiation(ctx) -> bool" in skill_doc and "def termination(ctx) -> bool" in skill_doc
    assert "food and coins excluded" in skill_doc
    policy_doc = contract_doc("policy")
    assert "def select_skill(ctx, available, state) -> str" in policy_doc and "'Merchant'" in policy_doc
    assert "no import" in policy_doc and "underscore" in policy_doc and "len" in policy_doc


def test_calling_a_context_field_is_reported_with_the_fix():
    issues = validate("def select_skill(ctx, available, state):\n    if ctx.random() < 0.5 or ctx.now.depth() > 2:\n"
                      "        return available[0]\n    return ctx.message.lower() and available[-1]\n", "policy")
    assert [i.message for i in issues] == [
        "ctx.random is a value, not a function: write ctx.random without ( )",
        "ctx.now.depth is a value, not a function: write ctx.now.depth without ( )"]


@pytest.mark.parametrize("body, returns", [
    ("    return 'Discoverer'\n", True),
    ("    if ctx.now.depth > 1:\n        return 'Ascender'\n    else:\n        return 'Descender'\n", True),
    ("    while True:\n        return 'Discoverer'\n", True),
    ("    if ctx.now.depth > 1:\n        return 'Ascender'\n", False),
    ("    if ctx.now.depth > 1:\n        return 'Ascender'\n    elif ctx.now.depth == 1:\n        return 'Descender'\n",
     False),
    ("    for skill in available:\n        return skill\n", False),
])
def test_a_function_that_can_end_without_a_return_is_reported(body, returns):
    issues = validate("def select_skill(ctx, available, state):\n" + body, "policy")
    missing = [issue for issue in issues if "without a return statement" in issue.message]
    assert bool(missing) != returns
    if missing:
        assert "select_skill" in missing[0].message and missing[0].line >= 2
