"""The 28-action set of the paper's setting, in the fixed index order the skill network uses.

Simple actions send one key to NetHack. Macro actions (wait, eat, cast, enhance, quaff, drop) are
expanded by `MaestroEnv`: they send a key sequence and answer the prompt that follows in a fixed
way. Kick and pray send one key and leave the question they raise ("In what direction?", "Are you
sure you want to pray? [yn]") to the agent, whose compass keys answer it (`y`/`n` are the NW/SE
moves).
"""

from __future__ import annotations

import enum


def ctrl(char: str) -> int:
    """The key code of Ctrl+`char`."""
    return ord(char) & 0x1F


def meta(char: str) -> int:
    """The key code of Meta+`char` (the high bit set, as NetHack reads it)."""
    return 0x80 | ord(char)


ESC = 27
SPACE = ord(" ")
ENTER = ord("\r")


class Action(enum.IntEnum):
    """Index of each action in the policy's output."""

    MORE = 0
    N = 1
    E = 2
    S = 3
    W = 4
    NE = 5
    SE = 6
    SW = 7
    NW = 8
    FAR_N = 9
    FAR_E = 10
    FAR_S = 11
    FAR_W = 12
    FAR_NE = 13
    FAR_SE = 14
    FAR_SW = 15
    FAR_NW = 16
    UP = 17
    DOWN = 18
    WAIT = 19
    KICK = 20
    EAT = 21
    SEARCH = 22
    CAST = 23
    ENHANCE = 24
    PRAY = 25
    QUAFF = 26
    DROP = 27


class Macro(enum.Enum):
    """How `MaestroEnv` expands an action beyond sending its first key."""

    NONE = "none"        # one key, nothing more
    WAIT = "wait"        # a count prefix, then search: rest a number of turns
    EAT = "eat"          # answer the item prompt with the first letter offered
    QUAFF = "quaff"      # answer the item prompt with the first letter offered
    DROP = "drop"        # answer the item prompt with the first new item, or escape
    MENU_FIRST = "menu"  # pick the first entry of the menu that opens (cast, enhance)


# The command key of every action (for WAIT, the final key after the count prefix).
ACTION_KEYS: tuple[int, ...] = (
    ENTER,                                              # MORE: Enter, which also dismisses --More--
    ord("k"), ord("l"), ord("j"), ord("h"),             # N E S W
    ord("u"), ord("n"), ord("b"), ord("y"),             # NE SE SW NW
    ord("K"), ord("L"), ord("J"), ord("H"),             # far N E S W
    ord("U"), ord("N"), ord("B"), ord("Y"),             # far NE SE SW NW
    ord("<"), ord(">"),
    ord("s"),                                           # WAIT: "<count>s"
    ctrl("d"),                                          # kick
    ord("e"),
    ord("s"),                                           # search one turn
    ord("Z"),                                           # cast
    meta("e"),                                          # #enhance
    meta("p"),                                          # #pray
    ord("q"),                                           # quaff
    ord("d"),                                           # drop
)

ACTION_MACROS: tuple[Macro, ...] = tuple(
    {
        Action.WAIT: Macro.WAIT,
        Action.EAT: Macro.EAT,
        Action.QUAFF: Macro.QUAFF,
        Action.DROP: Macro.DROP,
        Action.CAST: Macro.MENU_FIRST,
        Action.ENHANCE: Macro.MENU_FIRST,
    }.get(action, Macro.NONE)
    for action in Action
)

ACTION_NAMES: tuple[str, ...] = tuple(action.name.lower() for action in Action)
NUM_ACTIONS = len(Action)

COMPASS: tuple[Action, ...] = tuple(Action(i) for i in range(Action.N, Action.NW + 1))
FAR_COMPASS: tuple[Action, ...] = tuple(Action(i) for i in range(Action.FAR_N, Action.FAR_NW + 1))
MOVEMENT: tuple[Action, ...] = COMPASS + FAR_COMPASS

# The answers to a y/n question among the compass keys.
YES = Action.NW
NO = Action.SE

assert len(ACTION_KEYS) == NUM_ACTIONS == 28
