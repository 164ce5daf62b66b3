"""The five skills ship as package data."""

from __future__ import annotations

import pytest

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.skills import GOD_CLAUSE, SkillSpec, load_skills, skill_by_name


def test_all_five_load_in_index_order():
    skills = load_skills()
    assert [s.name for s in skills] == [
        "Discoverer", "Descender", "Ascender", "Worshipper", "Merchant",
    ]
    assert [s.index for s in skills] == [0, 1, 2, 3, 4]
    assert len({s.name for s in skills}) == 5
    for s in skills:
        assert isinstance(s, SkillSpec)
        assert s.reward_modifier and s.description and s.initiation and s.termination
        assert "Initiation" in s.description and "Termination" in s.description
        assert s.judge_preference.endswith(GOD_CLAUSE)


def test_specs_are_immutable():
    skill = load_skills()[0]
    with pytest.raises(AttributeError):
        skill.name = "x"  # type: ignore[misc]


def test_skill_by_name():
    assert skill_by_name("Merchant").index == 4
    assert skill_by_name("descender").index == 1
    with pytest.raises(InvalidArgument) as error:
        skill_by_name("Dancer")
    assert error.value.field == "skills"
    assert "Discoverer" in error.value.message and "Merchant" in error.value.message


def test_god_clause():
    assert "god" in GOD_CLAUSE and "never" in GOD_CLAUSE.lower()
