"""The five skills of the paper, as shipped package data (`skills/*.json`).

Each skill carries two texts: `reward_modifier`, the preference the LLM judge is asked to seek when
it compares two gameplay descriptions (always together with `GOD_CLAUSE`), and `description`, what
the code-writing LLM is told about the skill (what it does, when it may start, when it ends).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources

from maestro_common.errors import InvalidArgument

GOD_CLAUSE = (
    "Whatever else you prefer, never prefer play that angers or displeases the hero's god."
)
"""The clause every judge prompt adds after a skill's reward modifier."""

SKILL_FILES: tuple[str, ...] = (
    "discoverer.json", "descender.json", "ascender.json", "worshipper.json", "merchant.json",
)


@dataclasses.dataclass(frozen=True)
class SkillSpec:
    """One skill as the annotation, code-generation and training phases see it."""

    name: str
    """Skill name ("Discoverer", ...)."""
    index: int
    """Position of the skill in the skill network's one-hot input (0..4)."""
    reward_modifier: str
    """The preference given to the LLM judge (without `GOD_CLAUSE`)."""
    description: str
    """What the skill does, its initiation and its termination, for the code-writing LLM."""
    initiation: str
    """When the skill may start, in short."""
    termination: str
    """When the skill ends, in short."""

    @property
    def judge_preference(self) -> str:
        """The full preference text of a judge prompt: the modifier, then `GOD_CLAUSE`."""
        return f"{self.reward_modifier} {GOD_CLAUSE}"


def load_skills() -> list[SkillSpec]:
    """All skills in index order (a fresh list; the specs themselves are immutable)."""
    return list(_load())


@functools.cache
def _load() -> tuple[SkillSpec, ...]:
    folder = resources.files("maestro_common.nethack") / "skills"
    specs = []
    for filename in SKILL_FILES:
        data = json.loads((folder / filename).read_text(encoding="utf-8"))
        specs.append(SkillSpec(**data))
    specs.sort(key=lambda s: s.index)
    return tuple(specs)


def skill_names() -> tuple[str, ...]:
    """Skill names in index order."""
    return tuple(s.name for s in _load())


def skill_by_name(name: str) -> SkillSpec:
    """The skill called `name` (case-insensitive); InvalidArgument("skills") for anything else."""
    for spec in _load():
        if spec.name.lower() == name.strip().lower():
            return spec
    raise InvalidArgument(
        "skills", f"unknown skill {name!r}; valid skills: {', '.join(skill_names())}"
    )
