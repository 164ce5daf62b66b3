"""Label quality: agreement of a judge with a gold set of unambiguous pairs per skill.

The gold pairs (gold/<version>.json) come from clear game events: a descent against an unchanged
level for Descender, an altar flash against a wall for Worshipper, and so on; the expected side
alternates, so a judge that always answers "1" scores 50% at best. Ties and unknowns count as
disagreement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from llm_annotator.judge import Judge
from llm_annotator.observations import Observation, Pair
from maestro_common.nethack.skills import skill_by_name


@dataclass(frozen=True)
class GoldPair:
    skill: str
    event: str
    pair: Pair
    expected: str


def load_gold(version: str = "v1") -> list[GoldPair]:
    data = json.loads((resources.files("llm_annotator") / "gold" / f"{version}.json").read_text())
    result = []
    for i, entry in enumerate(data["pairs"]):
        first = Observation(observation_id=f"gold{i}a", **entry["first"])
        second = Observation(observation_id=f"gold{i}b", **entry["second"])
        result.append(GoldPair(entry["skill"], entry["event"], Pair(f"gold{i}", first, second), entry["expected"]))
    return result


def agreement(judge: Judge, gold: list[GoldPair]) -> dict[str, dict[str, float]]:
    """Per skill: agreement (fraction right), ties, unknowns, and the pair count."""
    per_skill: dict[str, dict[str, float]] = {}
    for item in gold:
        label = judge.judge(item.pair, skill_by_name(item.skill).judge_preference).label
        stats = per_skill.setdefault(item.skill, {"agreement": 0.0, "ties": 0.0, "unknowns": 0.0, "pairs": 0.0})
        stats["pairs"] += 1
        stats["agreement"] += label == item.expected
        stats["ties"] += label == "tie"
        stats["unknowns"] += label == "unknown"
    for stats in per_skill.values():
        stats["agreement"] /= stats["pairs"]
    return per_skill
