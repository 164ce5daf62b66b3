"""Each task's detector on real game situations built in NetHack wizard mode (see evaluator_wizard.py).

Situation source for every test: a real NLE 1.3.0 game (MaestroEnv, wizard=True, no random monster
generation) driven by wizard commands (level teleport, map, teleport, wish, levelchange) and agent
actions. Seeds are fixed; the comments say what the game showed when the test was written.
"""

from __future__ import annotations

import numpy as np
import pytest
from evaluator_wizard import WizardGame

from evaluator import detectors
from evaluator.facts import FOUNTAIN_GLYPH, ORACLE_GLYPHS, is_unidentified
from evaluator.tasks import TASKS, TASKS_BY_ID, get_task
from maestro_common.errors import NotFound
from maestro_common.nethack.features import inventory


@pytest.fixture
def game_factory():
    games = []

    def make(seed: int) -> WizardGame:
        game = WizardGame(seed=seed)
        games.append(game)
        return game

    yield make
    for game in games:
        game.close()


def run(detector: detectors.Detector, *facts_list) -> detectors.Detector:
    for facts in facts_list:
        detector.update(facts)
    return detector


def enter_shop(game: WizardGame) -> None:
    """Seed 2's Minetown: a blessed potion of object detection shows the shops' wares; the densest spot
    of objects (51, 7) is inside Nosalnef's hardware store."""
    game.level_teleport("minetn")
    game.map_level()
    game.wish("blessed potion of object detection")
    game.keys("q" + game.message[0])
    game.keys([27])  # leave the browse mode of the blessed potion
    game.observe()
    game.teleport(51, 7)
    assert "Welcome to Nosalnef's hardware store" in game.message


def test_registry_has_the_papers_nine_tasks():
    assert [t.title for t in TASKS] == ["Gnomish Mines", "Delphi", "Minetown", "Transactions", "Price Identified",
                                        "BUC Identified", "Golden Exit", "Level Up & Sell", "Discovery Hunger"]
    assert TASKS_BY_ID["delphi"].paper_value == 0.29
    for task in TASKS:
        assert task.make_detector().metric == task.metric
    with pytest.raises(NotFound, match="known task ids: gnomish_mines, delphi"):
        get_task("oracle")


def test_mines_and_minetown(game_factory):
    game = game_factory(1)
    mines, town = detectors.GnomishMines(), detectors.Minetown()
    start = run(mines, game.facts) and game.facts
    assert mines.outcome == 0.0 and not start.in_minetown
    # the Mines' first level: Mines, not Minetown (a filler level has no town features)
    game.level_teleport("minetn")
    minetown_depth = game.status.depth
    filler = game.level_teleport(minetown_depth - 2)
    filler = game.map_level()
    assert (filler.dungeon_number, filler.level_number) == (2, 1)
    run(mines, filler)
    run(town, filler)
    assert mines.outcome == 1.0 and town.outcome == 0.0 and not filler.in_minetown
    # Minetown itself (seed 1: dungeon level 7, Mines level 3, a temple and the watch)
    arrived = game.level_teleport(minetown_depth)
    mapped = game.map_level()
    run(town, arrived, mapped)
    assert mapped.in_minetown and town.outcome == 1.0 and town.progression == 1.0
    assert {"altar", "fountain"} <= game.tracker.levels[(2, 3)].town_evidence


def test_the_main_dungeon_is_not_the_mines(game_factory):
    game = game_factory(1)
    facts = game.level_teleport(3)
    mines = run(detectors.GnomishMines(), facts)
    assert facts.depth == 3 and facts.dungeon_number == 0 and mines.outcome == 0.0
    assert mines.progression == pytest.approx(1 / 3)  # dlvl 2 reached


def test_delphi_is_recognised_from_the_oracle_level_itself(game_factory):
    game = game_factory(2)
    arrived = game.level_teleport("oracle")  # seed 2: dungeon level 6
    delphi = run(detectors.Delphi(), arrived)
    assert arrived.depth == 6 and not arrived.on_oracle_level and delphi.outcome == 0.0
    # on Delphi's fountain, next to the Oracle: she is on the map and greets the hero
    facts = game.teleport(39, 10)
    assert set(np.unique(game.obs["glyphs"]).tolist()) & ORACLE_GLYPHS
    assert "welcome to Delphi" in game.message
    run(delphi, facts)
    assert facts.on_oracle_level and delphi.outcome == 1.0

    # the map alone (four fountains in Delphi's diamond) is enough, without seeing the Oracle
    other = game_factory(2)
    other.level_teleport("oracle")
    mapped = other.map_level()
    fountains = set(zip(*np.nonzero(other.obs["glyphs"] == FOUNTAIN_GLYPH)))
    assert len(fountains) == 4 and mapped.on_oracle_level


def test_a_deep_level_is_not_delphi(game_factory):
    game = game_factory(2)
    game.level_teleport(5)
    facts = game.map_level()
    delphi = run(detectors.Delphi(), facts)
    assert facts.depth == 5 and not facts.on_oracle_level and delphi.outcome == 0.0
    assert delphi.progression == pytest.approx(4 / 5)


def test_sales_and_price_identification(game_factory):
    game = game_factory(2)
    enter_shop(game)
    sold, priced = detectors.Transactions(), detectors.PriceIdentified()
    carried = game.wish("magic whistle")  # shows as "a whistle": unidentified
    offer = game.act("drop")
    assert "offers 4 gold pieces for your whistle" in game.message
    accepted = game.act("nw")  # the agent answers 'y' with its NW key
    assert game.message == "You sold a whistle for 4 gold pieces." and accepted.gold == 4
    run(sold, carried, offer, accepted)
    run(priced, carried, offer, accepted)
    assert sold.outcome == 1.0 and priced.outcome == 1.0
    # an offer declined ('n' = SE key): the price is learned, nothing is sold
    game.wish("oil lamp")
    offer = game.act("drop")
    declined = game.act("se")
    run(sold, offer, declined)
    run(priced, offer, declined)
    assert sold.outcome == 1.0 and priced.outcome == 2.0 and declined.gold == 4
    assert sold.progression == 1.0


def test_identified_names_are_not_price_identified():
    assert is_unidentified("whistle") and is_unidentified("scroll labeled ZELGO MER")
    assert is_unidentified("bubbly potion")
    assert not is_unidentified("potion of healing") and not is_unidentified("scroll of light")


def test_buc_learned_by_dropping_on_an_altar(game_factory):
    game = game_factory(1)
    game.level_teleport("minetn")
    game.map_level()
    altar = game.tracker.levels[(2, 3)].altars
    (row, col), = altar
    game.wish("scroll of light")
    off_altar = game.act("drop")  # dropped on the floor where the hero arrived: nothing learned
    assert off_altar.buc_identified == 0
    game.teleport(col, row)  # seed 1: the temple's altar at (51, 11); the priest greets the hero
    game.wish("scroll of light")
    game.wish("ruby ring")
    assert sum(1 for item in inventory(game.obs) if "scroll" in item.name and "light" not in item.name) >= 1
    buc = detectors.BucIdentified()
    run(buc, game.observe())
    first = game.act("drop")
    second = game.act("drop")
    run(buc, first, second)
    assert first.buc_identified == 1 and second.buc_identified == 2 and buc.outcome == 2.0
    assert buc.progression == 1.0


def test_level_up_then_sell_then_survive(game_factory):
    game = game_factory(2)
    enter_shop(game)  # Minetown is generated first, so the level's layout does not depend on what follows
    game.level_teleport(1)
    task = detectors.LevelUpAndSell()  # the episode's detector starts here, back on level 1
    run(task, game.observe(), game.extended("levelchange", "4"))
    assert task.reached.keys() >= {"XP 2", "XP 3", "XP 4 on dlvl 1"}
    game.level_teleport("minetn")
    game.teleport(51, 7)
    game.wish("magic whistle")
    run(task, game.observe(), game.act("drop"), game.act("nw"))
    assert "item sold after XP 4" in task.reached and task.outcome == 0.0
    for _ in range(300):
        task.update(game.act("search"))
    assert task.outcome == 1.0


def test_leaving_level_one_before_xp_4_fails_level_up_and_sell(game_factory):
    game = game_factory(2)
    task = run(detectors.LevelUpAndSell(), game.facts, game.level_teleport(2), game.level_teleport(1),
               game.extended("levelchange", "4"))
    assert task.broken and "XP 4 on dlvl 1" not in task.reached and task.outcome == 0.0


def test_golden_exit_needs_everything_before_leaving(game_factory):
    game = game_factory(3)
    task = detectors.GoldenExit()
    run(task, game.facts)
    game.act("up")
    assert "Still climb?" in game.message
    last = game.act("nw")  # 'y': the hero leaves the dungeon
    run(task, last)
    assert game.done and game.how_done == detectors.ESCAPED
    task.finish(last, game.how_done)
    assert "left the dungeon" in task.reached and task.outcome == 0.0  # no gold, no kills, one level


DIRECTIONS = {(0, -1): "n", (0, 1): "s", (1, 0): "e", (-1, 0): "w", (1, -1): "ne", (-1, -1): "nw", (1, 1): "se",
              (-1, 1): "sw"}


def kill(game: WizardGame, name: str = "newt") -> None:
    """Create a monster next to the hero (Ctrl-G) and attack it with agent moves until it is gone."""
    game.create_monster(name)
    for _ in range(15):
        found = game.find(name)
        if not found:
            return
        (x, y), here = found[0], game.status
        game.act(DIRECTIONS[(int(np.sign(x - here.x)), int(np.sign(y - here.y)))])
    raise AssertionError(f"the {name} survived 15 attacks")


def test_golden_exit_success(game_factory):
    game = game_factory(3)
    task = detectors.GoldenExit()
    run(task, game.facts, game.level_teleport(2), game.level_teleport(3), game.level_teleport(1))
    for _ in range(25):
        kill(game)
        run(task, game.facts)
    assert game.facts.kills == 25 and "25 kills" in task.reached
    run(task, game.wish("20 gold pieces"))
    assert game.facts.gold >= 20
    game.teleport(*_up_stairs(game))
    game.act("up")
    last = game.act("nw")
    run(task, last)
    task.finish(last, game.how_done)
    assert game.how_done == detectors.ESCAPED and task.outcome == 1.0 and task.progression == 1.0


def _up_stairs(game: WizardGame) -> tuple[int, int]:
    game.map_level()
    (x, y), = game.find("staircase up")
    return x, y


def test_kills_are_counted_from_experience(game_factory):
    game = game_factory(3)
    kill(game)
    assert game.facts.kills == 1


def test_discovery_hunger(game_factory):
    game = game_factory(4)
    task = detectors.DiscoveryHunger()
    for _ in range(60):  # rest on level 1 until Hungry (no monsters are generated)
        if game.act("wait").hunger >= 2:
            break
    game.level_teleport("minetn")
    run(task, game.observe())
    assert task.reached.keys() >= {"Gnomish Mines", "hungry in the Mines"}
    ate = game.act("eat")
    run(task, ate)
    assert ate.ate and "ate in the Mines" in task.reached
    game.level_teleport("oracle")
    run(task, game.map_level())
    assert task.outcome == 1.0 and task.progression == 1.0


def test_discovery_hunger_needs_the_meal_in_the_mines(game_factory):
    game = game_factory(4)
    task = detectors.DiscoveryHunger()
    game.level_teleport("minetn")
    run(task, game.observe())
    game.level_teleport("oracle")
    run(task, game.map_level())
    assert task.outcome == 0.0 and task.progression == pytest.approx(1 / 4)
