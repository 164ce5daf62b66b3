"""The registry of evaluation tasks: the paper's nine, each with its language description and check.

`paper_value` is MaestroMotif's figure in the paper (success rate as a fraction, or mean count),
`paper_baseline` the best baseline the paper reports for the task. `check` says in words how the
detector decides, from the game itself (see `detectors` and `facts` for the code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evaluator import detectors
from evaluator.detectors import MEAN_COUNT, SUCCESS_RATE, Detector
from maestro_common.errors import NotFound


@dataclass(frozen=True)
class TaskSpec:
    """One registered task."""

    task_id: str
    """Stable identifier used in requests ("gnomish_mines")."""
    title: str
    """The paper's name of the task."""
    description: str
    """The task in plain language, as given to the code LLM."""
    metric: str
    """"success_rate" or "mean_count"."""
    check: str
    """How success or the count is detected on game state."""
    paper_value: float
    """MaestroMotif's figure in the paper (a fraction for success rates)."""
    paper_baseline: float
    """The best baseline's figure in the paper."""
    make_detector: Callable[[], Detector]
    """A fresh detector for one episode."""
    strategy_hints: tuple[str, ...] = ()
    """Strategy hints given to the code LLM with the description (the paper's per-task instructions)."""
    golden_suite: str = ""
    """codegen's golden suite the written policy must pass (codegen.golden_policy), "" for none."""


TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "gnomish_mines", "Gnomish Mines",
        "Find the staircase down to the Gnomish Mines (a level with two down staircases, on dungeon levels 2 to 4) "
        "and enter the Gnomish Mines.",
        SUCCESS_RATE,
        "Success when blstats' dungeon number is 2 (the Gnomish Mines) on any step of the episode.",
        0.46, 0.09, detectors.GnomishMines,
        strategy_hints=(
            "The Gnomish Mines branch staircase is on dungeon level 2, 3 or 4: a level where ctx.downstairs_seen "
            "== 2 has it; a Descender run from there may take either down staircase.",
            "1. If 'Merchant' or 'Worshipper' is in `available` and it is not ctx.active_skill, return it.",
            "2. If ctx.now.branch == 'Gnomish Mines', the goal is reached: return 'Discoverer'.",
            "3. If ctx.active_skill is not 'Discoverer' (the first call, or another skill just ended), return "
            "'Discoverer': each level is explored first, so its staircases are seen.",
            "4. Otherwise, if ctx.now.depth > 4 (still in the Dungeons of Doom: the branch staircase was missed), "
            "set state['climb'] = True; if state.get('climb') and ctx.downstairs_seen == 2, set it back to False.",
            "5. Return 'Ascender' while state.get('climb') is True, else 'Descender'."),
        golden_suite="gnomish_mines"),
    TaskSpec(
        "delphi", "Delphi",
        "Go down the main dungeon (not the Gnomish Mines) and reach the Oracle level, which lies between dungeon "
        "levels 5 and 9.",
        SUCCESS_RATE,
        "Success when the hero is on the Oracle level, recognised from the game: the Oracle herself on the map "
        "(unique, never moves, only generated there), Delphi's four fountains in their diamond, or the "
        "'welcome to Delphi' greeting; never while hallucinating. No depth proxy.",
        0.29, 0.02, detectors.Delphi),
    TaskSpec(
        "minetown", "Minetown",
        "Enter the Gnomish Mines and go down them until you reach Minetown, the town 3 or 4 levels below the Mines' "
        "entrance.",
        SUCCESS_RATE,
        "Success on a Gnomish Mines level above Mines' End where the town shows itself: the watch, a shopkeeper, a "
        "temple priest, an altar, a fountain or the temple's greeting (none exist on Mines filler levels). No depth "
        "proxy.",
        0.072, 0.0, detectors.Minetown),
    TaskSpec(
        "transactions", "Transactions",
        "Collect items and sell as many of them as you can to shopkeepers.",
        MEAN_COUNT,
        "Count of sales over the whole episode: 'You sold ...' messages, or a shopkeeper's sell offer of N gold "
        "followed by a gold increase of exactly N (when the message was hidden behind --More--).",
        0.66, 0.08, detectors.Transactions),
    TaskSpec(
        "price_identified", "Price Identified",
        "Collect unidentified items and learn what they are by offering them to shopkeepers and reading the prices "
        "they offer.",
        MEAN_COUNT,
        "Count of distinct unidentified items (their name shows an appearance from NetHack's object table) named in "
        "a shopkeeper's sell offer or buy quote, over the whole episode.",
        0.47, 0.02, detectors.PriceIdentified),
    TaskSpec(
        "buc_identified", "BUC Identified",
        "Collect items and learn whether they are blessed, uncursed or cursed by dropping them on an altar.",
        MEAN_COUNT,
        "Count of distinct new items dropped (the drop action removed them from the inventory) while the hero "
        "stood on an altar and was not blind, whose B/U/C was not already shown: NetHack's doaltarobj then makes "
        "it known.",
        1.60, 0.05, detectors.BucIdentified),
    TaskSpec(
        "golden_exit", "Golden Exit",
        "Visit the first three dungeon levels, collect at least 20 gold and kill at least 25 monsters, then go back "
        "up to the first level and leave the dungeon by its up staircase.",
        SUCCESS_RATE,
        "Success when the game ends as ESCAPED (NetHack's how_done) from dungeon level 1 after levels 1, 2 and 3 "
        "of the Dungeons of Doom were visited, with >= 20 gold carried and >= 25 kills (experience-point rises "
        "and kill messages) at that moment.",
        0.248, 0.0, detectors.GoldenExit),
    TaskSpec(
        "level_up_sell", "Level Up & Sell",
        "Stay on the first dungeon level until you reach experience level 4, then find a shop and sell an item, "
        "then survive 300 more steps.",
        SUCCESS_RATE,
        "Success when XP level 4 (blstats) is reached without having left dungeon level 1, then a sale is detected "
        "(as in Transactions), then 300 more agent steps pass with the hero alive. Leaving level 1 before XP 4 fails.",
        0.0709, 0.0, detectors.LevelUpAndSell),
    TaskSpec(
        "discovery_hunger", "Discovery Hunger",
        "Enter the Gnomish Mines, stay there until you get hungry and eat something there, then go to the Oracle "
        "level of the main dungeon.",
        SUCCESS_RATE,
        "Success when, in order: the hero is in the Gnomish Mines; there the hunger state (blstats) reaches Hungry; "
        "there the hero eats (an eat action consumed food, 'You finish eating', or the hunger state fell from "
        "Hungry); then the Oracle level is recognised as in Delphi.",
        0.0791, 0.0, detectors.DiscoveryHunger),
)

TASKS_BY_ID: dict[str, TaskSpec] = {task.task_id: task for task in TASKS}


def get_task(task_id: str, *, field: str = "task_id") -> TaskSpec:
    """The registered task `task_id`; NotFound listing the known ids otherwise."""
    task = TASKS_BY_ID.get(task_id)
    if task is None:
        raise NotFound(f"{field}: no registered task {task_id!r}; known task ids: {', '.join(TASKS_BY_ID)}")
    return task
