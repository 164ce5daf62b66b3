"""OptionsRuntime: call-and-return on real game steps, with skill code loaded by the real restricted loader."""

from __future__ import annotations

import random

import numpy as np
import pytest
from wizard_games import create_monster, teleport_depth, wish, wizard_env

from maestro_common.errors import InvalidArgument
from maestro_common.generated import code_artifact, load_policy, load_skill_functions, parse_code_artifact
from maestro_common.generated.contract import SKILL_NAMES, make_context
from maestro_common.nethack.actions import COMPASS, Action
from maestro_common.nethack.env import make_env
from maestro_common.options import OptionsRuntime, RandomSkillPolicy, skill_time_budget


def skill(initiation: str = "True", termination: str = "False") -> str:
    return f"def initiation(ctx):\n    return {initiation}\n\ndef termination(ctx):\n    return {termination}\n"


PAPER_SKILLS = {
    "Discoverer": skill(),
    "Descender": skill(termination="ctx.now.depth > ctx.at_skill_start.depth"),
    "Ascender": skill(termination="ctx.now.depth < ctx.at_skill_start.depth"),
    "Worshipper": skill(initiation="ctx.worshipper_precondition"),
    "Merchant": skill(initiation="ctx.merchant_precondition"),
}

ALWAYS = """
def select_skill(ctx, available, state):
    state['calls'] = state.get('calls', 0) + 1
    if '{skill}' in available:
        return '{skill}'
    return available[0]
"""

PREFER_PRECONDITIONS = """
def select_skill(ctx, available, state):
    if 'Worshipper' in available:
        return 'Worshipper'
    if 'Merchant' in available:
        return 'Merchant'
    return 'Discoverer'
"""


def runtime(policy: str | object, skills: dict[str, str] | None = None, *, skill_turns: int = 10,
            step_limit: int = 10_000, **kwargs) -> OptionsRuntime:
    functions = load_skill_functions(skills or PAPER_SKILLS, step_limit=step_limit)
    pi = load_policy(policy, step_limit=step_limit) if isinstance(policy, str) else policy
    return OptionsRuntime(functions, pi, skill_turns=skill_turns, rng=np.random.default_rng(0), **kwargs)


def play(env, options: OptionsRuntime, seed: int, steps: int, actions_seed: int = 0) -> list[int]:
    """Random compass moves for `steps` env steps; the runtime's skill index after each."""
    rng = np.random.default_rng(actions_seed)
    skills = [options.reset(env.reset(seed))]
    for _ in range(steps):
        obs, _, done, truncated, _ = env.step(int(rng.choice(COMPASS)))
        if done or truncated:
            options.end_episode(obs)
            break
        skills.append(options.step(obs))
    return skills


@pytest.fixture
def env():
    environment = make_env()
    yield environment
    environment.close()


@pytest.fixture
def wizard():
    environment = wizard_env()
    yield environment
    environment.close()


def test_time_budgets():
    assert [skill_time_budget(name, 50) for name in SKILL_NAMES] == [50, None, None, 1000, 1000]


def test_discoverer_ends_on_its_budget_and_the_timeline_is_contiguous(env):
    """Seed 3, 150 real moves, N = 10 turns: every Discoverer run lasts >= 10 game turns and ends on "budget"."""
    options = runtime(ALWAYS.format(skill="Discoverer"))
    indices = play(env, options, seed=3, steps=150)
    assert set(indices) == {0}
    closed = [record for record in options.timeline if record.end_reason is not None]
    assert len(closed) >= 3
    for record in closed[:-1] if closed[-1].end_reason == "episode_end" else closed:
        assert record.skill == "Discoverer" and record.end_reason == "budget" and record.chosen_by == "policy"
        assert 10 <= record.end_turn - record.start_turn < 10 + 25  # one step moves the clock a few turns at most
    for before, after in zip(options.timeline, options.timeline[1:]):
        assert before.end_step == after.start_step and before.end_turn == after.start_turn
    assert options.policy_state["calls"] == len(options.timeline) == options.decisions
    assert options.error_counts == {"initiation": 0, "termination": 0, "policy": 0}
    assert options.skill_one_hot().tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_descender_ends_when_depth_grows_and_policy_state_is_per_episode(wizard):
    """Wizard mode: Descender runs until a ^V level teleport to depth 3; then pi_T picks Ascender."""
    policy = """
def select_skill(ctx, available, state):
    state['calls'] = state.get('calls', 0) + 1
    if ctx.active_skill == 'Descender':
        return 'Ascender'
    return 'Descender'
"""
    options = runtime(policy)
    assert options.reset(wizard.reset(5)) == 1
    for _ in range(3):
        obs, *_ = wizard.step(Action.SEARCH)
        assert options.step(obs) == 1
    assert not options.switched
    assert options.step(teleport_depth(wizard, 3)) == 2 and options.switched
    descent = options.timeline[0]
    assert (descent.skill, descent.end_reason, descent.end_step) == ("Descender", "termination", 4)
    assert options.tracker.snapshot().depth == 3 and options.timeline[1].skill == "Ascender"
    assert options.policy_state == {"calls": 2}
    options.reset(wizard.reset(6))
    assert options.policy_state == {"calls": 1} and len(options.timeline) == 1


def test_a_precondition_interrupts_the_running_skill_and_pi_t_can_switch(wizard):
    """Wizard mode: new items, then an altar next to the hero: Discoverer ends on "precondition"."""
    options = runtime(PREFER_PRECONDITIONS, skill_turns=500)
    assert options.reset(wizard.reset(5)) == 0
    wish(wizard, "2 daggers")
    wish(wizard, "altar")
    obs, *_ = wizard.step(Action.SEARCH)
    assert options.step(obs) == 0  # the altar is under the hero: not seen yet
    obs, *_ = wizard.step(Action.E)
    assert options.step(obs) == SKILL_NAMES.index("Worshipper")
    first, second = options.timeline
    assert first.end_reason == "precondition" and second.skill == "Worshipper"
    obs, *_ = wizard.step(Action.SEARCH)  # the precondition still holds: nothing new
    assert options.step(obs) == 3 and len(options.timeline) == 2


def test_when_pi_t_picks_the_interrupted_skill_again_it_continues(wizard):
    """Same situation, pi_T always wants Discoverer: one record, its start kept, one interruption."""
    options = runtime(ALWAYS.format(skill="Discoverer"), skill_turns=500)
    options.reset(wizard.reset(5))
    wish(wizard, "2 daggers")
    wish(wizard, "altar")
    obs, *_ = wizard.step(Action.SEARCH)
    options.step(obs)
    obs, *_ = wizard.step(Action.E)
    assert options.step(obs) == 0 and not options.switched
    (record,) = options.timeline
    assert record.interruptions == 1 and record.end_reason is None and record.start_step == 0
    assert options.policy_state["calls"] == 2


def test_merchant_precondition_interrupts_too(wizard):
    options = runtime(PREFER_PRECONDITIONS, skill_turns=500)
    options.reset(wizard.reset(5))
    wish(wizard, "2 daggers")
    assert options.step(create_monster(wizard, "shopkeeper", force=True)) == SKILL_NAMES.index("Merchant")
    assert options.timeline[0].end_reason == "precondition"


def test_empty_available_runs_the_fallback_without_calling_pi_t(env):
    skills = {name: skill(initiation="False") for name in SKILL_NAMES}
    options = runtime(ALWAYS.format(skill="Descender"), skills, skill_turns=5)
    play(env, options, seed=2, steps=40)
    assert {r.skill for r in options.timeline} == {"Discoverer"}
    assert {r.chosen_by for r in options.timeline} == {"fallback"}
    assert options.policy_state == {} and len(options.timeline) >= 2


def test_generated_code_failures_are_caught_counted_and_fall_back(env):
    """Initiation dividing by zero, termination raising, pi_T running out of its step budget: no crash."""
    skills = dict(PAPER_SKILLS)
    skills["Ascender"] = skill(initiation="ctx.now.depth // (ctx.now.depth - ctx.now.depth) > 0")
    skills["Descender"] = skill(termination="[1][ctx.now.depth] == 1")  # IndexError at depth 1
    slow_policy = """
def select_skill(ctx, available, state):
    if ctx.active_skill == '':
        return 'Descender'
    total = 0
    for i in range(500):
        total += i
    return available[-1]
"""
    options = runtime(slow_policy, skills, step_limit=200)
    play(env, options, seed=4, steps=6)
    first = options.timeline[0]
    assert (first.skill, first.chosen_by, first.end_reason, first.end_step) == ("Descender", "policy",
                                                                                  "termination_error", 1)
    assert options.error_counts["initiation"] >= 2 and options.error_counts["termination"] >= 1
    assert options.error_counts["policy"] >= 1
    assert {r.chosen_by for r in options.timeline[1:]} == {"policy_error"}
    assert {r.skill for r in options.timeline[1:]} == {"Discoverer"}  # first available in SKILL_NAMES order
    assert any("BudgetExceeded" in e for e in options.recent_errors)
    assert any("ZeroDivisionError" in e for e in options.recent_errors)


def test_random_skill_policy_is_uniform_and_replays_with_the_seed(env):
    policy = RandomSkillPolicy()
    draws = [policy(make_context(random=r), ["Discoverer", "Descender", "Ascender"], {}) for r in (0.0, 0.5, 0.99)]
    assert draws == ["Discoverer", "Descender", "Ascender"]
    short = {name: skill(termination="ctx.turns_since_skill_start >= 3") for name in SKILL_NAMES[:3]}
    picks = []
    for _ in range(2):
        options = OptionsRuntime(load_skill_functions(short), policy, skill_turns=3, rng=random.Random(7))
        play(env, options, seed=1, steps=60)
        picks.append([r.skill for r in options.timeline])
    assert picks[0] == picks[1] and len(picks[0]) >= 10
    assert set(picks[0]) == {"Discoverer", "Descender", "Ascender"}


def test_from_artifacts_loads_through_the_code_artifact():
    meta = dict(model="test", prompt_version="v0", tests="", transcript=[])
    skills = parse_code_artifact(code_artifact("skill_functions", PAPER_SKILLS, **meta))
    policy = parse_code_artifact(code_artifact("policy", PREFER_PRECONDITIONS, **meta))
    options = OptionsRuntime.from_artifacts(skills, policy, skill_turns=50, rng=np.random.default_rng(1))
    assert options.skill_turns == 50
    with pytest.raises(InvalidArgument, match="role"):
        OptionsRuntime.from_artifacts(policy, skills, skill_turns=50, rng=np.random.default_rng(1))


def test_arguments_are_checked():
    functions = load_skill_functions(PAPER_SKILLS)
    with pytest.raises(InvalidArgument, match="skill_turns"):
        OptionsRuntime(functions, RandomSkillPolicy(), skill_turns=0, rng=random.Random(0))
    with pytest.raises(InvalidArgument, match="fallback_skill"):
        OptionsRuntime({"Descender": functions["Descender"]}, RandomSkillPolicy(), skill_turns=5, rng=random.Random(0))
