"""Loading: restricted builtins, the step budget, size guards, result checks and the code artifact."""

from __future__ import annotations

import json
import time

import pytest
from generated_contexts import context, snapshot
from generated_golden import SKILL_CODE, TRAINING_POLICY

from maestro_common.errors import CorruptArtifact, InvalidArgument
from maestro_common.generated import (
    BudgetExceeded,
    GeneratedCodeError,
    code_artifact,
    load_artifact,
    load_policy,
    load_skill_functions,
    parse_code_artifact,
)


def skill(termination_body: str, initiation_body: str = "return True", prelude: str = "") -> str:
    """Code for one skill with the given function bodies (each already indented by the caller if multi-line)."""
    return (f"{prelude}\ndef initiation(ctx):\n    {initiation_body}\n\n"
            f"def termination(ctx):\n    {termination_body}\n")


def test_invalid_code_is_invalid_argument_listing_issues() -> None:
    with pytest.raises(InvalidArgument) as caught:
        load_skill_functions({"Descender": skill("return open('/etc/passwd')", prelude="import os")})
    assert caught.value.field == "code"
    assert "import is not allowed" in caught.value.message and "'open'" in caught.value.message
    assert "line 1" in caught.value.message


def test_unknown_skill_name_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="skills must be among"):
        load_skill_functions({"Jumper": skill("return True")})


def test_infinite_loop_is_stopped_by_the_budget_and_the_next_call_has_a_fresh_one() -> None:
    code = skill("n = 0\n    while ctx.now.depth > n:\n        n += 0\n    return True",
                 initiation_body="return sum([1 for i in range(50)]) == 50")
    functions = load_skill_functions({"Discoverer": code}, step_limit=1_000)["Discoverer"]
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match=r"Discoverer.termination at line 7: more than 1000 steps"):
        functions.termination(context())
    assert time.perf_counter() - started < 1.0
    assert functions.initiation(context()) is True  # 50 comprehension steps: well within a fresh budget
    with pytest.raises(BudgetExceeded):
        functions.termination(context())


def test_while_true_pass_runs_out_of_budget() -> None:
    functions = load_skill_functions({"Discoverer": skill("while True:\n        pass\n    return True")})
    with pytest.raises(BudgetExceeded, match="more than 10000 steps"):
        functions["Discoverer"].termination(context())


def test_comprehensions_and_recursion_count_steps() -> None:
    nested = skill("return len([1 for a in range(200) for b in range(200)]) > 0")
    with pytest.raises(BudgetExceeded):
        load_skill_functions({"Discoverer": nested})["Discoverer"].termination(context())
    recursive = skill("return deep(0)", prelude="def deep(n):\n    return deep(n + 1)\n")
    with pytest.raises((BudgetExceeded, GeneratedCodeError)):
        load_skill_functions({"Discoverer": recursive})["Discoverer"].termination(context())


@pytest.mark.parametrize("expression", [
    "[1] * 10**9", "'a' * 10**9", "10 ** 10 ** 6", "1 << 10**6", "list(range(10**9))", "range(10**30)",
])
def test_memory_bombs_are_refused_at_run_time(expression: str) -> None:
    functions = load_skill_functions({"Discoverer": skill(f"return len(str({expression})) > 0")})
    with pytest.raises(BudgetExceeded, match="the limit is"):
        functions["Discoverer"].termination(context())


def test_doubling_in_a_loop_is_refused() -> None:
    code = skill("x = [1]\n    for i in range(100):\n        x += x\n    return len(x) > 0",
                 initiation_body="s = {'k': 'ab'}\n    for i in range(100):\n        s['k'] *= 2\n    return True")
    functions = load_skill_functions({"Discoverer": code})["Discoverer"]
    with pytest.raises(BudgetExceeded, match="sequence of"):
        functions.termination(context())
    with pytest.raises(BudgetExceeded, match="sequence of"):
        functions.initiation(context())


def test_runtime_errors_name_function_and_line() -> None:
    functions = load_skill_functions({"Ascender": skill("x = 0\n    return 1 / x > 0")})["Ascender"]
    with pytest.raises(GeneratedCodeError, match="Ascender.termination raised ZeroDivisionError at line 7"):
        functions.termination(context())


def test_context_is_read_only_at_run_time() -> None:
    functions = load_skill_functions({"Ascender": skill("state = [ctx]\n    return state.pop().now.setdefault(1)")})
    with pytest.raises(GeneratedCodeError, match="AttributeError"):
        functions["Ascender"].termination(context())


def test_predicates_must_return_bool() -> None:
    functions = load_skill_functions({"Merchant": skill("return ctx.now.depth")})["Merchant"]
    with pytest.raises(GeneratedCodeError, match="Merchant.termination returned int 1; it must return True or False"):
        functions.termination(context())


def test_policy_answer_must_be_available() -> None:
    policy = load_policy("def select_skill(ctx, available, state):\n    return 'Merchant'\n")
    with pytest.raises(GeneratedCodeError, match="not one of the available skills"):
        policy(context(), ["Discoverer", "Descender"], {})
    assert policy(context(), ["Merchant"], {}) == "Merchant"


def test_policy_gets_a_copy_of_available() -> None:
    policy = load_policy("def select_skill(ctx, available, state):\n    available.clear()\n    return 'Ascender'\n")
    available = ["Ascender"]
    assert policy(context(), available, {}) == "Ascender" and available == ["Ascender"]


def test_restricted_builtins_only() -> None:
    code = skill("return all([len, min, max, abs, range, sum, any, all, sorted, int, float, bool, str, round, list, "
                 "dict, set, tuple, enumerate, zip, isinstance, reversed])")
    assert load_skill_functions({"Discoverer": code})["Discoverer"].termination(context()) is True


def test_artifact_round_trip_and_load() -> None:
    artifact = code_artifact("skill_functions", SKILL_CODE, model="tiny", prompt_version="v1", tests="assert True",
                             transcript=[{"role": "user", "content": "write"}])
    parsed = parse_code_artifact(json.dumps(artifact).encode())
    assert parsed.code == SKILL_CODE and parsed.model == "tiny" and parsed.transcript[0]["role"] == "user"
    loaded = load_artifact(parsed)
    assert isinstance(loaded, dict) and set(loaded) == set(SKILL_CODE)
    policy_artifact = code_artifact("policy", TRAINING_POLICY, model="tiny", prompt_version="v1", tests="",
                                    transcript=[])
    policy = load_artifact(parse_code_artifact(policy_artifact))
    assert callable(policy) and policy(context(), ["Discoverer", "Descender"], {}) == "Discoverer"


def test_artifact_tampering_and_malformed_input() -> None:
    artifact = code_artifact("policy", TRAINING_POLICY, model="m", prompt_version="v1", tests="", transcript=[])
    with pytest.raises(CorruptArtifact, match="code_sha256"):
        parse_code_artifact({**artifact, "code": TRAINING_POLICY + "\n"})
    with pytest.raises(InvalidArgument, match="format"):
        parse_code_artifact({**artifact, "format": "other"})
    with pytest.raises(InvalidArgument, match="not JSON"):
        parse_code_artifact("{")
    with pytest.raises(InvalidArgument, match="one source string"):
        code_artifact("policy", {"Discoverer": "x"}, model="m", prompt_version="v", tests="", transcript=[])


def test_hot_path_overhead_is_small() -> None:
    """A loaded Descender termination costs a few microseconds at most per call."""
    termination = load_skill_functions({"Descender": SKILL_CODE["Descender"]})["Descender"].termination
    ctx = context(now=snapshot(depth=2), start=snapshot(depth=1))
    calls = 20_000
    started = time.perf_counter()
    for _ in range(calls):
        termination(ctx)
    per_call = (time.perf_counter() - started) / calls
    assert per_call < 20e-6
