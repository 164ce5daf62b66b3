"""Real NetHack situations for the options tests, built in wizard mode (MaestroEnv(wizard=True) + raw keys).

Wizard commands used: ^W wish (items; "altar" makes an altar under the hero), ^G create a monster next
to the hero, ^V level teleport through its "?" menu of special levels, ^F map the level.
"""

from __future__ import annotations

import numpy as np

from maestro_common.nethack.actions import ENTER, ctrl
from maestro_common.nethack.env import EnvConfig, MaestroEnv, make_env

Observation = dict[str, np.ndarray]


def keys(text: str) -> list[int]:
    return [ord(c) for c in text]


def wizard_env() -> MaestroEnv:
    """A wizard-mode env without random monster generation (situations stay as built)."""
    return make_env(EnvConfig(wizard=True, spawn_monsters=False))


def wish(env: MaestroEnv, text: str) -> Observation:
    return env.send_keys([ctrl("w")] + keys(text) + [ENTER])


def create_monster(env: MaestroEnv, name: str, force: bool = False) -> Observation:
    """^G `name` next to the hero; `force` answers "force <name>?" with y (shopkeepers need it)."""
    return env.send_keys([ctrl("g")] + keys(name) + [ENTER] + (keys("y") if force else []))


def teleport_menu(env: MaestroEnv, entry: str) -> Observation:
    """Level teleport to an entry of the ^V ? menu: "b" = the level with the Gnomish Mines staircase
    (Dungeons of Doom), ">w" = Minetown (second page; in the Gnomish Mines)."""
    return env.send_keys([ctrl("v")] + keys("?") + [ENTER] + keys(entry))


def teleport_depth(env: MaestroEnv, depth: int) -> Observation:
    """Level teleport to `depth` of the current dungeon."""
    return env.send_keys([ctrl("v")] + keys(str(depth)) + [ENTER])


def map_level(env: MaestroEnv) -> Observation:
    """^F: the whole level becomes seen (as after a scroll of magic mapping)."""
    return env.send_keys([ctrl("f")])


def copy(obs: Observation) -> Observation:
    return {key: value.copy() for key, value in obs.items()}
