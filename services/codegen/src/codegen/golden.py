"""The golden checks of skill functions: what method.md says each skill's predicates must answer.

Each situation is a context (as `make_context` keyword arguments, with snapshots as `make_snapshot`
keyword dicts) and, per skill, the expected (initiation, termination). The sandbox harness runs
them against generated code; every mismatch is reported in words the LLM can act on.
"""

from __future__ import annotations

START = {"depth": 2, "turn": 100}
"""Where the skill started in every situation: dungeon level 2, turn 100."""

SITUATIONS: dict[str, dict] = {
    "the turn the skill starts": dict(now=dict(START), start=dict(START)),
    "one level deeper than at the start": dict(now={"depth": 3, "turn": 150}, start=dict(START)),
    "one level higher than at the start": dict(now={"depth": 1, "turn": 150}, start=dict(START)),
    "N turns after the start (N = skill_turns = 500)": dict(now={"depth": 2, "turn": 600}, start=dict(START)),
    "a shopkeeper and new items near": dict(now={"depth": 2, "turn": 110, "new_items": 1}, start=dict(START),
                                            merchant_precondition=True),
    "an altar and new items near": dict(now={"depth": 2, "turn": 110, "new_items": 1}, start=dict(START),
                                        worshipper_precondition=True),
    "20 x N turns after the start": dict(now={"depth": 2, "turn": 10100}, start=dict(START)),
    "50 turns after the start in a navigation task (N = skill_turns = 50)": dict(
        now={"depth": 2, "turn": 150}, start=dict(START), skill_turns=50),
}

# Per skill and situation: (initiation, termination); None = not checked there.
EXPECTED: dict[str, dict[str, tuple[bool | None, bool | None]]] = {
    "Discoverer": {
        "the turn the skill starts": (True, False),
        "one level deeper than at the start": (True, False),
        "N turns after the start (N = skill_turns = 500)": (True, True),
        "50 turns after the start in a navigation task (N = skill_turns = 50)": (True, True),
        "a shopkeeper and new items near": (True, True),
        "an altar and new items near": (True, True),
    },
    "Descender": {
        "the turn the skill starts": (True, False),
        "one level deeper than at the start": (True, True),
        "one level higher than at the start": (True, False),
        "a shopkeeper and new items near": (True, True),
        "an altar and new items near": (True, True),
    },
    "Ascender": {
        "the turn the skill starts": (True, False),
        "one level deeper than at the start": (True, False),
        "one level higher than at the start": (True, True),
        "a shopkeeper and new items near": (True, True),
        "an altar and new items near": (True, True),
    },
    "Worshipper": {
        "the turn the skill starts": (False, False),
        "an altar and new items near": (True, False),
        "a shopkeeper and new items near": (False, True),
        "20 x N turns after the start": (False, True),
    },
    "Merchant": {
        "the turn the skill starts": (False, False),
        "a shopkeeper and new items near": (True, False),
        "an altar and new items near": (False, True),
        "20 x N turns after the start": (False, True),
    },
}
