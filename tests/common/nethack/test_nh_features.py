"""Featurisers on real NLE observations."""

from __future__ import annotations

import numpy as np
import pytest
from nle import nethack

from maestro_common.nethack.actions import Action, ctrl
from maestro_common.nethack.env import EnvConfig, make_env
from maestro_common.nethack.features import (
    NewItemsTracker,
    Status,
    hero_crop,
    inventory,
    item_prompt_letters,
    message_text,
    near_hero,
    status,
)


@pytest.fixture(scope="module")
def game():
    env = make_env(EnvConfig(wizard=True, spawn_monsters=False, hide_messages=()))
    env.reset(5)
    yield env
    env.close()


def test_message_text(game):
    obs = game.reset(5)
    text = message_text(obs)
    assert text.startswith("Hello wizard, welcome to NetHack!")  # wizard mode renames the player
    assert text.endswith("You are a neutral male human Monk.")
    obs, *_ = game.step(Action.DROP)
    assert message_text(obs) == "Never mind."


def test_status_reads_blstats(game):
    obs = game.reset(5)
    s = status(obs)
    assert isinstance(s, Status)
    assert (s.depth, s.gold, s.xp_level, s.turn, s.hunger) == (1, 0, 1, 1, 1)
    assert s.hp == s.max_hp > 0
    assert (s.dungeon_number, s.level_number) == (0, 1)
    assert s.hunger_name == "Not hungry"
    # The hero's glyph sits at (x, y) on the map.
    assert obs["chars"][s.y, s.x] == ord("@")
    # Status line text agrees with blstats.
    bottom = obs["tty_chars"][-1].tobytes().decode()
    assert f"Dlvl:{s.depth}" in bottom and f"HP:{s.hp}({s.max_hp})" in bottom


def test_hero_crop_centres_the_hero_and_pads_the_edges(game):
    obs = game.reset(5)
    s = status(obs)
    chars, colors = hero_crop(obs, 12)
    assert chars.shape == colors.shape == (12, 12)
    assert chars[6, 6] == ord("@")
    assert np.array_equal(chars[6, 5:8], obs["chars"][s.y, s.x - 1: s.x + 2])
    # Fake a hero in the map's top-left corner: everything above/left of it is padding.
    fake = dict(obs)
    fake["blstats"] = obs["blstats"].copy()
    fake["blstats"][0], fake["blstats"][1] = 0, 0
    chars, colors = hero_crop(fake, 12)
    assert (chars[:6, :] == ord(" ")).all() and (chars[:, :6] == ord(" ")).all()
    assert (colors[:6, :] == 0).all()
    assert np.array_equal(chars[6:, 6:], obs["chars"][:6, :6])
    # And the bottom-right corner.
    fake["blstats"][0], fake["blstats"][1] = 78, 20
    chars, _ = hero_crop(fake, 12)
    assert np.array_equal(chars[:7, :7], obs["chars"][14:21, 72:79])
    assert (chars[7:, :] == ord(" ")).all()


def test_inventory_and_new_items(game):
    obs = game.reset(5)
    tracker = NewItemsTracker()
    tracker.reset(obs)
    start = inventory(obs)
    assert any("robe" in item.name for item in start)
    assert tracker.new_items(obs) == []
    # Food and coins never count; anything else picked up does.
    for text in ("2 daggers", "apple", "50 gold pieces"):
        game.send_keys([ctrl("w")] + [ord(c) for c in text] + [ord("\r")])
    obs = game.observation
    new = tracker.new_items(obs)
    assert [i.name for i in new] == ["2 daggers"]
    assert tracker.has_new_items(obs)
    assert any("apple" in i.name for i in inventory(obs))
    assert new[0].oclass == nethack.WEAPON_CLASS


def test_near_hero_finds_the_hero_surroundings(game):
    obs = game.reset(5)
    assert not near_hero(obs, "@")  # the hero's own cell does not count
    s = status(obs)
    fake = dict(obs)
    fake["chars"] = obs["chars"].copy()
    fake["colors"] = obs["colors"].copy()
    fake["chars"][s.y, s.x + 2] = ord("_")
    fake["colors"][s.y, s.x + 2] = 7
    assert near_hero(fake, "_", color=7)
    assert not near_hero(fake, "_", color=1)
    assert not near_hero(fake, "_", radius=1)


@pytest.mark.parametrize("prompt, letters", [
    ("What do you want to eat? [fghi or ?*] ", "fghi"),
    ("What do you want to drop? [$a-d or ?*] ", "abcd"),
    ("What do you want to drink? [e or ?*]", "e"),
    ("What do you want to drop? [*]", ""),
    ("Are you sure you want to pray? [yn] (n) ", None),
    ("In what direction?", None),
])
def test_item_prompt_letters(prompt, letters):
    assert item_prompt_letters(prompt) == letters
