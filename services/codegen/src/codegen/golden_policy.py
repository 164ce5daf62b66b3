"""Golden checks of policies over skills: a generated `select_skill` plays simulated episodes.

A policy cannot be judged one call at a time: what matters is the sequence of skills it picks as
the game changes. `simulate` plays a crude but faithful model of call-and-return execution (the
skills' documented effects: Descender ends one level deeper, Ascender one level higher, Discoverer
after N turns on the same level, Merchant/Worshipper where their preconditions hold) and records
every decision; each suite then states in words what method.md asks of that policy and reports
every way the played episodes break it.

Suites are named: "training" (pi_T) and one per task with a golden check ("gnomish_mines"). This
module imports only the contract, so the harness runs it inside the sandbox next to the generated
code; nothing here ever executes generated code outside the sandbox.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from maestro_common.generated.contract import make_context, make_snapshot

DOOM, MINES = "Dungeons of Doom", "Gnomish Mines"
SKILL_TURNS = 500
"""N of the simulated setting (Discoverer lasts N turns)."""


@dataclass
class Decision:
    """One call of `select_skill` and what followed."""

    index: int
    depth: int
    branch: str
    available: list[str]
    choice: str


@dataclass
class World:
    """What the simulated dungeon holds for one episode."""

    seed: int
    decisions: int = 60
    """Calls of select_skill before the episode is cut."""
    mines_entrance_depth: int | None = None
    """The Dungeons of Doom level with the Mines branch staircase (two down staircases seen there)."""
    mines_entry_chance: float = 0.5
    """Chance that a Descender run on the entrance level takes the branch staircase."""
    merchant_at: tuple[int, ...] = ()
    """Decision indices at which a shopkeeper and new items are near."""
    worshipper_at: tuple[int, ...] = ()
    """Decision indices at which an altar and new items are near."""
    stop_in_mines: bool = False
    """End the episode as soon as the hero is in the Gnomish Mines (task reached)."""


@dataclass
class Episode:
    world: World
    decisions: list[Decision] = field(default_factory=list)
    error: str = ""
    """Why the episode stopped early (an exception or an answer outside `available`)."""
    final_depth: int = 1
    final_branch: str = DOOM

    def depths(self) -> list[int]:
        return [d.depth for d in self.decisions]


def _snapshot(depth: int, branch: str, level: int, turn: int) -> object:
    return make_snapshot(depth=depth, branch=branch, dungeon_number=2 if branch == MINES else 0,
                         level_number=level, turn=turn)


def simulate(select_skill, world: World) -> Episode:
    """Play one simulated episode with `select_skill`; exceptions end it with `error` set."""
    rng = random.Random(world.seed)
    episode = Episode(world)
    depth, branch, level, turn = 1, DOOM, 1, 1
    state: dict = {}
    active, start = "", _snapshot(depth, branch, level, turn)
    for index in range(world.decisions):
        merchant, worshipper = index in world.merchant_at, index in world.worshipper_at
        available = ["Discoverer", "Descender", "Ascender"] + ["Merchant"] * merchant + ["Worshipper"] * worshipper
        now = _snapshot(depth, branch, level, turn)
        entrance_here = branch == DOOM and depth == world.mines_entrance_depth
        ctx = make_context(now=now, start=start, active_skill=active, merchant_precondition=merchant,
                           worshipper_precondition=worshipper, downstairs_seen=2 if entrance_here else 1,
                           skill_turns=SKILL_TURNS, random=rng.random())
        try:
            choice = select_skill(ctx, list(available), state)
        except Exception as error:  # the generated code's own failure is the finding
            episode.error = f"select_skill raised {type(error).__name__}: {error} (decision {index}, depth {depth})"
            return episode
        episode.decisions.append(Decision(index, depth, branch, available, choice))
        if choice not in available:
            episode.error = f"decision {index}: returned {choice!r}, which is not in available={available}"
            return episode
        start, active = now, choice
        if choice == "Descender":
            if entrance_here and rng.random() < world.mines_entry_chance:
                branch, level = MINES, 1
            elif branch == MINES:
                level += 1
            depth, turn = depth + 1, turn + 100
        elif choice == "Ascender" and depth > 1:
            if branch == MINES and level == 1:
                branch = DOOM
            elif branch == MINES:
                level -= 1
            depth, turn = depth - 1, turn + 100
        elif choice == "Discoverer":
            turn += SKILL_TURNS
        else:
            turn += 50
        episode.final_depth, episode.final_branch = depth, branch
        if world.stop_in_mines and branch == MINES:
            break
    return episode


# -- the suites ----------------------------------------------------------------------------------

def _common_problems(episodes: list[Episode]) -> list[str]:
    """Crashes and answers outside `available`: the first one, and in how many episodes it happened."""
    failed = [e for e in episodes if e.error]
    if not failed:
        return []
    return [f"seed {failed[0].world.seed}: {failed[0].error} ({len(failed)} of {len(episodes)} episodes failed so)"]


def _interaction_problems(episodes: list[Episode]) -> list[str]:
    problems = []
    for episode in episodes:
        for decision in episode.decisions:
            previous = episode.decisions[decision.index - 1].choice if decision.index else ""
            for skill in ("Merchant", "Worshipper"):
                if skill in decision.available and previous != skill and decision.choice not in ("Merchant",
                                                                                                 "Worshipper"):
                    problems.append(f"seed {episode.world.seed}, decision {decision.index}: {skill} was available "
                                    f"(its precondition holds) but {decision.choice} was chosen")
    return problems[:3]


def training_suite(select_skill) -> list[str]:
    """pi_T: Discoverer on each level, Descender down to a random maximum depth 2-4, Ascender back to
    depth 1, repeat; Merchant/Worshipper whenever available."""
    worlds = [World(seed, merchant_at=(7,) if seed == 0 else (), worshipper_at=(13,) if seed == 1 else ())
              for seed in range(6)]
    episodes = [simulate(select_skill, world) for world in worlds]
    problems = _common_problems(episodes)
    if problems:
        return problems
    problems += _interaction_problems(episodes)
    targets = set()
    for episode in episodes:
        seed, depths = episode.world.seed, episode.depths()
        if episode.decisions and episode.decisions[0].choice != "Discoverer":
            problems.append(f"seed {seed}: the first skill was {episode.decisions[0].choice}; pi_T starts with "
                            "Discoverer (at the first call no skill has run yet: ctx.active_skill is \"\", depth 1)")
        if max(depths) > 4:
            problems.append(f"seed {seed}: went down to depth {max(depths)}; the maximum depth is at most 4")
        if max(depths) < 2:
            problems.append(f"seed {seed}: never left depth 1 in {len(depths)} decisions; it must descend to a "
                            "maximum depth between 2 and 4")
        returns = sum(1 for before, after in zip(depths, depths[1:]) if before > 1 and after == 1)
        if max(depths) >= 2 and returns < 2:
            problems.append(f"seed {seed}: came back up to depth 1 only {returns} time(s) in {len(depths)} "
                            "decisions; after reaching the maximum depth it must climb back to depth 1, and repeat")
        first_peak = next((d for d, after in zip(depths, depths[1:]) if after < d), max(depths))
        targets.add(first_peak)
        moves = [d for d in episode.decisions if d.choice in ("Descender", "Ascender")]
        for earlier, later in zip(moves, moves[1:]):
            between = [d.choice for d in episode.decisions[earlier.index + 1:later.index]]
            if "Discoverer" not in between:
                problems.append(f"seed {seed}, decisions {earlier.index}-{later.index}: {earlier.choice} then "
                                f"{later.choice} with no Discoverer between; each level reached is explored first")
                break
        if max(depths) >= 2:
            for before, after in zip(episode.decisions, episode.decisions[1:]):
                if before.choice == "Ascender" and after.depth > 1 and after.choice == "Descender" \
                        and before.depth > after.depth:
                    problems.append(f"seed {seed}, decision {after.index}: turned back down at depth {after.depth} "
                                    "before reaching depth 1")
                    break
    if len(targets) < 2 and not problems:
        problems.append(f"the first maximum depth was {targets.pop()} in all {len(episodes)} episodes; draw it at "
                        "random between 2 and 4 (use ctx.random)")
    return problems[:8]


def _choice_counts(episode: Episode) -> str:
    """How often each skill was chosen, e.g. "Discoverer x20, Descender x20"."""
    counts = Counter(decision.choice for decision in episode.decisions)
    return ", ".join(f"{skill} x{count}" for skill, count in counts.most_common())


def gnomish_mines_suite(select_skill) -> list[str]:
    """Task "reach the Gnomish Mines": the branch staircase is on level 2, 3 or 4 (two down staircases
    seen); a Descender run there takes it half of the time; the policy must get into the Mines."""
    worlds = [World(seed, decisions=40, mines_entrance_depth=2 + seed % 3, stop_in_mines=True,
                    merchant_at=(5,) if seed == 3 else ()) for seed in range(6)]
    episodes = [simulate(select_skill, world) for world in worlds]
    problems = _common_problems(episodes)
    if problems:
        return problems
    problems += _interaction_problems(episodes)
    missed = []
    for episode in episodes:
        if episode.final_branch != MINES:
            world = episode.world
            missed.append(f"seed {world.seed}: never entered the Mines in {world.decisions} decisions (entrance on "
                          f"depth {world.mines_entrance_depth}; deepest level visited {max(episode.depths())}; "
                          f"chose {_choice_counts(episode)})")
    if len(missed) > 1:
        problems += missed + ["when the branch staircase was missed (deeper than 4 in the Dungeons of Doom), climb "
                              "back up and take the Descender again on a level where ctx.downstairs_seen == 2"]
    return problems[:8]


SUITES = {"training": training_suite, "gnomish_mines": gnomish_mines_suite}
"""Golden suites by name."""


def run_suite(name: str, select_skill) -> list[str]:
    """Problems of `select_skill` under suite `name` (empty = passed)."""
    return SUITES[name](select_skill)
