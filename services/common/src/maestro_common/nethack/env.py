"""The environment of the paper's setting, built directly on NLE's low-level `nle.nethack.Nethack`.

A human neutral male Monk with no pet, autopickup of `$ / % ? !`, "You see" / "You hear" messages
hidden, the 28 actions of `actions.py` with their macros, and a 10,000-step episode cap.

Seeding. `reset(seed)` derives NetHack's two RNG seeds (core, disp) from `seed` and sets them with
reseeding off before the game starts, so one seed always gives the same game. Time-based effects
(moon phase, Friday 13th, night) are derived from the seed too (`fix_moon_phase`).

Message hiding. NetHack's MSGTYPE=hide rules are config-file lines that NETHACKOPTIONS does not
accept. NetHack reads NETHACKOPTIONS as the path of a config file when it starts with '@', and NLE
appends ",name:<player>" (and any other options it adds) to the options it is given; so the env
writes a config file whose name carries exactly that suffix, with an OPTIONS= line and one MSGTYPE
line per hidden pattern. NetHack reads it at every game start; it lives as long as the env.

Prompts. After every action the env settles the game: "--More--" and displayed menus are dismissed,
text entry is escaped, item prompts are answered by the active macro (or escaped), and y/n or
direction questions are returned to the agent, which answers with its compass keys (y = NW,
n = SE). Once the game is over the closing screens are dismissed until NLE reports done.

Observations are NLE's buffers, overwritten in place by the next step: copy what you keep.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from nle import nethack

from maestro_common.errors import FailedPrecondition, Internal, InvalidArgument
from maestro_common.nethack.actions import (
    ACTION_KEYS,
    ACTION_MACROS,
    ACTION_NAMES,
    ESC,
    NUM_ACTIONS,
    SPACE,
    Macro,
)
from maestro_common.nethack.features import (
    BL_SCORE,
    InventoryItem,
    NewItemsTracker,
    Status,
    item_prompt_letters,
    message_text,
)

DEFAULT_OBSERVATION_KEYS: tuple[str, ...] = (
    "glyphs", "chars", "colors", "specials", "blstats", "message",
    "inv_glyphs", "inv_letters", "inv_oclasses", "inv_strs",
    "tty_chars", "tty_colors", "tty_cursor",
)

# Keys the env itself reads; always requested in addition to the configured ones.
REQUIRED_OBSERVATION_KEYS: tuple[str, ...] = (
    "blstats", "message", "inv_glyphs", "inv_letters", "inv_oclasses", "inv_strs",
    "program_state", "misc",
)

# NLE's default options that this env sets itself.
_OWN_OPTIONS = ("pickup_types", "autopickup", "pettype")

# The parts of an NLE character name ("mon-hum-neu-mal"), as NetHack options. NetHack also reads
# them from the player name's suffix, but wizard mode renames the player "wizard", so the env
# states them as options too ("@" leaves a part random).
_CHARACTER_OPTIONS = ("role", "race", "align", "gender")

# NetHack reads an '@' config-file path only when shorter than this (BUFSZ / 2).
_MAX_CONFIG_PATH = 127

# Upper bound on automatic keys per action (prompts that re-open forever would otherwise hang).
_MAX_SETTLE_KEYS = 256
_MAX_START_KEYS = 1000

_IN_MOVELOOP = 3   # program_state index
_GAMEOVER = 0      # program_state index


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """How to build a `MaestroEnv`. The defaults are the paper's setting."""

    character: str = "mon-hum-neu-mal"
    """NetHack role-race-alignment-gender, as NLE names characters."""
    max_episode_steps: int = 10_000
    """Agent steps after which an episode is truncated."""
    wizard: bool = False
    """Start games in wizard (debug) mode, for tests that build situations."""
    hide_messages: tuple[str, ...] = ("^You see", "^You hear")
    """Regular expressions (POSIX extended) of messages NetHack never shows (MSGTYPE=hide)."""
    autopickup: bool = True
    """Pick up items of `pickup_types` when walking over them."""
    pickup_types: str = "$/%?!"
    """Object class symbols picked up automatically: coins, wands, food, scrolls, potions."""
    pet: bool = False
    """Start with the role's pet (the paper plays without one)."""
    observation_keys: tuple[str, ...] = DEFAULT_OBSERVATION_KEYS
    """NLE observation arrays returned to the agent (the env adds the ones it reads itself)."""
    wait_turns: int = 25
    """Turns the wait action rests (a count prefix, then search)."""
    spawn_monsters: bool = True
    """Let NetHack create monsters over time (False only for controlled tests)."""
    fix_moon_phase: bool = True
    """Derive moon phase and other clock-based effects from the seed, so runs repeat any day."""
    extra_options: tuple[str, ...] = ()
    """Further NetHack options (NETHACKOPTIONS syntax), appended last."""

    def __post_init__(self) -> None:
        if self.max_episode_steps <= 0:
            raise InvalidArgument("max_episode_steps", "must be positive")
        if not 1 <= self.wait_turns <= 999:
            raise InvalidArgument("wait_turns", "must be between 1 and 999")
        unknown = [k for k in self.observation_keys if k not in nethack.OBSERVATION_DESC]
        if unknown:
            raise InvalidArgument(
                "observation_keys",
                f"unknown keys {unknown}; valid: {sorted(nethack.OBSERVATION_DESC)}",
            )
        for pattern in self.hide_messages:
            if "\n" in pattern or '"' in pattern:
                raise InvalidArgument(
                    "hide_messages", f"pattern {pattern!r} has a quote or newline"
                )


def derive_seeds(seed: int) -> tuple[int, int]:
    """NetHack's (core, disp) seeds for an episode seed: a fixed, platform-independent function."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgument("seed", f"must be a non-negative integer, got {seed!r}")
    state = np.random.SeedSequence(int(seed)).generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1)), int(state[1] >> np.uint64(1))


def nethack_options(config: EnvConfig) -> list[str]:
    """The NetHack options of `config` (NLE's defaults with this env's own settings)."""
    options = [o for o in nethack.NETHACKOPTIONS if not o.startswith(_OWN_OPTIONS)]
    options.append("autopickup" if config.autopickup else "!autopickup")
    options.append(f"pickup_types:{config.pickup_types}")
    for key, part in zip(_CHARACTER_OPTIONS, config.character.split("-")):
        if part != "@":
            options.append(f"{key}:{part}")
    if not config.pet:
        options.append("pettype:none")
    options.extend(config.extra_options)
    return options


def config_file_text(options: Sequence[str], hide_messages: Sequence[str]) -> str:
    """A NetHack config file: the options, then one MSGTYPE=hide line per pattern."""
    lines = ["OPTIONS=" + ",".join(options)]
    lines += [f'MSGTYPE=hide "{pattern}"' for pattern in hide_messages]
    return "\n".join(lines) + "\n"


class MaestroEnv:
    """One NetHack game at a time in the paper's setting; see the module docstring."""

    num_actions: int = NUM_ACTIONS
    """Size of the action set (28)."""
    action_names: tuple[str, ...] = ACTION_NAMES
    """Action names in index order."""

    def __init__(self, config: EnvConfig):
        self.config = config
        keys = list(config.observation_keys)
        keys += [k for k in REQUIRED_OBSERVATION_KEYS if k not in keys]
        self._keys = tuple(keys)
        self._configdir = tempfile.TemporaryDirectory(prefix="mm-nh-")
        rc_base = os.path.join(self._configdir.name, "rc")
        player = "Agent-" + config.character
        try:
            self._nethack = nethack.Nethack(
                observation_keys=self._keys, playername=player, ttyrec=None,
                options=("@" + rc_base,), wizard=config.wizard,
                spawn_monsters=config.spawn_monsters, fix_moon_phase=config.fix_moon_phase,
            )
        except Exception:
            self._configdir.cleanup()
            raise
        # NLE joins its options with commas after ours: that whole string is the file name
        # NetHack opens, and every option NLE added must be in the file itself.
        rc_path = ",".join(self._nethack.options)[1:]
        if len(rc_path) > _MAX_CONFIG_PATH:
            self.close()
            raise Internal(
                f"config file path {rc_path!r} is longer than NetHack reads ({_MAX_CONFIG_PATH});"
                " set TMPDIR to a shorter directory"
            )
        options = nethack_options(config) + list(self._nethack.options[1:])
        with open(rc_path, "w", encoding="ascii") as f:
            f.write(config_file_text(options, config.hide_messages))

        # NLE fills the same arrays in place at every step; they are bound at the first reset.
        self._obs: dict[str, np.ndarray] = {}
        self._misc = np.zeros(3, dtype=np.int32)     # in_yn_function, in_getlin, xwaitforspace
        self._program_state = np.zeros(6, dtype=np.int32)
        self._blstats = np.zeros(27, dtype=np.int64)
        self._tracker = NewItemsTracker()
        self._wait_keys = tuple(ord(c) for c in str(config.wait_turns)) + (ord("s"),)
        self._steps = 0
        self._score = 0
        self._done = True
        self._pending = Macro.NONE
        self._seed: int | None = None

    # -- the gym-like API -------------------------------------------------------------------------

    def reset(self, seed: int) -> dict[str, np.ndarray]:
        """Starts a new game whose randomness is fixed by `seed`; returns the first observation."""
        core, disp = derive_seeds(seed)
        self._nethack.set_initial_seeds(core, disp, False)
        buffers = self._nethack.reset()
        if not self._obs:
            self._obs = dict(zip(self._keys, buffers))
            self._misc = self._obs["misc"]
            self._program_state = self._obs["program_state"]
            self._blstats = self._obs["blstats"]
        done = False
        for _ in range(_MAX_START_KEYS):
            if self._program_state[_IN_MOVELOOP]:
                break
            _, done = self._nethack.step(SPACE)
        else:
            raise Internal(
                f"NetHack did not reach the game after {_MAX_START_KEYS} keys (seed {seed})"
            )
        self._pending = Macro.NONE
        done = self._settle(Macro.NONE, done)
        if done:
            raise Internal(f"the game ended while starting (seed {seed})")
        self._tracker.reset(self._obs)
        self._steps = 0
        self._score = int(self._blstats[BL_SCORE])
        self._done = False
        self._seed = int(seed)
        return self._obs

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Plays one action: (observation, score gained, terminated, truncated, info)."""
        if self._done:
            raise FailedPrecondition("the episode is over (or never started): call reset(seed)")
        if not 0 <= action < NUM_ACTIONS:
            raise InvalidArgument("action", f"must be in [0, {NUM_ACTIONS}), got {action!r}")
        macro = ACTION_MACROS[action]
        if macro is Macro.NONE:
            _, done = self._nethack.step(ACTION_KEYS[action])
            context = self._pending
        else:
            done = self._run_macro(action, macro)
            context = macro
        if done or self._misc.any() or self._program_state[_GAMEOVER]:
            done = self._settle(context, done)
        else:
            self._pending = Macro.NONE
        self._steps += 1
        score = int(self._blstats[BL_SCORE])
        reward = float(score - self._score)
        self._score = score
        truncated = not done and self._steps >= self.config.max_episode_steps
        info: dict[str, Any] = {}
        if done:
            info["how_done"] = int(self._nethack.how_done())
        if done or truncated:
            self._done = True
        return self._obs, reward, done, truncated, info

    def close(self) -> None:
        """Releases the NetHack instance and the config file."""
        if getattr(self, "_nethack", None) is not None:
            self._nethack.close()
            self._nethack = None  # type: ignore[assignment]
        self._configdir.cleanup()

    def __enter__(self) -> MaestroEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state the skills and tools read ----------------------------------------------------------

    @property
    def observation(self) -> dict[str, np.ndarray]:
        """The current observation (the same buffers `step` returns)."""
        return self._obs

    @property
    def steps(self) -> int:
        """Agent steps taken in this episode."""
        return self._steps

    @property
    def seed(self) -> int | None:
        """The seed of the current episode."""
        return self._seed

    @property
    def nethack_seeds(self) -> tuple[int, int, bool]:
        """NetHack's current (core, disp, reseed)."""
        core, disp, reseed, _ = self._nethack.get_current_seeds()
        return core, disp, reseed

    @property
    def new_items_tracker(self) -> NewItemsTracker:
        """The tracker of items not in this episode's starting inventory."""
        return self._tracker

    def new_items(self) -> list[InventoryItem]:
        """New items carried now (not starting items, not food or coins)."""
        return self._tracker.new_items(self._obs)

    def status(self) -> Status:
        """The hero's current `Status`."""
        return Status.from_blstats(self._blstats)

    def send_keys(self, keys: Sequence[int], settle: bool = True) -> dict[str, np.ndarray]:
        """Sends raw keys to NetHack (for tests and tools that build situations, e.g. wizard-mode
        commands); with `settle`, prompts left afterwards are handled as after an action. Does not
        count as agent steps."""
        if self._done:
            raise FailedPrecondition("the episode is over (or never started): call reset(seed)")
        done = False
        for key in keys:
            _, done = self._nethack.step(int(key))
            if done:
                break
        if settle:
            done = self._settle(Macro.NONE, done)
        if done:
            self._done = True
        return self._obs

    # -- macros and prompts -----------------------------------------------------------------------

    def _run_macro(self, action: int, macro: Macro) -> bool:
        """Sends a macro's keys; returns NLE's done flag. Its item prompt is answered in _settle."""
        step = self._nethack.step
        if macro is Macro.WAIT:
            done = False
            for key in self._wait_keys:
                _, done = step(key)
                if done:
                    break
            return done
        _, done = step(ACTION_KEYS[action])
        if macro is Macro.MENU_FIRST and not done and self._misc[2]:
            # A menu is up (cast: the known spells; enhance: skills). 'a' picks the first entry
            # where entries are selectable and is ignored by a display-only menu.
            _, done = step(ord("a"))
        return done

    def _item_answer(self, context: Macro, letters: str) -> int:
        """The key answering an item prompt that offers `letters`, given the active macro."""
        if context in (Macro.EAT, Macro.QUAFF) and letters:
            return ord(letters[0])
        if context is Macro.DROP:
            offered = set(letters)
            for item in self._tracker.new_items(self._obs):
                if item.letter in offered:
                    return ord(item.letter)
        return ESC

    def _settle(self, context: Macro, done: bool) -> bool:
        """Handles whatever the game waits for until it waits for an agent action; returns done."""
        misc = self._misc
        step = self._nethack.step
        for _ in range(_MAX_SETTLE_KEYS):
            if done:
                self._pending = Macro.NONE
                return True
            in_yn, in_getlin, waiting = misc.tolist()
            if self._program_state[_GAMEOVER]:
                key = ESC if (in_yn or in_getlin) else SPACE
            elif waiting:
                key = SPACE
            elif in_getlin:
                key = ESC
            elif in_yn:
                letters = item_prompt_letters(message_text(self._obs))
                if letters is None:
                    # A y/n or direction question: the agent answers it.
                    self._pending = context
                    return False
                key = self._item_answer(context, letters)
                context = Macro.NONE
            else:
                self._pending = Macro.NONE
                return False
            _, done = step(key)
        raise Internal(
            f"the game still waits for input after {_MAX_SETTLE_KEYS} automatic keys: "
            f"{message_text(self._obs)!r}"
        )


def make_env(config: EnvConfig | None = None) -> MaestroEnv:
    """A `MaestroEnv` for `config` (the paper's setting by default)."""
    return MaestroEnv(config or EnvConfig())


__all__ = [
    "DEFAULT_OBSERVATION_KEYS", "EnvConfig", "MaestroEnv", "config_file_text", "derive_seeds",
    "make_env", "nethack_options",
]
