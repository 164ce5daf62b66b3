"""Trajectory batches: built by the env runners, T steps at a time; scored and trained on by the learner.

A group of environments always steps together, so its rows share one position in the rollout.
In the runner, `GroupRollout.begin` stores the recurrent state before the first decision,
`add_decision` what the policy saw and did, and `add_outcome` the reward inputs and done flags of
that step (rewards are computed in the learner, on whole batches, just before training). After T
steps, `take` returns a `Trajectories` of T + 1 observations (the last one bootstraps the value and
is also the first observation of the next rollout). Everything is numpy: a batch travels from the
runner to the learner through the Ray object store as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass
class Trajectories:
    """A [T, B] batch (time-major) of whole trajectories, numpy on the CPU."""

    features: dict[str, np.ndarray]
    """[T + 1, B, ...] encoded observations; the last step is the bootstrap observation."""
    actions: np.ndarray
    """int64 [T, B]."""
    log_probs: np.ndarray
    """float32 [T, B]: behaviour-policy log-probability of each action."""
    reward_skills: np.ndarray
    """int64 [T, B]: the skill that acted at each step (whose reward model scores it)."""
    messages: np.ndarray
    """object [T, B]: the message after each step (the reward model's input)."""
    depth_signs: np.ndarray
    """int8 [T, B]: sign of the depth change since the acting skill started."""
    message_counts: np.ndarray
    """int64 [T, B]: occurrences of the message in the episode's last 20 messages."""
    score_deltas: np.ndarray
    """float32 [T, B]: game-score change of each step."""
    dones: np.ndarray
    """float32 [T, B]: 1 where the episode ended at that step."""
    initial_state: np.ndarray
    """float32: the recurrent state before the first observation, batch along dim `state_batch_dim`."""
    policy_versions: np.ndarray
    """int64 [B]: the learner version of the weights that chose the actions of each trajectory."""
    env_indices: np.ndarray
    """int64 [B]."""
    rewards: np.ndarray | None = None
    """float32 [T, B]: shaped rewards, filled in by the learner side (`rewards.SkillRewards`) before training."""

    @property
    def batch_size(self) -> int:
        return int(self.actions.shape[1])

    @property
    def length(self) -> int:
        """T: steps per trajectory."""
        return int(self.actions.shape[0])

    @staticmethod
    def concat(parts: list[Trajectories], state_batch_dim: int) -> Trajectories:
        """The trajectories of all `parts`, side by side (batch dimension), in order."""
        def join(name: str, values: list):
            if name == "features":
                return {key: np.concatenate([v[key] for v in values], axis=1) for key in values[0]}
            if name == "rewards":
                return None if any(v is None for v in values) else np.concatenate(values, axis=1)
            return np.concatenate(values, axis=_batch_axis(name, state_batch_dim))

        return Trajectories(**{f.name: join(f.name, [getattr(p, f.name) for p in parts]) for f in fields(Trajectories)})

    def split(self, first: int, state_batch_dim: int) -> tuple[Trajectories, Trajectories]:
        """The first `first` trajectories and the rest."""
        def cut(name: str, value, side: int):
            if value is None:
                return None
            if name == "features":
                return {key: cut("", v, side) for key, v in value.items()}
            axis = _batch_axis(name, state_batch_dim)
            index = [slice(None)] * value.ndim
            index[axis] = slice(0, first) if side == 0 else slice(first, None)
            return value[tuple(index)]

        halves = [Trajectories(**{f.name: cut(f.name, getattr(self, f.name), side) for f in fields(Trajectories)})
                  for side in (0, 1)]
        return halves[0], halves[1]


def _batch_axis(name: str, state_batch_dim: int) -> int:
    """Which axis of a `Trajectories` field is the batch."""
    if name == "initial_state":
        return state_batch_dim
    return 0 if name in ("policy_versions", "env_indices") else 1


class GroupRollout:
    """The rollout in progress of one group of environments (in the env runner)."""

    def __init__(self, env_indices: np.ndarray, length: int):
        self.env_indices = np.asarray(env_indices, dtype=np.int64)
        self.length = length
        self._clear()

    def _clear(self) -> None:
        self.features: list[dict[str, np.ndarray]] = []
        self.actions: list[np.ndarray] = []
        self.log_probs: list[np.ndarray] = []
        self.outcomes: list[tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]] = []
        self.dones: list[np.ndarray] = []
        self.initial_state: np.ndarray | None = None

    @property
    def steps(self) -> int:
        """Steps whose outcome is known."""
        return len(self.dones)

    def begin(self, initial_state: np.ndarray) -> None:
        """Start a rollout from the recurrent state before its first decision."""
        self._clear()
        self.initial_state = initial_state

    def add_decision(self, features: dict[str, np.ndarray], actions: np.ndarray, log_probs: np.ndarray) -> None:
        self.features.append(features)
        self.actions.append(actions)
        self.log_probs.append(log_probs)

    def add_outcome(self, skills: np.ndarray, messages: list[str], signs: np.ndarray, counts: np.ndarray,
                    scores: np.ndarray, dones: np.ndarray) -> None:
        """The reward inputs and done flags of the step just played."""
        self.outcomes.append((skills, messages, signs, counts, scores))
        self.dones.append(dones.astype(np.float32))

    def ready(self) -> bool:
        return self.steps >= self.length

    def take(self, features: dict[str, np.ndarray], version: int) -> Trajectories:
        """The finished trajectories, bootstrapped by the next observation (`features`); acted by `version`."""
        assert self.ready() and self.initial_state is not None
        every = self.features + [features]
        batch = Trajectories(
            features={key: np.stack([f[key] for f in every]) for key in features},
            actions=np.stack(self.actions).astype(np.int64),
            log_probs=np.stack(self.log_probs).astype(np.float32),
            reward_skills=np.stack([o[0] for o in self.outcomes]),
            messages=_object_array([o[1] for o in self.outcomes]),
            depth_signs=np.stack([o[2] for o in self.outcomes]),
            message_counts=np.stack([o[3] for o in self.outcomes]),
            score_deltas=np.stack([o[4] for o in self.outcomes]),
            dones=np.stack(self.dones),
            initial_state=self.initial_state,
            policy_versions=np.full(len(self.env_indices), version, dtype=np.int64),
            env_indices=self.env_indices.copy(),
        )
        self._clear()
        return batch


def _object_array(rows: list[list[str]]) -> np.ndarray:
    """A [T, B] object array of strings (np.array would make a fixed-width unicode array)."""
    out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for t, row in enumerate(rows):
        out[t, :] = row
    return out
