"""Simple policies over the 28 macro actions, used to collect observations for annotation."""

from __future__ import annotations

import random
from collections.abc import Mapping
from itertools import accumulate

import numpy as np

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.actions import NUM_ACTIONS, Action

# Relative weights of the random policy. Movement dominates so that the hero walks through rooms
# and corridors instead of standing still (uniform choice over 28 actions spends ~40% of its steps
# on searching, waiting and menus); the far moves cover ground quickly; '>' is favoured over '<' so
# that some episodes reach deeper levels; praying is rare because a god angered by frequent prayer
# ends most games early. Every action keeps a non-zero weight so the data shows all of them.
RANDOM_POLICY_WEIGHTS: Mapping[Action, float] = {
    Action.MORE: 1.0,
    **{a: 6.0 for a in (Action.N, Action.E, Action.S, Action.W,
                        Action.NE, Action.SE, Action.SW, Action.NW)},
    **{a: 2.5 for a in (Action.FAR_N, Action.FAR_E, Action.FAR_S, Action.FAR_W,
                        Action.FAR_NE, Action.FAR_SE, Action.FAR_SW, Action.FAR_NW)},
    Action.UP: 0.5,
    Action.DOWN: 3.0,
    Action.WAIT: 0.5,
    Action.KICK: 0.5,
    Action.EAT: 0.5,
    Action.SEARCH: 2.0,
    Action.CAST: 0.3,
    Action.ENHANCE: 0.3,
    Action.PRAY: 0.05,
    Action.QUAFF: 0.3,
    Action.DROP: 1.0,
}


class RandomMacroPolicy:
    """Chooses among the 28 actions at random with `RANDOM_POLICY_WEIGHTS`; the sequence of
    choices depends only on `seed` (the observation is ignored).

    Games end early often: monsters kill a hero that does not aim its attacks, and a random answer
    to "Continue eating?" once satiated chokes it. Such endings are part of the data."""

    def __init__(self, seed: int, weights: Mapping[Action, float] = RANDOM_POLICY_WEIGHTS):
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise InvalidArgument("weights", "weights must be non-negative and not all zero")
        self._rng = random.Random(seed)
        self._actions = list(range(NUM_ACTIONS))
        self._cum_weights = list(accumulate(weights.get(Action(i), 0.0) for i in self._actions))

    def act(self, obs: Mapping[str, np.ndarray] | None = None) -> int:
        """The next action index."""
        return self._rng.choices(self._actions, cum_weights=self._cum_weights)[0]


POLICY_NAMES: tuple[str, ...] = ("random",)


def make_policy(name: str, seed: int) -> RandomMacroPolicy:
    """The policy called `name`, seeded with `seed`."""
    if name == "random":
        return RandomMacroPolicy(seed)
    raise InvalidArgument(
        "policy_name", f"unknown policy {name!r}; valid: {', '.join(POLICY_NAMES)}"
    )
