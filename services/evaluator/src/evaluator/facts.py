"""Game facts the task detectors read, taken from real NetHack state one observation at a time.

`FactsTracker` is fed the first observation of an episode (`reset`) and then, after every env
step, the observation, the action that was played and whether the game ended (`update`). It keeps
what the detectors need and nothing the game does not show:

- status: depth, dungeon number and level number within the branch, gold, XP level and points,
  hunger state, hit points, turn and status conditions, straight from blstats (NLE_BL_* indices).
- per level (keyed by dungeon number and level number), a `LevelMemory`: where altars were seen
  (an altar under the hero is hidden by the hero's glyph, so positions are remembered), whether
  the Oracle level was recognised, and which Minetown evidence was seen.
- the Oracle level is recognised when the Oracle herself is on the map (monster glyph of
  PM_ORACLE; she is unique, never moves and is only ever generated on that level), when Delphi's
  four fountains are seen in their diamond around her, or from the game's greeting "welcome to
  Delphi". Never while hallucinating (glyphs are then random).
- Minetown is recognised on a Gnomish Mines level above Mines' End (level number < 8) from things
  that only the town has in the Mines: the watch (watchman, watch captain), a shopkeeper, a temple
  priest, an altar, a fountain, or the temple's greeting. Mines filler levels have none of them;
  Orcish Town (a Minetown variant) still has its altar.
- kills: the experience-point counter (blstats 19) rises in NetHack's `xkilled` for every kill,
  whether or not the kill message reached the observation (the env dismisses --More-- itself);
  a step counts max(kill messages shown, 1 if experience rose).
- sales: "You sold ..." messages; or, when that message was lost behind --More--, a sell offer of
  N gold ("... offers N gold pieces for your X.  Sell it?") followed on the next step by a gold
  increase of exactly N.
- price identification: every shopkeeper sell offer or buy quote naming an unidentified item
  (its name carries an appearance from NetHack's object table, e.g. "bubbly potion",
  "scroll labeled ZELGO MER"), counted once per distinct item name.
- altar drops: the drop action removed an item from the inventory while the hero stood on a
  remembered altar and was not blind: NetHack's `doaltarobj` then sets the item's B/U/C as known.
  Counted once per item (inventory letter and object glyph) whose B/U/C was not already shown.
- the observation after the game ended (blstats all zero) repeats the last live facts.
- eating: an eat action that consumed a food item (its count in the inventory fell), or a
  "You finish eating" message, or the hunger state falling (Hungry -> Not hungry).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from nle import nethack

from maestro_common.nethack.actions import ACTION_NAMES
from maestro_common.nethack.features import (
    BL_DEPTH,
    BL_DLEVEL,
    BL_DNUM,
    BL_GOLD,
    BL_HP,
    BL_HUNGER,
    BL_TIME,
    BL_X,
    BL_XP,
    BL_Y,
    GNOMISH_MINES,
    inventory,
    message_text,
)

Observation = Mapping[str, np.ndarray]

OBSERVATION_KEYS: tuple[str, ...] = ("glyphs", "blstats", "message", "inv_glyphs", "inv_letters", "inv_oclasses",
                                     "inv_strs")
"""NLE observation arrays the facts are read from (the env must return them)."""

BL_EXP = nethack.NLE_BL_EXP
BL_CONDITION = nethack.NLE_BL_CONDITION
HUNGRY = 2
"""blstats hunger state "Hungry" (0 Satiated, 1 Not hungry, 2 Hungry, 3 Weak, ...)."""
MINES_END_LEVEL = 8
"""Mines' End is the Mines' 8th or 9th level: Minetown evidence counts only above it."""


def _monster_index(name: str) -> int:
    for index in range(nethack.NUMMONS):
        if nethack.permonst(index).mname == name:
            return index
    raise LookupError(f"no monster {name!r} in this nle")


def _cmap_index(explanation: str) -> int:
    for index in range(nethack.MAXPCHARS):
        if nethack.symdef.from_idx(index).explanation == explanation:
            return index
    raise LookupError(f"no map symbol {explanation!r} in this nle")


_MONSTER_OFFSETS = (nethack.GLYPH_MON_OFF, nethack.GLYPH_PET_OFF, nethack.GLYPH_DETECT_OFF, nethack.GLYPH_RIDDEN_OFF)


def monster_glyphs(name: str) -> frozenset[int]:
    """Every map glyph that shows monster `name` (normal, tame, detected, ridden); not corpses or statues."""
    index = _monster_index(name)
    return frozenset(offset + index for offset in _MONSTER_OFFSETS)


ORACLE_GLYPHS = monster_glyphs("Oracle")
TOWN_MONSTERS = ("watchman", "watch captain", "shopkeeper", "aligned priest")
"""Monsters that, in the Gnomish Mines, only Minetown has."""
TOWN_MONSTER_GLYPHS: dict[int, str] = {glyph: name for name in TOWN_MONSTERS for glyph in monster_glyphs(name)}
ALTAR_GLYPH = nethack.GLYPH_CMAP_OFF + _cmap_index("altar")
FOUNTAIN_GLYPH = nethack.GLYPH_CMAP_OFF + _cmap_index("fountain")

DROP_ACTION = ACTION_NAMES.index("drop")
EAT_ACTION = ACTION_NAMES.index("eat")

_DELPHI_GREETING = re.compile(r"welcome to Delphi", re.I)
_TEMPLE_MESSAGE = re.compile(r"you enter a sacred place|You have a forbidding feeling|strange sense of peace", re.I)
_SOLD = re.compile(r"\bYou sold\b")
_SELL_OFFER = re.compile(r"offers(?: only)? (\d+) gold pieces? for (?:your items in |the contents of )?"
                         r"(?:your|the) (.+?)\.\s+Sell (?:it|them)\?")
_BUY_QUOTE = re.compile(r"only (\d+) (?:zorkmids?|gold pieces?) for (?:this|these|the) (.+?)\.")
_KILL = re.compile(r"\bYou (?:kill|destroy) [^!]*!")
_FINISH_EATING = re.compile(r"You finish eating|You're having a hard time getting all of it down|This food really "
                            r"hits the spot")
_BUC_WORD = re.compile(r"\b(?:uncursed|cursed|blessed)\b")
_IDENTIFIED = re.compile(r"\b(?:potion|scroll|wand|ring|amulet|spellbook)s? of\b")

# Object classes whose items can be unidentified by appearance.
_APPEARANCE_CLASSES = {nethack.POTION_CLASS, nethack.SCROLL_CLASS, nethack.WAND_CLASS, nethack.RING_CLASS,
                       nethack.AMULET_CLASS, nethack.SPBOOK_CLASS, nethack.GEM_CLASS, nethack.ARMOR_CLASS,
                       nethack.TOOL_CLASS}


def _appearances() -> tuple[str, ...]:
    names = set()
    for index in range(nethack.NUM_OBJECTS):
        klass = nethack.objclass(index)
        if ord(klass.oc_class) not in _APPEARANCE_CLASSES:
            continue
        descr = nethack.objdescr.from_idx(index).oc_descr
        if descr:
            names.add(descr)
    return tuple(sorted(names, key=len, reverse=True))


APPEARANCES = _appearances()
"""Appearance names of NetHack's objects ("bubbly", "ZELGO MER", "oak", ...), longest first."""
_APPEARANCE = re.compile(r"\b(?:" + "|".join(re.escape(a) for a in APPEARANCES) + r")\b")


def is_unidentified(item_name: str) -> bool:
    """Whether an item name shows an appearance rather than the object's identity ("bubbly potion")."""
    if _IDENTIFIED.search(item_name) or " called " in item_name or " named " in item_name:
        return False
    return "labeled" in item_name or bool(_APPEARANCE.search(item_name))


def _normalise_item(name: str) -> str:
    """An item name without count, article and B/U/C, so one item offered twice counts once."""
    name = re.sub(r"^(?:an?|the|\d+)\s+", "", name.strip())
    return _BUC_WORD.sub("", name).replace("  ", " ").strip()


@dataclass
class LevelMemory:
    """What was seen on one level (dungeon number, level number) during the episode."""

    altars: set[tuple[int, int]] = field(default_factory=set)
    """(row, col) of altars seen."""
    fountains: set[tuple[int, int]] = field(default_factory=set)
    """(row, col) of fountains seen."""
    oracle: bool = False
    """The Oracle level was recognised here."""
    town_evidence: set[str] = field(default_factory=set)
    """Minetown evidence seen here ("watchman", "altar", "temple message", ...)."""


@dataclass(frozen=True)
class StepFacts:
    """The facts of one observation (cumulative counts are over the episode so far)."""

    step: int
    depth: int
    dungeon_number: int
    level_number: int
    gold: int
    xp_level: int
    hunger: int
    hp: int
    turn: int
    on_oracle_level: bool
    in_minetown: bool
    kills: int
    sales: int
    price_identified: int
    buc_identified: int
    ate: bool
    """An eating event happened at this step."""
    new_items: int
    shopkeeper_seen: bool
    """A shopkeeper was seen at some time in the episode."""
    altar_seen: bool
    sell_offered: bool
    """A shopkeeper offered to buy an item at some time in the episode."""
    downstairs_max: int
    """Most down staircases seen on one level (2 = the Mines branch staircase was found)."""


def _positions(glyphs: np.ndarray, glyph: int) -> set[tuple[int, int]]:
    rows, cols = np.nonzero(glyphs == glyph)
    return set(zip(rows.tolist(), cols.tolist()))


def _has_delphi_fountains(fountains: set[tuple[int, int]]) -> bool:
    """Four fountains in a diamond (N, S, E, W of one cell): Delphi's layout around the Oracle."""
    for row, col in fountains:
        if {(row + 2, col), (row + 1, col - 1), (row + 1, col + 1)} <= fountains:
            return True
    return False


DOWNSTAIRS_GLYPH = nethack.GLYPH_CMAP_OFF + _cmap_index("staircase down")
SHOPKEEPER_GLYPHS = monster_glyphs("shopkeeper")


class FactsTracker:
    """Follows one episode; see the module docstring for how each fact is read."""

    def __init__(self) -> None:
        self.levels: dict[tuple[int, int], LevelMemory] = {}
        self._start_items: frozenset[tuple[int, int]] = frozenset()
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.levels.clear()
        self.step = 0
        self.kills = 0
        self.sales = 0
        self.price_identified: set[str] = set()
        self.buc_identified: set[tuple[str, int]] = set()
        self.shopkeeper_seen = False
        self.altar_seen = False
        self.sell_offered = False
        self.downstairs: dict[tuple[int, int], set[tuple[int, int]]] = {}
        self._exp = 0
        self._hunger = 0
        self._gold = 0
        self._offer: int | None = None
        self._stairs_max = 0
        self._inventory: dict[tuple[str, int], tuple[str, int]] = {}
        self._inventory_key = b""
        self.last: StepFacts | None = None

    # -- feeding ----------------------------------------------------------------------------------

    def reset(self, obs: Observation) -> StepFacts:
        """The first observation of an episode."""
        self._reset_counters()
        self._inventory_key = b""
        self._start_items = frozenset((ord(i.letter), i.glyph) for i in inventory(obs))
        blstats = obs["blstats"]
        self._exp, self._hunger, self._gold = int(blstats[BL_EXP]), int(blstats[BL_HUNGER]), int(blstats[BL_GOLD])
        self._inventory = self._read_inventory(obs)
        return self._observe(obs, action=None)

    def update(self, obs: Observation, action: int | None) -> StepFacts:
        """The observation after playing `action` (an index into the env's action set; None: no agent action)."""
        self.step += 1
        return self._observe(obs, action)

    # -- reading ----------------------------------------------------------------------------------

    def _read_inventory(self, obs: Observation) -> dict[tuple[str, int], tuple[str, int]]:
        """(letter, glyph) -> (name, object class); parsed again only when the inventory arrays changed."""
        key = obs["inv_strs"].tobytes() + obs["inv_glyphs"].tobytes()
        if key != self._inventory_key:
            self._inventory_key = key
            self._parsed = {(item.letter, item.glyph): (item.name, item.oclass) for item in inventory(obs)}
        return self._parsed

    def _observe(self, obs: Observation, action: int | None) -> StepFacts:
        blstats = obs["blstats"]
        if self.last is not None and int(blstats[BL_DEPTH]) == 0:
            # the game is over: NLE's last observation has empty status; keep the last live facts
            self.last = dataclasses.replace(self.last, step=self.step, ate=False)
            return self.last
        message = message_text(obs)
        glyphs = obs["glyphs"]
        key = (int(blstats[BL_DNUM]), int(blstats[BL_DLEVEL]))
        level = self.levels.setdefault(key, LevelMemory())
        condition = int(blstats[BL_CONDITION])
        hallucinating = bool(condition & nethack.BL_MASK_HALLU)
        blind = bool(condition & nethack.BL_MASK_BLIND)
        hero = (int(blstats[BL_Y]), int(blstats[BL_X]))

        shown = set(np.unique(glyphs).tolist())
        if ALTAR_GLYPH in shown:
            level.altars |= _positions(glyphs, ALTAR_GLYPH)
            self.altar_seen = True
        if FOUNTAIN_GLYPH in shown:
            level.fountains |= _positions(glyphs, FOUNTAIN_GLYPH)
        stairs = self.downstairs.setdefault(key, set())
        if DOWNSTAIRS_GLYPH in shown:
            stairs.update(_positions(glyphs, DOWNSTAIRS_GLYPH))
        self.shopkeeper_seen |= bool(shown & SHOPKEEPER_GLYPHS) and not hallucinating

        if not hallucinating and (shown & ORACLE_GLYPHS or _has_delphi_fountains(level.fountains)):
            level.oracle = True
        if _DELPHI_GREETING.search(message):
            level.oracle = True
        if key[0] == GNOMISH_MINES and key[1] < MINES_END_LEVEL:
            if not hallucinating:
                level.town_evidence.update(TOWN_MONSTER_GLYPHS[g] for g in shown & TOWN_MONSTER_GLYPHS.keys())
            if level.altars:
                level.town_evidence.add("altar")
            if level.fountains:
                level.town_evidence.add("fountain")
            if _TEMPLE_MESSAGE.search(message):
                level.town_evidence.add("temple message")

        # kills: experience points rise at every kill; messages may show several in one step
        exp = int(blstats[BL_EXP])
        self.kills += max(len(_KILL.findall(message)), 1 if exp > self._exp else 0)
        self._exp = exp

        # sales and price identification
        gold = int(blstats[BL_GOLD])
        if _SOLD.search(message) or (self._offer and gold - self._gold == self._offer):
            self.sales += 1
        offer = _SELL_OFFER.search(message)
        self._offer = int(offer.group(1)) if offer else None
        self.sell_offered |= offer is not None
        for match in (offer, _BUY_QUOTE.search(message)):
            if match and is_unidentified(match.group(2)):
                self.price_identified.add(_normalise_item(match.group(2)))
        self._gold = gold

        # altar drops and eating: compare the inventory before and after the action
        items = self._read_inventory(obs)
        if action == DROP_ACTION and hero in level.altars and not blind:
            for item_key, (name, _oclass) in self._inventory.items():
                gone = item_key not in items
                if gone and (ord(item_key[0]), item_key[1]) not in self._start_items and not _BUC_WORD.search(name):
                    self.buc_identified.add(item_key)
        ate = bool(_FINISH_EATING.search(message))
        if action == EAT_ACTION:
            ate |= _food_count(self._inventory) > _food_count(items)
        hunger = int(blstats[BL_HUNGER])
        ate |= self._hunger >= HUNGRY > hunger
        self._hunger = hunger
        self._inventory = items

        new_items = sum(1 for (letter, glyph), (_n, oclass) in items.items()
                        if oclass not in (nethack.FOOD_CLASS, nethack.COIN_CLASS)
                        and (ord(letter), glyph) not in self._start_items)
        facts = StepFacts(
            step=self.step, depth=int(blstats[BL_DEPTH]), dungeon_number=key[0], level_number=key[1], gold=gold,
            xp_level=int(blstats[BL_XP]), hunger=hunger, hp=int(blstats[BL_HP]), turn=int(blstats[BL_TIME]),
            on_oracle_level=level.oracle, in_minetown=bool(level.town_evidence), kills=self.kills, sales=self.sales,
            price_identified=len(self.price_identified), buc_identified=len(self.buc_identified), ate=ate,
            new_items=new_items, shopkeeper_seen=self.shopkeeper_seen, altar_seen=self.altar_seen,
            sell_offered=self.sell_offered, downstairs_max=self._downstairs_max(stairs),
        )
        self.last = facts
        return facts

    def _downstairs_max(self, current: set[tuple[int, int]]) -> int:
        """Most down staircases seen on one level so far (the current level's count only grows)."""
        self._stairs_max = max(self._stairs_max, len(current))
        return self._stairs_max


def _food_count(items: dict[tuple[str, int], tuple[str, int]]) -> int:
    """Food items carried, counting stacks by the number in their name ("2 apples")."""
    total = 0
    for name, oclass in items.values():
        if oclass == nethack.FOOD_CLASS:
            match = re.match(r"(\d+) ", name)
            total += int(match.group(1)) if match else 1
    return total
