"""Reward shaping at RL time: the ONE function that turns raw reward-model outputs into rewards.

    normalised = (raw - mean) / std                  mean/std over the deduplicated observations
    kept       = normalised if normalised > threshold else 0   threshold: a quantile of `normalised`
    shaped     = scale * kept / N(msg) ** beta       N: count of the current message in the episode,
                                                     over the last `MESSAGE_WINDOW` messages (>= 1)

The Score RPC and the skill-learner both call `shape_rewards`; `EpisodeMessageCounter` gives N
per environment.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MESSAGE_WINDOW = 20
"""Messages remembered per episode when counting repeats."""
DEFAULT_BETA = 3.0
"""Exponent of the repeat count: a message seen twice in the window earns 1/8 of the reward."""
DEFAULT_SCALE = 0.1
"""Multiplier applied last."""
MIN_STD = 1e-8
"""A smaller standard deviation is treated as this (a constant model does not divide by zero)."""


@dataclass(frozen=True)
class ShapingParams:
    """Everything `shape_rewards` needs for one skill; stored in the skill's bundle metadata."""

    mean: float
    std: float
    threshold: float
    """In normalised units: values at or below it become 0."""
    beta: float = DEFAULT_BETA
    scale: float = DEFAULT_SCALE


def shape_rewards(raw: np.ndarray | Sequence[float], message_counts: np.ndarray | Sequence[int],
                  params: ShapingParams) -> np.ndarray:
    """Shaped rewards (float32, same shape as `raw`); a count below 1 is taken as 1."""
    raw = np.asarray(raw, dtype=np.float64)
    counts = np.maximum(np.asarray(message_counts, dtype=np.float64), 1.0)
    if counts.shape != raw.shape:
        raise ValueError(f"message_counts has shape {counts.shape} but raw has {raw.shape}; give one count per value")
    normalised = (raw - params.mean) / max(params.std, MIN_STD)
    kept = np.where(normalised > params.threshold, normalised, 0.0)
    return (params.scale * kept / counts ** params.beta).astype(np.float32)


def normalise(raw: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(raw - mean) / std, with `MIN_STD` as the smallest std."""
    return (np.asarray(raw, dtype=np.float64) - mean) / max(std, MIN_STD)


class EpisodeMessageCounter:
    """Counts repeats of the current message among the last `window` messages of one episode.

    `observe(message)` adds the message and returns how often it occurs in the window now
    (so at least 1); `reset()` at each new episode.
    """

    def __init__(self, window: int = MESSAGE_WINDOW):
        if window < 1:
            raise ValueError(f"window must be at least 1 (got {window})")
        self.window = window
        self._recent: deque[str] = deque()
        self._counts: Counter[str] = Counter()

    def observe(self, message: str) -> int:
        self._recent.append(message)
        self._counts[message] += 1
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        return self._counts[message]

    def count(self, message: str) -> int:
        """How often `message` occurs in the window now (0 if absent), without adding it."""
        return self._counts.get(message, 0)

    def reset(self) -> None:
        self._recent.clear()
        self._counts.clear()

    def __len__(self) -> int:
        return len(self._recent)


QUANTILE_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
"""Quantiles recorded in every bundle (0.05 .. 0.95), plus the one chosen as the threshold."""


@dataclass(frozen=True)
class ShapingStats:
    """Normalisation and threshold fitted to the raw rewards of the deduplicated observations."""

    mean: float
    std: float
    quantiles: dict[str, float]
    """Quantile of the normalised rewards, keyed by the quantile written with 2-4 decimals ("0.85")."""
    threshold_quantile: float
    threshold: float


def quantile_key(q: float) -> str:
    return f"{q:.4f}".rstrip("0").rstrip(".") if q != int(q) else f"{q:.1f}"


def fit_shaping(raw_unique: np.ndarray | Sequence[float], threshold_quantile: float) -> ShapingStats:
    """Mean/std of `raw_unique` (one value per distinct observation) and quantiles of the normalised values."""
    raw = np.asarray(raw_unique, dtype=np.float64).reshape(-1)
    if raw.size == 0:
        raise ValueError("no observations to fit the shaping statistics on")
    if not 0.0 < threshold_quantile < 1.0:
        raise ValueError(f"threshold_quantile must lie in (0, 1) (got {threshold_quantile})")
    mean, std = float(raw.mean()), float(raw.std())
    normalised = normalise(raw, mean, std)
    grid = sorted(set(QUANTILE_GRID) | {threshold_quantile})
    values = np.quantile(normalised, grid)
    quantiles = {quantile_key(q): float(v) for q, v in zip(grid, values)}
    return ShapingStats(mean=mean, std=std, quantiles=quantiles, threshold_quantile=threshold_quantile,
                        threshold=quantiles[quantile_key(threshold_quantile)])
