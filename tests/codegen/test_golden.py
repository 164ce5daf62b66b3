"""The golden answers that gate generated skill functions agree with correct code: the hand-written
reference predicates (written as method.md describes the skills) pass them in the sandbox, and
swapping two skills' code fails them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codegen.golden import EXPECTED
from codegen.harness import run_generated

sys.path.insert(0, str(Path(__file__).parents[1] / "common" / "generated"))
from generated_golden import SKILL_CODE  # noqa: E402


@pytest.mark.parametrize("skill", sorted(EXPECTED))
def test_reference_predicates_pass_the_golden_answers(skill):
    result = run_generated("skill_functions", SKILL_CODE[skill], "", skill=skill)
    assert result.passed, result.stderr


def test_another_skills_code_fails_them():
    result = run_generated("skill_functions", SKILL_CODE["Ascender"], "", skill="Descender")
    assert not result.passed and "should return" in result.stderr


def test_a_hard_coded_turn_budget_fails_the_navigation_setting():
    code = ("def initiation(ctx):\n    return True\n\ndef termination(ctx):\n"
            "    return ctx.turns_since_skill_start >= 500 or ctx.merchant_precondition\n")
    result = run_generated("skill_functions", code, "", skill="Discoverer")
    assert result.exit_status == 1 and "navigation task" in result.stderr
