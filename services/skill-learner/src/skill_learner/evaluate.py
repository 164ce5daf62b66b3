"""A small check of one skill: play it alone on fixed seeds and record how deep the hero got.

`skill_depths(network, skill="Descender", seeds=..., max_steps=...)` runs one episode per seed with the
skill's one-hot held fixed for the whole episode (no pi_T), sampling actions with a seeded generator,
and returns the deepest dungeon level reached in each. Comparing a trained and an untrained network
on the same seeds says whether the Descender learned to go down. (Task evaluation proper is the
evaluator service's job.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.nethack.env import EnvConfig, MaestroEnv
from maestro_common.nethack.features import BL_DEPTH


@dataclass(frozen=True)
class DepthResult:
    max_depths: list[int]
    """Deepest level reached per seed."""
    steps: list[int]
    """Steps played per seed."""

    @property
    def mean(self) -> float:
        return float(np.mean(self.max_depths)) if self.max_depths else 0.0


@torch.inference_mode()
def skill_depths(network, *, skill: str = "Descender", seeds: Sequence[int], max_steps: int = 1000,
                 device: str | torch.device = "cpu", sample_seed: int = 0) -> DepthResult:
    """Play `skill` alone on every seed at once (one env per seed); see the module docstring."""
    from maestro_common.skillnet import SkillActor

    index = SKILL_NAMES.index(skill)
    envs = [MaestroEnv(EnvConfig(max_episode_steps=max_steps)) for _ in seeds]
    try:
        observations = [env.reset(int(seed)) for env, seed in zip(envs, seeds)]
        actor = SkillActor(network, device, num_envs=len(envs), seed=sample_seed)
        depths = [int(obs["blstats"][BL_DEPTH]) for obs in observations]
        steps = [0] * len(envs)
        live = list(range(len(envs)))
        while live:
            actions = actor.act(observations, np.full(len(envs), index))
            still = []
            for i in live:
                obs, _, terminated, truncated, _ = envs[i].step(int(actions[i]))
                steps[i] += 1
                depths[i] = max(depths[i], int(obs["blstats"][BL_DEPTH]))
                if not (terminated or truncated):
                    still.append(i)
            live = still
        return DepthResult(max_depths=depths, steps=steps)
    finally:
        for env in envs:
            env.close()
