"""`GameTracker`: the exact `Snapshot` / `SkillContext` of a running episode, from NLE observations.

How each field is read (MaestroEnv observations; blstats indices are nle's NLE_BL_* constants):
- depth (12), gold (13), xp_level (18), turn (20), hunger (21), dungeon_number (23), level_number
  (24), hp (10), max_hp (11) straight from blstats. branch: dungeon number 0 = "Dungeons of Doom",
  2 = "Gnomish Mines", anything else "other". hunger uses the contract's words ("Not Hungry", ...).
- kills: the game's own experience-point counter (blstats 19) is the primary signal: NetHack raises
  it in `xkilled` by at least 1 for every monster the hero kills, however the kill message was
  shown; MaestroEnv dismisses --More-- itself, so a kill message followed by another message never
  reaches the observation, while the counter always does. Messages are the second signal: a step
  counts max(number of "You kill ...!" / "You destroy ...!" in the message, 1 if experience rose),
  so several kills in one step are not undercounted when their messages do show. Known limit:
  experience also rises without a kill on a level gain from a potion or a wraith corpse (rare).
- new_items: the env's `NewItemsTracker` (items not in the starting inventory, food and coins
  excluded).
- downstairs_seen: map positions of the current level whose glyph was ever a down staircase
  (cmap S_dnstair) since the hero arrived; the set is emptied when (dungeon number, level number)
  changes. A staircase hidden under a monster or an object after it was seen stays counted.
- merchant_precondition: a shopkeeper (monster glyph of PM_SHOPKEEPER, pet / detected / ridden
  variants included; corpses and statues excluded) on the map within the 7x7 window around the hero
  (Chebyshev distance <= 3) AND new items carried. Glyphs, not characters: an '@' human is not one.
- worshipper_precondition: an altar (cmap S_altar, any alignment) within that window AND new items.
  Altar positions are remembered per level like staircases, so an altar under the hero (hidden by
  the hero's own glyph) still counts once it was seen; an '_' iron chain is an object glyph and is
  never taken for an altar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from nle import nethack

from maestro_common.errors import FailedPrecondition
from maestro_common.generated.contract import SkillContext, Snapshot
from maestro_common.nethack.features import (
    BL_DEPTH,
    BL_DLEVEL,
    BL_DNUM,
    BL_GOLD,
    BL_HP,
    BL_HPMAX,
    BL_HUNGER,
    BL_TIME,
    BL_X,
    BL_XP,
    BL_Y,
    DUNGEONS_OF_DOOM,
    GNOMISH_MINES,
    NewItemsTracker,
    message_text,
)

Observation = Mapping[str, np.ndarray]

BL_EXP = nethack.NLE_BL_EXP
"""blstats index of experience points."""

HUNGER_NAMES: tuple[str, ...] = ("Satiated", "Not Hungry", "Hungry", "Weak", "Fainting", "Fainted", "Starved")
"""Snapshot.hunger by blstats hunger state (0..6), in the contract's words."""

PRECONDITION_RADIUS = 3
"""Chebyshev radius of the 7x7 window of the Merchant and Worshipper preconditions."""


def _cmap_index(explanation: str) -> int:
    """The cmap symbol index whose description is `explanation` (looked up in nle, never hard-coded)."""
    for index in range(nethack.MAXPCHARS):
        if nethack.symdef.from_idx(index).explanation == explanation:
            return index
    raise LookupError(f"no cmap symbol {explanation!r} in this nle")


def _monster_index(name: str) -> int:
    """The permonst index of monster `name`."""
    for index in range(nethack.NUMMONS):
        if nethack.permonst(index).mname == name:
            return index
    raise LookupError(f"no monster {name!r} in this nle")


DOWNSTAIRS_GLYPH = nethack.GLYPH_CMAP_OFF + _cmap_index("staircase down")
"""Glyph of a down staircase."""
ALTAR_GLYPH = nethack.GLYPH_CMAP_OFF + _cmap_index("altar")
"""Glyph of an altar (all alignments share it)."""
PM_SHOPKEEPER = _monster_index("shopkeeper")
"""permonst index of the shopkeeper."""
SHOPKEEPER_GLYPHS: frozenset[int] = frozenset(
    offset + PM_SHOPKEEPER
    for offset in (nethack.GLYPH_MON_OFF, nethack.GLYPH_PET_OFF, nethack.GLYPH_DETECT_OFF, nethack.GLYPH_RIDDEN_OFF)
)
"""Map glyphs that show a shopkeeper (normal, tame, detected, ridden)."""
_IS_SHOPKEEPER = np.zeros(nethack.MAX_GLYPH + 1, dtype=bool)
_IS_SHOPKEEPER[list(SHOPKEEPER_GLYPHS)] = True

_KILL_MESSAGE = re.compile(r"\bYou (?:kill|destroy) [^!]*!")
_BRANCHES = {DUNGEONS_OF_DOOM: "Dungeons of Doom", GNOMISH_MINES: "Gnomish Mines"}


def count_kill_messages(message: str) -> int:
    """How many "You kill ...!" / "You destroy ...!" (NetHack's `xkilled` wording) `message` holds."""
    return len(_KILL_MESSAGE.findall(message))


def branch_name(dungeon_number: int) -> str:
    """Snapshot.branch for a dungeon number."""
    return _BRANCHES.get(dungeon_number, "other")


def _positions(glyphs: np.ndarray, glyph: int) -> list[tuple[int, int]]:
    """(row, col) of every map cell showing `glyph`."""
    mask = glyphs == glyph
    if not mask.any():
        return []
    rows, cols = np.nonzero(mask)
    return list(zip(rows.tolist(), cols.tolist()))


class GameTracker:
    """Follows one episode observation by observation; see the module docstring for each field."""

    def __init__(self, new_items_tracker: NewItemsTracker | None = None):
        self._owns_items = new_items_tracker is None
        self._items = new_items_tracker or NewItemsTracker()
        self._started = False
        self._kills = 0
        self._exp = 0
        self._level: tuple[int, int] = (-1, -1)
        self._downstairs: set[tuple[int, int]] = set()
        self._altars: set[tuple[int, int]] = set()
        self._snapshot: Snapshot | None = None
        self._message = ""
        self._new_items = 0
        self._inventory_key = b""
        self._shopkeeper_near = False
        self._altar_near = False

    # -- feeding ----------------------------------------------------------------------------------

    def reset(self, obs: Observation) -> None:
        """Starts an episode at its first observation (resets the own new-items tracker, if any)."""
        if self._owns_items:
            self._items.reset(obs)
        self._started = True
        self._kills = 0
        self._exp = int(obs["blstats"][BL_EXP])
        self._level = (-1, -1)
        self._inventory_key = b""
        self._read(obs)

    def update(self, obs: Observation) -> None:
        """Reads the observation after an env step."""
        if not self._started:
            raise FailedPrecondition("GameTracker.update before reset: call reset(first observation)")
        exp = int(obs["blstats"][BL_EXP])
        kills = count_kill_messages(message_text(obs))
        if exp > self._exp:
            kills = max(kills, 1)
        self._exp = exp
        self._kills += kills
        self._read(obs)

    def _read(self, obs: Observation) -> None:
        b = obs["blstats"].tolist()
        level = (b[BL_DNUM], b[BL_DLEVEL])
        if level != self._level:
            self._level = level
            self._downstairs = set()
            self._altars = set()
        glyphs = obs["glyphs"]
        self._downstairs.update(_positions(glyphs, DOWNSTAIRS_GLYPH))
        self._altars.update(_positions(glyphs, ALTAR_GLYPH))
        x, y = b[BL_X], b[BL_Y]
        r = PRECONDITION_RADIUS
        window = glyphs[max(y - r, 0): y + r + 1, max(x - r, 0): x + r + 1]
        self._shopkeeper_near = bool(_IS_SHOPKEEPER[window].any())
        self._altar_near = any(abs(row - y) <= r and abs(col - x) <= r for row, col in self._altars)
        inventory_key = obs["inv_letters"].tobytes() + obs["inv_glyphs"].tobytes()
        if inventory_key != self._inventory_key:  # parsing the inventory is the costly part: only on change
            self._inventory_key = inventory_key
            self._new_items = len(self._items.new_items(obs))
        self._message = message_text(obs)
        hunger = b[BL_HUNGER]
        self._snapshot = Snapshot(
            depth=b[BL_DEPTH], dungeon_number=b[BL_DNUM], branch=branch_name(b[BL_DNUM]), level_number=b[BL_DLEVEL],
            turn=b[BL_TIME], gold=b[BL_GOLD], xp_level=b[BL_XP], hp=b[BL_HP], max_hp=b[BL_HPMAX],
            hunger=HUNGER_NAMES[hunger] if 0 <= hunger < len(HUNGER_NAMES) else "Not Hungry",
            kills=self._kills, new_items=self._new_items,
        )

    # -- reading ----------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The game state at the last observation."""
        if self._snapshot is None:
            raise FailedPrecondition("GameTracker has no observation yet: call reset(first observation)")
        return self._snapshot

    @property
    def message(self) -> str:
        """The top-line message of the last observation ("" when none)."""
        return self._message

    @property
    def kills(self) -> int:
        """Monsters killed by the hero so far in the episode."""
        return self._kills

    @property
    def new_items(self) -> int:
        """New items carried at the last observation."""
        return self._new_items

    @property
    def downstairs_seen(self) -> int:
        """Down staircases seen on the current level."""
        return len(self._downstairs)

    @property
    def shopkeeper_near(self) -> bool:
        """A shopkeeper within the 7x7 window around the hero (items not considered)."""
        return self._shopkeeper_near

    @property
    def altar_near(self) -> bool:
        """A (seen) altar within the 7x7 window around the hero (items not considered)."""
        return self._altar_near

    @property
    def merchant_precondition(self) -> bool:
        """Shopkeeper within the 7x7 window AND new items carried."""
        return self._shopkeeper_near and self._new_items > 0

    @property
    def worshipper_precondition(self) -> bool:
        """Altar within the 7x7 window AND new items carried."""
        return self._altar_near and self._new_items > 0

    def context(self, at_skill_start: Snapshot | None, active_skill: str, skill_turns: int,
                random: float) -> SkillContext:
        """The SkillContext now, for a skill started at `at_skill_start` (None: now)."""
        now = self.snapshot()
        start = at_skill_start or now
        return SkillContext(
            now=now, at_skill_start=start, turns_since_skill_start=now.turn - start.turn, message=self._message,
            merchant_precondition=self.merchant_precondition, worshipper_precondition=self.worshipper_precondition,
            downstairs_seen=self.downstairs_seen, active_skill=active_skill, skill_turns=skill_turns,
            random=float(random),
        )
