"""Real NetHack games in wizard (debug) mode, driven to build the situations the detector tests need.

`WizardGame` wraps a `MaestroEnv` started with ``wizard=True`` and feeds every observation to the
evaluator's `FactsTracker`, so a test reads the same facts an evaluation episode produces. Wizard
commands go through `MaestroEnv.send_keys` (they are not agent actions):

- ``level_teleport("minetn")`` / ``level_teleport(5)``: Ctrl-V; a name picks the level from the
  special-level menu that "?" opens (oracle, minetn, ...), a number is a depth in the current dungeon.
- ``map_level()``: Ctrl-F, the whole level's map becomes known (features, not monsters).
- ``teleport(x, y)``: Ctrl-T, the cursor moved from the hero to (x, y), then '.'.
- ``wish("2 uncursed scrolls of light")``: Ctrl-W.
- ``extended("levelchange", "4")``: '#' + a wizard extended command and its answers.
- ``create_monster("newt")``: Ctrl-G.
`act(name)` plays one agent action of the env's action set by name, as an episode does.
"""

from __future__ import annotations

import re

import numpy as np

from evaluator.facts import OBSERVATION_KEYS, FactsTracker, StepFacts
from maestro_common.nethack.actions import ACTION_NAMES
from maestro_common.nethack.env import DEFAULT_OBSERVATION_KEYS, EnvConfig, MaestroEnv
from maestro_common.nethack.features import Status, message_text, status

ENTER, CTRL_F, CTRL_G, CTRL_T, CTRL_V, CTRL_W = 13, 0x06, 0x07, 0x14, 0x16, 0x17


class WizardGame:
    """One wizard-mode game; see the module docstring."""

    def __init__(self, seed: int = 1, *, spawn_monsters: bool = False):
        keys = tuple(dict.fromkeys(DEFAULT_OBSERVATION_KEYS + OBSERVATION_KEYS + ("screen_descriptions",)))
        self.env = MaestroEnv(EnvConfig(wizard=True, spawn_monsters=spawn_monsters, observation_keys=keys))
        self.obs = self.env.reset(seed=seed)
        self.tracker = FactsTracker()
        self.facts: StepFacts = self.tracker.reset(self.obs)
        self.how_done: int | None = None
        self.done = False

    def close(self) -> None:
        self.env.close()

    # -- reading ----------------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        return status(self.obs)

    @property
    def message(self) -> str:
        return message_text(self.obs)

    def screen(self) -> str:
        return "\n".join(bytes(row).decode("latin-1") for row in self.obs["tty_chars"])

    def descriptions(self) -> dict[tuple[int, int], str]:
        """(row, col) -> the screen description of every described map cell."""
        out = {}
        for (row, col) in zip(*np.nonzero(self.obs["screen_descriptions"][:, :, 0])):
            out[(int(row), int(col))] = bytes(self.obs["screen_descriptions"][row, col]).rstrip(b"\0").decode()
        return out

    def find(self, description: str) -> list[tuple[int, int]]:
        """(x, y) of map cells whose description is `description`."""
        return [(col, row) for (row, col), text in self.descriptions().items() if text == description]

    # -- acting -----------------------------------------------------------------------------------

    def observe(self) -> StepFacts:
        """Feed the current observation to the tracker (after wizard commands: no agent action)."""
        self.facts = self.tracker.update(self.obs, None)
        return self.facts

    def keys(self, keys: list[int] | str, settle: bool = True) -> None:
        codes = [ord(k) for k in keys] if isinstance(keys, str) else keys
        self.obs = self.env.send_keys(codes, settle=settle)

    def act(self, name: str) -> StepFacts:
        """Play one agent action by name; returns the facts after it."""
        action = ACTION_NAMES.index(name)
        self.obs, _reward, terminated, truncated, info = self.env.step(action)
        self.done = terminated or truncated
        self.how_done = info.get("how_done")
        self.facts = self.tracker.update(self.obs, action)
        return self.facts

    def level_teleport(self, target: str | int) -> StepFacts:
        if isinstance(target, int):
            self.keys([CTRL_V] + [ord(c) for c in str(target)] + [ENTER])
            return self.observe()
        self.keys([CTRL_V, ord("?"), ENTER], settle=False)
        for _page in range(6):
            match = re.search(r"^\s*([a-zA-Z]) - .{2}" + re.escape(target) + r"\b", self.screen(), re.M)
            if match:
                self.keys([ord(match.group(1))])
                return self.observe()
            self.keys([ord(">")], settle=False)
        raise AssertionError(f"level {target!r} is not in the level teleport menu")

    def map_level(self) -> StepFacts:
        self.keys([CTRL_F])
        return self.observe()

    def teleport(self, x: int, y: int) -> StepFacts:
        here = self.status
        dx, dy = x - here.x, y - here.y
        moves = ""
        for delta, small, big in ((dx, "l", "L"), (-dx, "h", "H"), (dy, "j", "J"), (-dy, "k", "K")):
            if delta > 0:
                moves += big * (delta // 8) + small * (delta % 8)
        self.keys([CTRL_T] + [ord(c) for c in moves + "."])
        facts = self.observe()
        assert (self.status.x, self.status.y) == (x, y), f"teleport to {(x, y)} failed: {self.message!r}"
        return facts

    def wish(self, text: str) -> StepFacts:
        self.keys([CTRL_W] + [ord(c) for c in text] + [ENTER])
        return self.observe()

    def extended(self, command: str, *answers: str) -> StepFacts:
        keys = [ord("#")] + [ord(c) for c in command] + [ENTER]
        for answer in answers:
            keys += [ord(c) for c in answer] + [ENTER]
        self.keys(keys)
        return self.observe()

    def create_monster(self, name: str) -> StepFacts:
        self.keys([CTRL_G] + [ord(c) for c in name] + [ENTER])
        return self.observe()
