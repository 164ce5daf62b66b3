"""The five skills' predicates and pi_T, written as method.md describes them, validate, load and behave."""

from __future__ import annotations

import pytest
from generated_contexts import context, snapshot
from generated_golden import SKILL_CODE, TRAINING_POLICY

from maestro_common.generated import SKILL_NAMES, SkillFunctions, load_policy, load_skill_functions, validate


@pytest.fixture(scope="module")
def skills() -> dict[str, SkillFunctions]:
    return load_skill_functions(SKILL_CODE)


def test_all_golden_code_validates() -> None:
    assert set(SKILL_CODE) == set(SKILL_NAMES)
    for code in SKILL_CODE.values():
        assert validate(code, "skill_functions") == []
    assert validate(TRAINING_POLICY, "policy") == []


def test_initiation_preconditions(skills: dict[str, SkillFunctions]) -> None:
    plain = context()
    for name in ("Discoverer", "Descender", "Ascender"):
        assert skills[name].initiation(plain) is True
    assert skills["Merchant"].initiation(plain) is False and skills["Worshipper"].initiation(plain) is False
    assert skills["Merchant"].initiation(context(merchant_precondition=True)) is True
    assert skills["Worshipper"].initiation(context(worshipper_precondition=True)) is True


def test_descender_ends_exactly_when_depth_increased(skills: dict[str, SkillFunctions]) -> None:
    start = snapshot(depth=3, turn=100)
    ended = [skills["Descender"].termination(context(now=snapshot(depth=d, turn=200), start=start))
             for d in (1, 2, 3, 4, 5)]
    assert ended == [False, False, False, True, True]


def test_ascender_ends_exactly_when_depth_decreased(skills: dict[str, SkillFunctions]) -> None:
    start = snapshot(depth=3, turn=100)
    ended = [skills["Ascender"].termination(context(now=snapshot(depth=d, turn=200), start=start))
             for d in (1, 2, 3, 4, 5)]
    assert ended == [True, True, False, False, False]


@pytest.mark.parametrize("budget", [500, 50])
def test_discoverer_ends_after_n_turns(skills: dict[str, SkillFunctions], budget: int) -> None:
    start = snapshot(turn=1000)
    def ends_at(turn: int) -> bool:
        return skills["Discoverer"].termination(context(now=snapshot(turn=turn), start=start, skill_turns=budget))
    assert not ends_at(1000 + budget - 1) and ends_at(1000 + budget)


@pytest.mark.parametrize("name, other", [("Merchant", "worshipper_precondition"),
                                         ("Worshipper", "merchant_precondition")])
def test_interaction_skills_end_after_20n_turns_or_other_precondition(skills: dict[str, SkillFunctions], name: str,
                                                                      other: str) -> None:
    start = snapshot(turn=0)
    def ends(turn: int, **flags: bool) -> bool:
        return skills[name].termination(context(now=snapshot(turn=turn), start=start, skill_turns=50, **flags))
    assert not ends(999) and ends(1000)
    assert ends(10, **{other: True})


@pytest.mark.parametrize("flag", ["merchant_precondition", "worshipper_precondition"])
def test_movement_skills_end_when_a_precondition_shows(skills: dict[str, SkillFunctions], flag: str) -> None:
    for name in ("Discoverer", "Descender", "Ascender"):
        assert skills[name].termination(context(**{flag: True})) is True


def simulate(policy, randoms: list[float], steps: int, shop_at: int = -1) -> list[tuple[str, int]]:
    """Crude game: Descender/Ascender move one level; returns (skill, depth when chosen) per choice."""
    state: dict = {}
    depth, active, trace = 1, "", []
    for step in range(steps):
        now = snapshot(depth=depth, turn=step * 10)
        ctx = context(now=now, active_skill=active, random=randoms[step % len(randoms)],
                      merchant_precondition=step == shop_at)
        available = ["Discoverer", "Descender", "Ascender"] + (["Merchant"] if step == shop_at else [])
        active = policy(ctx, available, state)
        trace.append((active, depth))
        depth += {"Descender": 1, "Ascender": -1}.get(active, 0)
    return trace


def test_training_policy_alternates_down_to_random_max_depth_and_back() -> None:
    policy = load_policy(TRAINING_POLICY)
    trace = simulate(policy, [0.99], steps=20)  # max depth 4 every time
    skills_chosen = [skill for skill, _ in trace]
    assert skills_chosen[0] == "Discoverer"
    assert skills_chosen[::2] == ["Discoverer"] * 10  # alternates with Discoverer
    moves = [(skill, depth) for skill, depth in trace if skill != "Discoverer"]
    assert moves[:6] == [("Descender", 1), ("Descender", 2), ("Descender", 3), ("Ascender", 4), ("Ascender", 3),
                         ("Ascender", 2)]
    assert moves[6] == ("Descender", 1)


@pytest.mark.parametrize("draw, deepest", [(0.0, 2), (0.5, 3), (0.99, 4)])
def test_training_policy_max_depth_comes_from_the_random_draw(draw: float, deepest: int) -> None:
    trace = simulate(load_policy(TRAINING_POLICY), [draw], steps=30)
    assert max(depth for _, depth in trace) == deepest


def test_training_policy_takes_merchant_when_available() -> None:
    trace = simulate(load_policy(TRAINING_POLICY), [0.5], steps=8, shop_at=3)
    assert trace[3][0] == "Merchant" and trace[4][0] != "Merchant"
