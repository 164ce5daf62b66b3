"""Featurisers over one NLE observation (a dict of the arrays NLE fills in).

Everything here reads the observation and never steps the game. Observation arrays are NLE's
buffers, overwritten by the next step: functions that return arrays return copies.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import numpy as np
from nle import nethack

Observation = Mapping[str, np.ndarray]

# blstats indices (NLE's NLE_BL_* table).
BL_X = nethack.NLE_BL_X
BL_Y = nethack.NLE_BL_Y
BL_HP = nethack.NLE_BL_HP
BL_HPMAX = nethack.NLE_BL_HPMAX
BL_DEPTH = nethack.NLE_BL_DEPTH
BL_GOLD = nethack.NLE_BL_GOLD
BL_XP = nethack.NLE_BL_XP
BL_TIME = nethack.NLE_BL_TIME
BL_HUNGER = nethack.NLE_BL_HUNGER
BL_DNUM = nethack.NLE_BL_DNUM
BL_DLEVEL = nethack.NLE_BL_DLEVEL
BL_SCORE = nethack.NLE_BL_SCORE

# Hunger states as blstats reports them (NetHack's u.uhs).
HUNGER_NAMES: tuple[str, ...] = (
    "Satiated", "Not hungry", "Hungry", "Weak", "Fainting", "Fainted", "Starved",
)

# Dungeon numbers of the branches tasks care about (blstats index 23).
DUNGEONS_OF_DOOM = 0
GNOMISH_MINES = 2

# Object classes that never count as "new items".
EXCLUDED_NEW_ITEM_CLASSES = frozenset({nethack.FOOD_CLASS, nethack.COIN_CLASS})

BLANK_CHAR = ord(" ")


def message_text(obs: Observation) -> str:
    """The current top-line message ("" when there is none)."""
    raw = obs["message"].tobytes()
    end = raw.find(b"\0")
    return raw[: end if end >= 0 else len(raw)].decode("latin-1").rstrip()


@dataclasses.dataclass(frozen=True)
class Status:
    """The bottom-line statistics the skills and the annotation data use (from blstats)."""

    depth: int
    """Depth of the current level below the surface (1 on the first level)."""
    gold: int
    """Gold carried."""
    hp: int
    """Current hit points."""
    max_hp: int
    """Maximum hit points."""
    xp_level: int
    """Experience level."""
    turn: int
    """The game's turn counter (T:)."""
    hunger: int
    """Hunger: 0 Satiated, 1 Not hungry, 2 Hungry, 3 Weak, 4 Fainting, 5 Fainted, 6 Starved."""
    dungeon_number: int
    """Branch: 0 Dungeons of Doom, 2 Gnomish Mines, ... (NetHack's dungeon number)."""
    level_number: int
    """Level number within the branch."""
    x: int
    """Hero column on the map (0..78)."""
    y: int
    """Hero row on the map (0..20)."""

    @classmethod
    def from_blstats(cls, blstats: np.ndarray) -> Status:
        """Reads the fields from an NLE blstats vector."""
        b = blstats.tolist()
        return cls(
            depth=b[BL_DEPTH], gold=b[BL_GOLD], hp=b[BL_HP], max_hp=b[BL_HPMAX],
            xp_level=b[BL_XP], turn=b[BL_TIME], hunger=b[BL_HUNGER],
            dungeon_number=b[BL_DNUM], level_number=b[BL_DLEVEL], x=b[BL_X], y=b[BL_Y],
        )

    @property
    def hunger_name(self) -> str:
        """The hunger state as the status line words it ("Not hungry" where the line shows none)."""
        return HUNGER_NAMES[self.hunger] if 0 <= self.hunger < len(HUNGER_NAMES) else "?"


def status(obs: Observation) -> Status:
    """The `Status` of an observation."""
    return Status.from_blstats(obs["blstats"])


def hero_crop(obs: Observation, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A `size` x `size` window of the map (chars, colors) around the hero.

    The hero sits at row and column `size // 2` of the window: it shows map rows y - size//2 up to
    y - size//2 + size - 1, likewise for columns. Cells outside the map are blank: ' ', colour 0.
    """
    chars, colors = obs["chars"], obs["colors"]
    x = int(obs["blstats"][BL_X])
    y = int(obs["blstats"][BL_Y])
    rows, cols = chars.shape
    top, left = y - size // 2, x - size // 2
    out_chars = np.full((size, size), BLANK_CHAR, dtype=chars.dtype)
    out_colors = np.zeros((size, size), dtype=colors.dtype)
    r0, r1 = max(top, 0), min(top + size, rows)
    c0, c1 = max(left, 0), min(left + size, cols)
    if r0 < r1 and c0 < c1:
        out_chars[r0 - top: r1 - top, c0 - left: c1 - left] = chars[r0:r1, c0:c1]
        out_colors[r0 - top: r1 - top, c0 - left: c1 - left] = colors[r0:r1, c0:c1]
    return out_chars, out_colors


def near_hero(obs: Observation, char: str, color: int | None = None, radius: int = 3) -> bool:
    """Whether map symbol `char` (optionally in colour `color`) lies within the (2r+1)^2 window
    around the hero (radius 3: the 7x7 window of the Worshipper and Merchant preconditions)."""
    chars, colors = hero_crop(obs, 2 * radius + 1)
    hit = chars == ord(char)
    if color is not None:
        hit &= colors == color
    hit[radius, radius] = False  # the hero's own cell
    return bool(hit.any())


@dataclasses.dataclass(frozen=True)
class InventoryItem:
    """One inventory entry."""

    letter: str
    """The inventory letter that selects it in prompts."""
    name: str
    """NetHack's description, e.g. "an uncursed +1 robe (being worn)"."""
    glyph: int
    """The object glyph (its type as displayed; stable across identification and quantity)."""
    oclass: int
    """The object class (NetHack's *_CLASS constants)."""


def inventory(obs: Observation) -> list[InventoryItem]:
    """The inventory in display order."""
    items = []
    for letter, glyph, oclass, name in zip(
        obs["inv_letters"].tolist(), obs["inv_glyphs"].tolist(),
        obs["inv_oclasses"].tolist(), obs["inv_strs"],
    ):
        if letter == 0:
            break
        raw = name.tobytes()
        end = raw.find(b"\0")
        items.append(InventoryItem(
            letter=chr(letter), name=raw[: end if end >= 0 else len(raw)].decode("latin-1"),
            glyph=glyph, oclass=oclass,
        ))
    return items


class NewItemsTracker:
    """Which carried items are "new": not in the starting inventory, and not food or coins.

    `reset` records the starting inventory as (letter, object glyph) pairs; an item counts as new
    when its pair is not among them. Glyphs name the object type, so identification, curse status or
    quantity changes do not make a starting item new. Limitation: an item of the very same type that
    later lands on the letter a starting item had (after that one was dropped) counts as old.
    """

    def __init__(self) -> None:
        self._start: frozenset[tuple[int, int]] = frozenset()

    def reset(self, obs: Observation) -> None:
        """Records `obs`'s inventory as the starting inventory."""
        letters = obs["inv_letters"].tolist()
        glyphs = obs["inv_glyphs"].tolist()
        self._start = frozenset((letter, g) for letter, g in zip(letters, glyphs) if letter != 0)

    @property
    def starting(self) -> frozenset[tuple[int, int]]:
        """The starting inventory as (letter code, glyph) pairs."""
        return self._start

    def new_items(self, obs: Observation) -> list[InventoryItem]:
        """The new items carried now, in inventory order."""
        return [
            item for item in inventory(obs)
            if item.oclass not in EXCLUDED_NEW_ITEM_CLASSES
            and (ord(item.letter), item.glyph) not in self._start
        ]

    def has_new_items(self, obs: Observation) -> bool:
        """Whether any new item is carried (the Worshipper and Merchant precondition)."""
        return bool(self.new_items(obs))


# "What do you want to eat? [fg or ?*]": an item prompt, whose bracket lists the letters offered.
_ITEM_PROMPT = re.compile(r"\[([^\]]*?)(?: or \?\*| or \*|\?\*|\*)\]\s*$")


def item_prompt_letters(message: str) -> str | None:
    """The inventory letters an item prompt offers, in order ("" if it offers none); None when
    `message` is not an item prompt. Ranges such as "a-d" are expanded; '$' and '-' are skipped."""
    match = _ITEM_PROMPT.search(message)
    if match is None:
        return None
    spec = match.group(1)
    letters: list[str] = []
    i = 0
    while i < len(spec):
        ch = spec[i]
        if i + 2 < len(spec) and spec[i + 1] == "-" and spec[i + 2].isalpha() and ch.isalpha():
            letters.extend(chr(c) for c in range(ord(ch), ord(spec[i + 2]) + 1))
            i += 3
            continue
        if ch.isalpha():
            letters.append(ch)
        i += 1
    return "".join(letters)
