"""Skill rewards in the learner: the acting skill's reward model, batched on the learner's device.

    reward_t = shape_rewards(raw_skill(message_{t+1}, depth sign since the skill started), count)
               + extrinsic_coef * score change

The raw reward depends only on (skill, message, depth sign), and messages repeat heavily (most are
empty), so raw values are cached under that key: each distinct key goes through its reward model
once, in one batch per skill, through `RewardBundle.raw` (the bundle loader shared with the
reward-trainer). Shaping is `maestro_common.reward.shaping.shape_rewards` with the skill's
parameters from the bundle, called once per skill per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.reward.bundle import RewardBundle
from maestro_common.reward.model import encode_messages
from maestro_common.reward.shaping import shape_rewards

CACHE_LIMIT = 1_000_000
"""Cached raw rewards kept before the cache is emptied (bounded memory on long runs)."""


class SkillRewards:
    """Shaped rewards of transitions; `skill_names` gives the bundle skill of each skill index."""

    def __init__(self, bundle: RewardBundle, extrinsic_coef: float = 0.0, skill_names: Sequence[str] = SKILL_NAMES):
        self.bundle, self.extrinsic_coef = bundle, extrinsic_coef
        self.skill_names = tuple(skill_names)
        self._cache: dict[tuple[int, str, int], float] = {}
        self.hits = 0
        self.misses = 0

    def raw(self, skills: np.ndarray, messages: Sequence[str], signs: np.ndarray) -> np.ndarray:
        """Raw reward-model outputs [n] (float32); rows with skill -1 get 0."""
        n = len(messages)
        keys = list(zip(skills.tolist(), messages, signs.tolist()))
        out = np.zeros(n, dtype=np.float32)
        missing: dict[int, dict[tuple[str, int], None]] = {}
        for key in keys:
            if key[0] >= 0 and key not in self._cache:
                missing.setdefault(key[0], {})[(key[1], key[2])] = None
        if len(self._cache) > CACHE_LIMIT:
            self._cache.clear()
        for skill, entries in missing.items():
            unique = list(entries)
            tokens = encode_messages([message for message, _ in unique])
            unique_signs = torch.tensor([sign for _, sign in unique], dtype=torch.int8)
            values = self.bundle.raw(self.skill_names[skill], tokens, unique_signs)
            for (message, sign), value in zip(unique, values.tolist()):
                self._cache[(skill, message, sign)] = value
        missed = sum(len(entries) for entries in missing.values())
        self.misses += missed
        self.hits += int((skills >= 0).sum()) - missed
        for row, key in enumerate(keys):
            if key[0] >= 0:
                out[row] = self._cache[key]
        return out

    def shaped(self, skills: np.ndarray, raw: np.ndarray, counts: np.ndarray, score_deltas: np.ndarray) -> np.ndarray:
        """Shaped rewards [n] (float32) plus the weighted score change."""
        out = np.zeros(len(raw), dtype=np.float32)
        for skill in np.unique(skills).tolist():
            if skill < 0:
                continue
            rows = skills == skill
            params = self.bundle.metadata[self.skill_names[skill]].shaping
            out[rows] = shape_rewards(raw[rows], counts[rows], params)
        if self.extrinsic_coef:
            out += np.float32(self.extrinsic_coef) * score_deltas.astype(np.float32)
        return out

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
