"""The contract between the game and LLM-written code: what the code sees and what it must define.

Generated code never touches the environment. The caller builds a `SkillContext` (read-only, plain
Python values) at each decision point and calls the generated functions with it:

- role ``"skill_functions"``: one code string per skill, defining ``initiation(ctx) -> bool`` (may the
  skill start now?) and ``termination(ctx) -> bool`` (has the running skill finished?);
- role ``"policy"``: one code string defining ``select_skill(ctx, available, state) -> str``, which
  picks the next skill among ``available`` (the skills whose initiation holds) and keeps whatever it
  must remember across calls in ``state``, a dict that belongs to the policy for one episode.

`contract_doc` renders this module's dataclasses, signatures and rules as the text an LLM prompt
includes, so the documentation the model reads is the code the loader runs against.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, fields, replace

SKILL_NAMES: tuple[str, ...] = ("Discoverer", "Descender", "Ascender", "Worshipper", "Merchant")
"""The five skills, in the index order used for the skill one-hot."""

BRANCHES: tuple[str, ...] = ("Dungeons of Doom", "Gnomish Mines", "other")
"""Values of `Snapshot.branch`."""

ROLES: tuple[str, ...] = ("skill_functions", "policy")
"""Kinds of generated code."""

REQUIRED_FUNCTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "skill_functions": {"initiation": ("ctx",), "termination": ("ctx",)},
    "policy": {"select_skill": ("ctx", "available", "state")},
}
"""Per role: each function the code must define, with its exact parameter names."""

ALLOWED_BUILTINS: tuple[str, ...] = (
    "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "isinstance", "len", "list", "max",
    "min", "range", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "zip",
)
"""The only builtin names generated code may use (`range` is capped in length at run time)."""

ALLOWED_METHODS: tuple[str, ...] = (
    # str
    "startswith", "endswith", "lower", "upper", "strip", "lstrip", "rstrip", "split", "find", "isdigit",
    # list
    "append", "insert", "remove", "index", "sort", "reverse",
    # dict
    "get", "keys", "values", "items", "setdefault", "update",
    # shared by several
    "count", "pop", "copy", "clear",
)
"""Method names generated code may call besides the context fields (no `format`: it can reach attributes)."""


@dataclass(frozen=True)
class Snapshot:
    """The game state at one moment, as the generated functions see it."""

    depth: int
    """Dungeon depth of the hero's level (1 = the first level; larger = deeper)."""
    dungeon_number: int
    """NetHack's dungeon number: 0 = Dungeons of Doom, 2 = Gnomish Mines, other values = other branches."""
    branch: str
    """"Dungeons of Doom", "Gnomish Mines" or "other"."""
    level_number: int
    """Level number within the current branch (1 = the branch's first level)."""
    turn: int
    """Game turn counter (grows by about one per move; waiting and resting advance it too)."""
    gold: int
    """Gold pieces carried."""
    xp_level: int
    """Experience level of the hero (starts at 1)."""
    hp: int
    """Current hit points."""
    max_hp: int
    """Maximum hit points."""
    hunger: str
    """Hunger status as the game shows it: "Satiated", "Not Hungry", "Hungry", "Weak", "Fainting", ..."""
    kills: int
    """Monsters killed by the hero so far in the episode."""
    new_items: int
    """Carried items that were not in the starting inventory, food and coins excluded."""


@dataclass(frozen=True)
class SkillContext:
    """Everything generated code may read at one decision point; built fresh by the caller each time."""

    now: Snapshot
    """The game state now."""
    at_skill_start: Snapshot
    """The game state when the active skill started (equal to `now` before any skill has run)."""
    turns_since_skill_start: int
    """now.turn - at_skill_start.turn."""
    message: str
    """The game's current top-line message ("" when there is none)."""
    merchant_precondition: bool
    """A shopkeeper is within the 7x7 window around the hero AND the hero carries new items."""
    worshipper_precondition: bool
    """An altar is within the 7x7 window around the hero AND the hero carries new items."""
    downstairs_seen: int
    """Down staircases seen on this level; 2 means the Gnomish Mines branch staircase is on this level."""
    active_skill: str
    """The skill running now (for the policy: the skill that just ended); "" before the first choice."""
    skill_turns: int
    """N, the turn budget of the setting: Discoverer lasts N turns, Worshipper and Merchant 20 x N."""
    random: float
    """A number in [0, 1), uniformly random and new at every decision (a value: read ctx.random, do not
    call it); the only source of randomness."""


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass of this module, by field name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for statement, following in zip(body, body[1:]):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)):
            docs[statement.target.id] = str(following.value.value)
    return docs


def _describe_fields(cls: type, prefix: str) -> list[str]:
    """One line per field: `prefix.name: type  -- doc`."""
    docs = field_docs(cls)
    return [f"  {prefix}.{f.name}: {f.type}  # {docs.get(f.name, '')}" for f in fields(cls)]


_FUNCTIONS_TEXT = {
    "skill_functions": (
        "Write exactly these two functions for ONE skill:\n"
        "  def initiation(ctx) -> bool:   True when the skill may start now.\n"
        "  def termination(ctx) -> bool:  True when the running skill has finished.\n"
        "Both must return a real bool (use comparisons, `and`, `or`, `not`, or bool(...))."
    ),
    "policy": (
        "Write this function, the policy over skills:\n"
        "  def select_skill(ctx, available, state) -> str:\n"
        "    `available` is the list of skill names whose initiation holds now; return one of them.\n"
        "    `state` is a dict that starts empty at each episode and is kept between calls: store in it\n"
        "    anything you must remember (phase, target depth, counters). It is the only memory you have.\n"
        f"Skill names: {', '.join(repr(name) for name in SKILL_NAMES)}."
    ),
}


def contract_doc(role: str) -> str:
    """The text an LLM prompt includes for `role`: context fields, functions to write, rules."""
    if role not in REQUIRED_FUNCTIONS:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    lines = ["The context `ctx` (read-only; a SkillContext):"]
    lines += _describe_fields(SkillContext, "ctx")
    lines.append("ctx.now and ctx.at_skill_start are Snapshots with these fields:")
    lines += _describe_fields(Snapshot, "ctx.now")
    lines += ["", _FUNCTIONS_TEXT[role], "", "Rules (the code is checked before it runs; breaking one rejects it):",
              "  - Plain Python functions only: no import, class, lambda, nested def, try/except, raise, with, "
              "global, nonlocal, del, yield, await, decorators, default argument values, *args or **kwargs.",
              "  - Top level: only the functions and constant assignments such as MAX_DEPTH = 4.",
              "  - No name or attribute may start with an underscore.",
              f"  - Builtins allowed: {', '.join(ALLOWED_BUILTINS)}. Nothing else (no print, open, eval, getattr, "
              "type).",
              f"  - Attributes allowed: the ctx fields above and these methods: {', '.join(ALLOWED_METHODS)}.",
              "  - No assignment to attributes (ctx is read-only); item assignment (state['phase'] = 1) is fine.",
              "  - Each call has a step budget (loop iterations plus function calls); keep loops short.",
              "  - No input or output: return the answer; do not print."]
    return "\n".join(lines)


BASE_SNAPSHOT = Snapshot(depth=1, dungeon_number=0, branch="Dungeons of Doom", level_number=1, turn=1, gold=0,
                         xp_level=1, hp=14, max_hp=14, hunger="Not Hungry", kills=0, new_items=0)
"""The first turn of a game: what `make_snapshot` starts from."""


def make_snapshot(**changes: object) -> Snapshot:
    """A Snapshot of the first turn with `changes` (for unit tests of generated code)."""
    return replace(BASE_SNAPSHOT, **changes)


def make_context(now: Snapshot | None = None, start: Snapshot | None = None, **changes: object) -> SkillContext:
    """A SkillContext at `now` for a skill started at `start` (default: now); other fields from `changes`
    (defaults: no message, no preconditions, one down staircase seen, skill_turns 500, random 0.5)."""
    now = now or BASE_SNAPSHOT
    start = start or now
    fields = dict(now=now, at_skill_start=start, turns_since_skill_start=now.turn - start.turn, message="",
                  merchant_precondition=False, worshipper_precondition=False, downstairs_seen=1,
                  active_skill="", skill_turns=500, random=0.5)
    fields.update(changes)
    return SkillContext(**fields)  # type: ignore[arg-type]
