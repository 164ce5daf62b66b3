"""`encode_observations`: the network's one input spec (see the package docstring for the arrays).

Fast numpy over a batch: the 12x12 crops are one fancy-index gather from the stacked, padded tty
screens; blstats go through one vectorised normalisation. The version string names exactly what the
network reads; bump it whenever anything here changes, and checkpoints made for another version are
refused by `load_checkpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from nle import nethack

from maestro_common.errors import InvalidArgument
from maestro_common.generated.contract import SKILL_NAMES

INPUT_SPEC_VERSION = "cdgpt5-ttycrop12-stats40-msg256-skill5-v1"
"""Names the encoding below; stored in every checkpoint."""

CROP_SIZE = 12
"""Characters per side of the crop around the hero (rendered at 6x6 pixels each: 72x72)."""
MESSAGE_LENGTH = nethack.NLE_MESSAGE_SIZE
"""Bytes of the message (NLE's 256)."""
NUM_BLSTATS = 27
"""NLE blstats entries."""
CONDITION_BITS: tuple[int, ...] = tuple(
    getattr(nethack, name) for name in (
        "BL_MASK_STONE", "BL_MASK_SLIME", "BL_MASK_STRNGL", "BL_MASK_FOODPOIS", "BL_MASK_TERMILL", "BL_MASK_BLIND",
        "BL_MASK_DEAF", "BL_MASK_STUN", "BL_MASK_CONF", "BL_MASK_HALLU", "BL_MASK_LEV", "BL_MASK_FLY", "BL_MASK_RIDE",
    )
)
"""The status-condition flags of blstats[25], one input each."""
NUM_STATS = NUM_BLSTATS + len(CONDITION_BITS)
"""Length of the "stats" vector."""
NUM_SKILLS = len(SKILL_NAMES)
"""Length of the skill one-hot."""
INPUT_KEYS: tuple[str, ...] = ("crop_chars", "crop_colors", "stats", "message", "skill")
"""The arrays `encode_observations` returns."""

# blstats normalisation: value * scale after the transform of its kind (linear, log1p, ratio).
# Index: 0 x, 1 y, 2 str, 3 str%, 4 dex, 5 con, 6 int, 7 wis, 8 cha, 9 score, 10 hp, 11 hpmax,
# 12 depth, 13 gold, 14 energy, 15 energymax, 16 AC, 17 monster level, 18 XP level, 19 XP points,
# 20 time, 21 hunger, 22 encumbrance, 23 dungeon, 24 level in dungeon, 25 condition, 26 alignment.
STAT_SCALES = np.array([
    1 / 79, 1 / 21, 1 / 25, 1 / 125, 1 / 25, 1 / 25, 1 / 25, 1 / 25, 1 / 25,
    1 / 10, 1.0, 1 / 6,
    0.0,  # depth: weight 0, as in the reference (the skill reward carries the depth change)
    1 / 8, 1.0, 1 / 6, 1 / 20, 1 / 30, 1 / 30, 1 / 12,
    1 / 10, 1 / 6, 1 / 5, 1 / 8, 1 / 50,
    0.0,  # condition: given as separate bits
    1.0,
], dtype=np.float32)
"""Multiplier per blstats entry, applied after `_LOG_STATS` (log1p) and the hp / energy ratios."""
_LOG_STATS = np.array([9, 11, 13, 15, 19, 20])
_BL_HP, _BL_HPMAX, _BL_ENERGY, _BL_ENERGYMAX, _BL_AC, _BL_CONDITION, _BL_ALIGN = 10, 11, 14, 15, 16, 25, 26
_PAD = CROP_SIZE // 2
_OFFSETS = np.arange(CROP_SIZE) - CROP_SIZE // 2


def normalise_blstats(blstats: np.ndarray) -> np.ndarray:
    """float32 [N, NUM_STATS] from int blstats [N, 27]: scaled stats then condition bits."""
    raw = blstats.astype(np.float32)
    out = raw.copy()
    out[:, _LOG_STATS] = np.log1p(np.maximum(raw[:, _LOG_STATS], 0.0))
    out[:, _BL_HP] = raw[:, _BL_HP] / np.maximum(raw[:, _BL_HPMAX], 1.0)
    out[:, _BL_ENERGY] = raw[:, _BL_ENERGY] / np.maximum(raw[:, _BL_ENERGYMAX], 1.0)
    out[:, _BL_AC] = 10.0 - raw[:, _BL_AC]
    out[:, _BL_ALIGN] = np.sign(raw[:, _BL_ALIGN])
    out *= STAT_SCALES
    condition = blstats[:, _BL_CONDITION].astype(np.int64)
    bits = np.stack([(condition & mask) != 0 for mask in CONDITION_BITS], axis=1).astype(np.float32)
    return np.concatenate([out, bits], axis=1)


def crop_tty(tty_chars: np.ndarray, tty_colors: np.ndarray, hero_x: np.ndarray, hero_y: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """The CROP_SIZE^2 windows of stacked tty screens [N, 24, 80] around map cells (x, y) (tty row y + 1)."""
    n = tty_chars.shape[0]
    chars = np.pad(tty_chars, ((0, 0), (_PAD, _PAD), (_PAD, _PAD)), constant_values=ord(" "))
    colors = np.pad(tty_colors, ((0, 0), (_PAD, _PAD), (_PAD, _PAD)), constant_values=0)
    rows = (hero_y + 1 + _PAD)[:, None] + _OFFSETS[None, :]
    cols = (hero_x + _PAD)[:, None] + _OFFSETS[None, :]
    index = (np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :])
    return chars[index].astype(np.uint8), np.clip(colors[index], 0, 15).astype(np.uint8)


def encode_observations(obs_list: Sequence[Mapping[str, np.ndarray]], skill_indices: Sequence[int] | np.ndarray
                        ) -> dict[str, np.ndarray]:
    """The network inputs of N observations with their active skills (package docstring: shapes, dtypes)."""
    n = len(obs_list)
    skills = np.asarray(skill_indices, dtype=np.int64).reshape(-1)
    if skills.shape[0] != n:
        raise InvalidArgument("skill_indices", f"got {skills.shape[0]} skill indices for {n} observations")
    if n and (skills.min() < 0 or skills.max() >= NUM_SKILLS):
        raise InvalidArgument("skill_indices", f"must be in [0, {NUM_SKILLS}), got {skills.tolist()}")
    if n == 0:
        return {"crop_chars": np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8),
                "crop_colors": np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8),
                "stats": np.zeros((0, NUM_STATS), np.float32), "message": np.zeros((0, MESSAGE_LENGTH), np.uint8),
                "skill": skills}
    blstats = np.stack([obs["blstats"] for obs in obs_list])
    hero_x = blstats[:, nethack.NLE_BL_X].astype(np.int64)
    hero_y = blstats[:, nethack.NLE_BL_Y].astype(np.int64)
    chars, colors = crop_tty(np.stack([obs["tty_chars"] for obs in obs_list]),
                             np.stack([obs["tty_colors"] for obs in obs_list]), hero_x, hero_y)
    message = np.stack([obs["message"] for obs in obs_list]).astype(np.uint8)
    return {"crop_chars": chars, "crop_colors": colors, "stats": normalise_blstats(blstats), "message": message,
            "skill": skills}
