"""Rollout buffers on the learner side: per group of environments, T steps -> one trajectory batch.

A group of environments always steps together, so its rows share one position in the rollout.
`GroupRollout.add_decision` stores what the policy saw and did; `add_outcome` the reward inputs and
done flags of that step once the runner answered (the learner scores whole batches with the reward
models just before training). After T steps, `take` returns a `Trajectories` of T + 1
observations (the last one bootstraps the value) and starts the next rollout from that observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Trajectories:
    """A [T, B] batch (time-major) of whole trajectories, on the CPU."""

    features: dict[str, torch.Tensor]
    """[T + 1, B, ...] encoded observations; the last step is the bootstrap observation."""
    skills: torch.Tensor
    """int64 [T + 1, B]: the skill active at each decision."""
    actions: torch.Tensor
    """int64 [T, B]."""
    log_probs: torch.Tensor
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
    dones: torch.Tensor
    """float32 [T, B]: 1 where the episode ended at that step."""
    initial_state: torch.Tensor
    """The recurrent state before the first observation, batch along dim `state_batch_dim`."""
    policy_versions: torch.Tensor
    """int64 [B]: the oldest policy version that chose an action of each trajectory."""
    env_indices: torch.Tensor
    """int64 [B]."""
    rewards: torch.Tensor | None = None
    """float32 [T, B]: shaped rewards, filled in by the learner side (`rewards.SkillRewards`) before training."""

    @property
    def batch_size(self) -> int:
        return int(self.actions.shape[1])

    @staticmethod
    def concat(parts: list[Trajectories], state_batch_dim: int) -> Trajectories:
        return Trajectories(
            features={key: torch.cat([p.features[key] for p in parts], dim=1) for key in parts[0].features},
            skills=torch.cat([p.skills for p in parts], dim=1),
            actions=torch.cat([p.actions for p in parts], dim=1),
            log_probs=torch.cat([p.log_probs for p in parts], dim=1),
            reward_skills=np.concatenate([p.reward_skills for p in parts], axis=1),
            messages=np.concatenate([p.messages for p in parts], axis=1),
            depth_signs=np.concatenate([p.depth_signs for p in parts], axis=1),
            message_counts=np.concatenate([p.message_counts for p in parts], axis=1),
            score_deltas=np.concatenate([p.score_deltas for p in parts], axis=1),
            dones=torch.cat([p.dones for p in parts], dim=1),
            initial_state=torch.cat([p.initial_state for p in parts], dim=state_batch_dim),
            policy_versions=torch.cat([p.policy_versions for p in parts]),
            env_indices=torch.cat([p.env_indices for p in parts]),
        )

    def split(self, first: int, state_batch_dim: int) -> tuple[Trajectories, Trajectories]:
        """The first `first` trajectories and the rest."""
        def cut(t: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
            return t.narrow(dim, 0, first), t.narrow(dim, first, t.shape[dim] - first)

        def cut_np(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return a[:, :first], a[:, first:]

        halves = [cut(self.skills, 1), cut(self.actions, 1), cut(self.log_probs, 1), cut_np(self.reward_skills),
                  cut_np(self.messages), cut_np(self.depth_signs), cut_np(self.message_counts),
                  cut_np(self.score_deltas), cut(self.dones, 1), cut(self.initial_state, state_batch_dim),
                  cut(self.policy_versions, 0), cut(self.env_indices, 0)]
        features = {key: cut(value, 1) for key, value in self.features.items()}
        made = []
        for side in (0, 1):
            made.append(Trajectories({k: v[side] for k, v in features.items()}, *(h[side] for h in halves)))
        return made[0], made[1]


class GroupRollout:
    """The rollout in progress of one group of environments."""

    def __init__(self, env_indices: np.ndarray, length: int):
        self.env_indices = torch.tensor(env_indices, dtype=torch.int64)
        self.length = length
        self._clear()

    def _clear(self) -> None:
        self.features: list[dict[str, np.ndarray]] = []
        self.skills: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.log_probs: list[np.ndarray] = []
        self.outcomes: list[tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]] = []
        self.dones: list[np.ndarray] = []
        self.versions: list[int] = []
        self.initial_state: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        """Steps whose outcome is known."""
        return len(self.dones)

    def add_decision(self, features: dict[str, np.ndarray], skills: np.ndarray, state_before: torch.Tensor,
                     actions: np.ndarray, log_probs: np.ndarray, version: int) -> None:
        if not self.features:
            self.initial_state = state_before.detach().to("cpu", copy=True)
        self.features.append(features)
        self.skills.append(skills)
        self.actions.append(actions)
        self.log_probs.append(log_probs)
        self.versions.append(version)

    def add_outcome(self, skills: np.ndarray, messages: list[str], signs: np.ndarray, counts: np.ndarray,
                    scores: np.ndarray, dones: np.ndarray) -> None:
        """The reward inputs and done flags of the step just played (rewards are computed in the learner)."""
        self.outcomes.append((skills, messages, signs, counts, scores))
        self.dones.append(dones.astype(np.float32))

    def ready(self) -> bool:
        return self.steps >= self.length

    def take(self, features: dict[str, np.ndarray], skills: np.ndarray) -> Trajectories:
        """The finished trajectories, bootstrapped by the next observation (`features`, `skills`)."""
        assert self.ready() and self.initial_state is not None
        every = self.features + [features]
        batch = Trajectories(
            features={key: torch.from_numpy(np.stack([f[key] for f in every])) for key in features},
            skills=torch.from_numpy(np.stack(self.skills + [skills])),
            actions=torch.from_numpy(np.stack(self.actions)),
            log_probs=torch.from_numpy(np.stack(self.log_probs)),
            reward_skills=np.stack([o[0] for o in self.outcomes]),
            messages=_object_array([o[1] for o in self.outcomes]),
            depth_signs=np.stack([o[2] for o in self.outcomes]),
            message_counts=np.stack([o[3] for o in self.outcomes]),
            score_deltas=np.stack([o[4] for o in self.outcomes]),
            dones=torch.from_numpy(np.stack(self.dones)),
            initial_state=self.initial_state,
            policy_versions=torch.full((len(self.env_indices),), min(self.versions), dtype=torch.int64),
            env_indices=self.env_indices,
        )
        self._clear()
        return batch


def _object_array(rows: list[list[str]]) -> np.ndarray:
    """A [T, B] object array of strings (np.array would make a fixed-width unicode array)."""
    out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for t, row in enumerate(rows):
        out[t, :] = row
    return out
