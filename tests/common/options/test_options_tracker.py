"""GameTracker on real NetHack states: fixed-seed episodes and wizard-mode situations (see wizard_games)."""

from __future__ import annotations

import numpy as np
import pytest
from wizard_games import copy, create_monster, map_level, teleport_depth, teleport_menu, wish, wizard_env

from maestro_common.errors import FailedPrecondition
from maestro_common.nethack.actions import COMPASS, Action
from maestro_common.nethack.env import make_env
from maestro_common.nethack.features import BL_X, BL_Y, message_text, near_hero
from maestro_common.options import GameTracker, count_kill_messages
from maestro_common.options.tracker import SHOPKEEPER_GLYPHS, branch_name


@pytest.fixture
def wizard():
    env = wizard_env()
    yield env
    env.close()


def test_snapshot_reads_blstats_of_a_real_game_and_follows_it():
    """Seed 11, 60 random moves: every Snapshot field equals the blstats entry nle documents."""
    env = make_env()
    try:
        obs = env.reset(11)
        tracker = GameTracker(env.new_items_tracker)
        tracker.reset(obs)
        start = tracker.snapshot()
        assert (start.depth, start.dungeon_number, start.branch, start.level_number) == (1, 0, "Dungeons of Doom", 1)
        assert start.xp_level == 1 and start.kills == 0 and start.new_items == 0 and start.hunger == "Not Hungry"
        rng = np.random.default_rng(0)
        for _ in range(60):
            obs, _, done, truncated, _ = env.step(int(rng.choice(COMPASS)))
            tracker.update(obs)
            now, b = tracker.snapshot(), obs["blstats"]
            assert (now.depth, now.gold, now.xp_level, now.turn) == (b[12], b[13], b[18], b[20])
            assert (now.hp, now.max_hp, now.dungeon_number, now.level_number) == (b[10], b[11], b[23], b[24])
            assert tracker.message == message_text(obs)
            if done or truncated:
                break
        assert tracker.snapshot().turn > start.turn
    finally:
        env.close()


def test_update_before_reset_is_refused():
    with pytest.raises(FailedPrecondition, match="reset"):
        GameTracker().update({})


def test_branch_names():
    assert [branch_name(n) for n in (0, 2, 3)] == ["Dungeons of Doom", "Gnomish Mines", "other"]


def test_gnomish_mines_branch_and_downstairs_on_the_branch_level(wizard):
    """Wizard mode: ^V to Minetown (Gnomish Mines), then to the Dungeons of Doom level that holds the
    Mines staircase, mapped with ^F: two down staircases; counts reset on each level change."""
    tracker = GameTracker(wizard.new_items_tracker)
    tracker.reset(wizard.reset(5))
    tracker.update(teleport_menu(wizard, ">w"))
    mines = tracker.snapshot()
    assert (mines.dungeon_number, mines.branch, mines.depth, mines.level_number) == (2, "Gnomish Mines", 7, 3)
    tracker.update(map_level(wizard))
    assert tracker.downstairs_seen == 1  # Minetown's own down staircase
    tracker.update(teleport_menu(wizard, "b"))
    branch_level = tracker.snapshot()
    assert (branch_level.dungeon_number, branch_level.branch, branch_level.depth) == (0, "Dungeons of Doom", 4)
    seen_before_mapping = tracker.downstairs_seen
    assert seen_before_mapping <= 2
    tracker.update(map_level(wizard))
    assert tracker.downstairs_seen == 2
    tracker.update(teleport_depth(wizard, 2))
    assert tracker.snapshot().depth == 2 and tracker.downstairs_seen <= 1  # emptied on arrival


def test_altar_precondition_needs_new_items_and_is_read_from_glyphs(wizard):
    """Wizard mode: an altar wished under the hero, a step away, then new items."""
    tracker = GameTracker(wizard.new_items_tracker)
    obs = wizard.reset(5)
    tracker.reset(obs)
    altar = (int(obs["blstats"][BL_X]), int(obs["blstats"][BL_Y]))
    obs = wish(wizard, "altar")
    assert message_text(obs) == "A neutral altar."
    tracker.update(obs)
    assert not tracker.altar_near  # under the hero and never seen yet
    obs, *_ = wizard.step(Action.E)
    tracker.update(obs)
    assert tracker.altar_near and not tracker.worshipper_precondition  # no new items yet
    tracker.update(wish(wizard, "2 daggers"))
    assert tracker.new_items == 1 and tracker.worshipper_precondition and not tracker.merchant_precondition
    obs, *_ = wizard.step(Action.W)  # back onto the altar: remembered, still within the window
    tracker.update(obs)
    assert tracker.worshipper_precondition
    for _ in range(4):  # walk away: the altar leaves the 7x7 window
        obs, *_ = wizard.step(Action.E)
        tracker.update(obs)
    distance = max(abs(int(obs["blstats"][BL_X]) - altar[0]), abs(int(obs["blstats"][BL_Y]) - altar[1]))
    assert distance > 3  # the room is wide enough on this seed
    assert not tracker.altar_near and not tracker.worshipper_precondition


def test_iron_chain_underscore_is_not_an_altar(wizard):
    """Wizard mode: an iron chain ('_' object) dropped next to the hero; characters would say altar."""
    tracker = GameTracker(wizard.new_items_tracker)
    tracker.reset(wizard.reset(5))
    wish(wizard, "2 daggers")
    wish(wizard, "iron chain")
    obs = wizard.send_keys([ord("d")] + [ord(item.letter) for item in wizard.new_items() if "chain" in item.name])
    obs, *_ = wizard.step(Action.E)
    tracker.update(obs)
    assert near_hero(obs, "_")  # what a character-based check would see
    assert tracker.new_items >= 1 and not tracker.altar_near and not tracker.worshipper_precondition


def test_shopkeeper_by_glyph_and_a_human_at_sign_is_not_one(wizard):
    """Wizard mode: a watchman ('@', human) next to the hero is not a shopkeeper; a ^G shopkeeper is."""
    tracker = GameTracker(wizard.new_items_tracker)
    tracker.reset(wizard.reset(5))
    tracker.update(wish(wizard, "2 daggers"))
    obs = create_monster(wizard, "watchman")
    tracker.update(obs)
    assert near_hero(obs, "@") and not tracker.shopkeeper_near and not tracker.merchant_precondition
    obs = copy(create_monster(wizard, "shopkeeper", force=True))
    tracker.update(obs)
    rows, cols = np.nonzero(np.isin(obs["glyphs"], list(SHOPKEEPER_GLYPHS)))
    x, y = int(obs["blstats"][BL_X]), int(obs["blstats"][BL_Y])
    assert any(abs(r - y) <= 3 and abs(c - x) <= 3 for r, c in zip(rows, cols))
    assert tracker.shopkeeper_near and tracker.merchant_precondition


def test_kill_messages():
    assert count_kill_messages("You kill the newt!") == 1
    assert count_kill_messages("You kill the newt!  You destroy the lichen!") == 2
    assert count_kill_messages("The newt is killed!  You hit the jackal.") == 0
    assert count_kill_messages("You kill it!") == 1


def test_kills_counted_on_a_real_kill(wizard):
    """Wizard mode: newts created next to the hero and fought until dead; the game says "You kill"."""
    tracker = GameTracker(wizard.new_items_tracker)
    tracker.reset(wizard.reset(5))
    deltas = {Action.N: (0, -1), Action.S: (0, 1), Action.E: (1, 0), Action.W: (-1, 0),
              Action.NE: (1, -1), Action.NW: (-1, -1), Action.SE: (1, 1), Action.SW: (-1, 1)}
    killed_messages = 0
    for _ in range(2):
        obs = create_monster(wizard, "newt")
        tracker.update(obs)
        for _ in range(30):
            x, y = int(obs["blstats"][BL_X]), int(obs["blstats"][BL_Y])
            newt = [a for a, (dx, dy) in deltas.items() if chr(obs["chars"][y + dy, x + dx]) == ":"]
            if not newt:
                break
            obs = copy(wizard.send_keys([ord("F")], settle=False))  # fight: never a move into a vacated cell
            obs, *_ = wizard.step(newt[0])
            tracker.update(obs)
            killed_messages += count_kill_messages(message_text(obs))
    assert killed_messages >= 1
    assert tracker.kills == 2 == tracker.snapshot().kills
