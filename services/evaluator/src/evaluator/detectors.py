"""Exact success and count checks of the evaluation tasks, over `facts.StepFacts`.

A detector is made fresh for each episode, fed the facts of every observation (`update`) and told
how the episode ended (`finish`). It answers the episode's `outcome` (1.0 / 0.0 for a success task,
the count for a count task), the step at which success came (if it did), and a progression in
[0, 1]: the fraction of the task's milestones reached, the way BALROG reports partial progress on
tasks that are rarely finished. Milestones are listed per task, in the order a player meets them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from nle import nethack

from evaluator.facts import StepFacts
from maestro_common.nethack.features import DUNGEONS_OF_DOOM, GNOMISH_MINES

SUCCESS_RATE = "success_rate"
MEAN_COUNT = "mean_count"
ESCAPED = int(nethack.ESCAPED)
"""NetHack's how_done when the hero left the dungeon up the stairs of level 1."""


class Detector(ABC):
    """Base: milestone bookkeeping; subclasses define `milestones`, `metric` and `update`."""

    metric: str = SUCCESS_RATE
    milestones: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.reached: dict[str, int] = {}
        """Milestone -> the step at which it was first reached."""
        self.success_step: int | None = None
        self.count = 0
        self.finished = False

    def mark(self, milestone: str, step: int) -> None:
        """Record `milestone` as reached at `step` (the first time only)."""
        assert milestone in self.milestones, milestone
        self.reached.setdefault(milestone, step)

    def succeed(self, step: int) -> None:
        if self.success_step is None:
            self.success_step = step

    @abstractmethod
    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        """Read one observation's facts; `game_over` when this observation ended the game."""

    def finish(self, last: StepFacts, how_done: int | None) -> None:
        """The episode ended after `last`; `how_done` is NetHack's end reason (None when truncated)."""
        self.finished = True

    @property
    def outcome(self) -> float:
        """1.0 / 0.0 for a success task; the count for a count task."""
        if self.metric == MEAN_COUNT:
            return float(self.count)
        return 1.0 if self.success_step is not None else 0.0

    @property
    def progression(self) -> float:
        """Fraction of the milestones reached (1.0 once the task succeeded)."""
        if self.metric == SUCCESS_RATE and self.success_step is not None:
            return 1.0
        return len(self.reached) / len(self.milestones) if self.milestones else 0.0


class GnomishMines(Detector):
    """Success: the hero is on a level of the Gnomish Mines (blstats dungeon number 2)."""

    milestones = ("dlvl 2", "Mines staircase found", "Gnomish Mines")

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        if facts.depth >= 2:
            self.mark("dlvl 2", facts.step)
        if facts.downstairs_max >= 2:
            self.mark("Mines staircase found", facts.step)
        if facts.dungeon_number == GNOMISH_MINES:
            self.mark("Gnomish Mines", facts.step)
            self.succeed(facts.step)


class Delphi(Detector):
    """Success: the Oracle level is recognised from the game (the Oracle, Delphi's fountains, the greeting)."""

    milestones = ("dlvl 2", "dlvl 3", "dlvl 4", "dlvl 5", "Oracle level")

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        if facts.dungeon_number == DUNGEONS_OF_DOOM:
            for depth in range(2, min(facts.depth, 5) + 1):
                self.mark(f"dlvl {depth}", facts.step)
        if facts.on_oracle_level:
            self.mark("Oracle level", facts.step)
            self.succeed(facts.step)


class Minetown(Detector):
    """Success: a Mines level recognised as Minetown (the watch, a shopkeeper, a priest, an altar, a fountain)."""

    milestones = ("Gnomish Mines", "Mines level 2", "Minetown")

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        if facts.dungeon_number == GNOMISH_MINES:
            self.mark("Gnomish Mines", facts.step)
            if facts.level_number >= 2:
                self.mark("Mines level 2", facts.step)
        if facts.in_minetown:
            self.mark("Minetown", facts.step)
            self.succeed(facts.step)


class Transactions(Detector):
    """Count: items sold to shopkeepers over the whole episode."""

    metric = MEAN_COUNT
    milestones = ("new item", "shopkeeper seen", "sell offer", "item sold")

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        _interaction_milestones(self, facts, facts.shopkeeper_seen, "shopkeeper seen")
        if facts.sell_offered:
            self.mark("sell offer", facts.step)
        if facts.sales:
            self.mark("item sold", facts.step)
        self.count = facts.sales


class PriceIdentified(Detector):
    """Count: distinct unidentified items whose price a shopkeeper named (sell offer or buy quote)."""

    metric = MEAN_COUNT
    milestones = ("new item", "shopkeeper seen", "price identified")

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        _interaction_milestones(self, facts, facts.shopkeeper_seen, "shopkeeper seen")
        if facts.price_identified:
            self.mark("price identified", facts.step)
        self.count = facts.price_identified


class BucIdentified(Detector):
    """Count: items whose blessed/uncursed/cursed status was learned by dropping them on an altar."""

    metric = MEAN_COUNT
    milestones = ("new item", "altar seen", "BUC identified")

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        _interaction_milestones(self, facts, facts.altar_seen, "altar seen")
        if facts.buc_identified:
            self.mark("BUC identified", facts.step)
        self.count = facts.buc_identified


def _interaction_milestones(detector: Detector, facts: StepFacts, seen: bool, name: str) -> None:
    if facts.new_items:
        detector.mark("new item", facts.step)
    if seen:
        detector.mark(name, facts.step)


class GoldenExit(Detector):
    """Success: levels 1-3 of the Dungeons of Doom visited, >= 20 gold and >= 25 kills, then the hero
    leaves the dungeon up the stairs of level 1 (NetHack ends the game as ESCAPED)."""

    milestones = ("dlvl 1", "dlvl 2", "dlvl 3", "20 gold", "25 kills", "left the dungeon")
    gold_needed, kills_needed = 20, 25

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        if facts.dungeon_number == DUNGEONS_OF_DOOM and 1 <= facts.depth <= 3:
            self.mark(f"dlvl {facts.depth}", facts.step)
        if facts.gold >= self.gold_needed:
            self.mark("20 gold", facts.step)
        if facts.kills >= self.kills_needed:
            self.mark("25 kills", facts.step)

    def finish(self, last: StepFacts, how_done: int | None) -> None:
        super().finish(last, how_done)
        if how_done == ESCAPED and last.depth == 1:
            self.mark("left the dungeon", last.step)
            visited = all(f"dlvl {d}" in self.reached for d in (1, 2, 3))
            if visited and last.gold >= self.gold_needed and last.kills >= self.kills_needed:
                self.succeed(last.step)


class LevelUpAndSell(Detector):
    """Success: XP level 4 reached without leaving dungeon level 1, then an item sold, then 300 more
    steps survived. Leaving level 1 before XP level 4 fails the task for the episode."""

    milestones = ("XP 2", "XP 3", "XP 4 on dlvl 1", "item sold after XP 4", "survived 300 steps")
    survive_steps = 300

    def __init__(self) -> None:
        super().__init__()
        self.broken = False
        self.sales_at_xp4 = 0
        self.sale_step: int | None = None

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        on_first = facts.dungeon_number == DUNGEONS_OF_DOOM and facts.depth == 1
        if "XP 4 on dlvl 1" not in self.reached:
            if not on_first:
                self.broken = True
            if self.broken:
                return
            for level in (2, 3):
                if facts.xp_level >= level:
                    self.mark(f"XP {level}", facts.step)
            if facts.xp_level >= 4:
                self.mark("XP 4 on dlvl 1", facts.step)
                self.sales_at_xp4 = facts.sales
            return
        if self.sale_step is None and facts.sales > self.sales_at_xp4:
            self.sale_step = facts.step
            self.mark("item sold after XP 4", facts.step)
        if self.sale_step is not None and not game_over and facts.step - self.sale_step >= self.survive_steps:
            self.mark("survived 300 steps", facts.step)
            self.succeed(facts.step)


class DiscoveryHunger(Detector):
    """Success: enter the Gnomish Mines, become Hungry there and eat there, then reach the Oracle level."""

    milestones = ("Gnomish Mines", "hungry in the Mines", "ate in the Mines", "Oracle level")

    def update(self, facts: StepFacts, game_over: bool = False) -> None:
        in_mines = facts.dungeon_number == GNOMISH_MINES
        if in_mines:
            self.mark("Gnomish Mines", facts.step)
            if facts.hunger >= 2:
                self.mark("hungry in the Mines", facts.step)
            if "hungry in the Mines" in self.reached and facts.ate:
                self.mark("ate in the Mines", facts.step)
        if "ate in the Mines" in self.reached and facts.on_oracle_level:
            self.mark("Oracle level", facts.step)
            self.succeed(facts.step)
