"""The golden suites of policies over skills: the reference pi_T passes, known-wrong policies fail with
the problem named, and the checks run contained in the sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codegen.golden_policy import World, run_suite, simulate
from codegen.harness import run_policy_golden
from maestro_common.generated.loader import load_policy

sys.path.insert(0, str(Path(__file__).parents[1] / "common" / "generated"))
from generated_golden import TRAINING_POLICY  # noqa: E402

ALWAYS_DESCEND = """
def select_skill(ctx, available, state):
    for skill in ["Merchant", "Worshipper"]:
        if skill in available and ctx.active_skill != skill:
            return skill
    return "Descender"
"""

FIXED_DEPTH_THREE = TRAINING_POLICY.replace(
    'state["max_depth"] = MIN_MAX_DEPTH + int(ctx.random * (MAX_MAX_DEPTH - MIN_MAX_DEPTH + 1))',
    'state["max_depth"] = 3')

IGNORES_THE_SHOPKEEPER = TRAINING_POLICY.replace('for skill in ["Merchant", "Worshipper"]:', "for skill in []:")

MINES_POLICY = """
def select_skill(ctx, available, state):
    for skill in ["Merchant", "Worshipper"]:
        if skill in available and ctx.active_skill != skill:
            return skill
    if ctx.now.branch == "Gnomish Mines":
        return "Discoverer"
    if ctx.now.depth > 4:
        return "Ascender"
    if ctx.active_skill == "Ascender" and ctx.now.depth > 1 and ctx.downstairs_seen < 2:
        return "Ascender"
    return "Descender"
"""


def test_the_reference_training_policy_passes_the_training_suite():
    assert run_suite("training", load_policy(TRAINING_POLICY)) == []


@pytest.mark.parametrize("code, expected", [
    (ALWAYS_DESCEND, "the maximum depth is at most 4"),
    (ALWAYS_DESCEND, "pi_T starts with Discoverer"),
    (FIXED_DEPTH_THREE, "draw it at random"),
    (IGNORES_THE_SHOPKEEPER, "Merchant was available"),
    ("def select_skill(ctx, available, state):\n    return 'Merchant'\n", "not one of the available skills"),
    ("def select_skill(ctx, available, state):\n    return available[1 // (ctx.now.depth - 1)]\n",
     "ZeroDivisionError"),
])
def test_wrong_training_policies_fail_with_the_problem_named(code, expected):
    problems = run_suite("training", load_policy(code))
    assert any(expected in problem for problem in problems), problems


def test_the_mines_suite_needs_a_policy_that_recovers_a_missed_branch():
    assert run_suite("gnomish_mines", load_policy(MINES_POLICY)) == []
    problems = run_suite("gnomish_mines", load_policy(ALWAYS_DESCEND))
    assert any("never entered the Mines" in problem and "chose Descender x" in problem for problem in problems), \
        problems  # the counts of what was chosen help the LLM see what its policy did


def test_the_simulated_world_moves_as_the_skills_say():
    episode = simulate(load_policy(MINES_POLICY), World(seed=3, decisions=40, mines_entrance_depth=2,
                                                        mines_entry_chance=1.0, stop_in_mines=True))
    assert [d.choice for d in episode.decisions] == ["Descender", "Descender"]
    assert (episode.final_branch, episode.final_depth) == ("Gnomish Mines", 3)


def test_golden_checks_run_in_the_sandbox_and_contain_a_hostile_policy():
    assert run_policy_golden(TRAINING_POLICY, "training") == []
    looping = "def select_skill(ctx, available, state):\n    while True:\n        pass\n"
    problems = run_policy_golden(looping, "training")
    assert len(problems) == 1 and "more than" in problems[0] and "steps" in problems[0]
