"""`SkillActor`: batched acting for N environments with one GRU state per environment.

The state of env i is kept across `act` calls and across skill switches (the skill is an input, a
switch is not an episode boundary); `reset_env(i)` zeroes it when env i starts a new episode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from maestro_common.errors import InvalidArgument
from maestro_common.skillnet.features import encode_observations
from maestro_common.skillnet.network import SkillNetwork, inputs_to_tensors


@dataclass(frozen=True)
class ActorOutput:
    """One batched acting step."""

    actions: np.ndarray
    """int64 [N] chosen actions."""
    log_probs: np.ndarray
    """float32 [N] log-probability of each chosen action under the policy (behaviour policy for V-trace)."""
    logits: np.ndarray
    """float32 [N, A] policy logits."""
    values: np.ndarray
    """float32 [N] value estimates."""


class SkillActor:
    """Acts for N environments with a (frozen or periodically synced) SkillNetwork."""

    def __init__(self, network: SkillNetwork, device: torch.device | str = "cpu", num_envs: int | None = None,
                 *, seed: int | None = None):
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        self._generator = torch.Generator(device=self.device)
        if seed is not None:
            self._generator.manual_seed(seed)
        else:
            self._generator.seed()
        self._state: torch.Tensor | None = None
        if num_envs is not None:
            self._allocate(num_envs)

    def _allocate(self, num_envs: int) -> None:
        if num_envs <= 0:
            raise InvalidArgument("num_envs", f"must be positive, got {num_envs}")
        self._state = self.network.initial_state(num_envs, self.device)

    @property
    def num_envs(self) -> int | None:
        """N (None until the first `act` when not given)."""
        return None if self._state is None else self._state.shape[0]

    @property
    def state(self) -> torch.Tensor:
        """The GRU states [N, core_dim] (a view: do not modify)."""
        if self._state is None:
            raise InvalidArgument("num_envs", "no state yet: call act() first or pass num_envs")
        return self._state

    def reset_env(self, index: int) -> None:
        """Zeroes env `index`'s GRU state (a new episode starts there)."""
        state = self.state
        if not 0 <= index < state.shape[0]:
            raise InvalidArgument("index", f"must be in [0, {state.shape[0]}), got {index}")
        state[index].zero_()

    def reset_all(self) -> None:
        """Zeroes every env's state."""
        if self._state is not None:
            self._state.zero_()

    def load_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """New weights from the learner (GRU states are kept)."""
        self.network.load_state_dict(state_dict)

    @torch.no_grad()
    def act_detailed(self, obs_list: Sequence[Mapping[str, np.ndarray]], skill_indices: Sequence[int] | np.ndarray,
                     greedy: bool = False) -> ActorOutput:
        """Actions of the N environments (env i's observation and active skill at position i)."""
        if self._state is None:
            self._allocate(len(obs_list))
        if len(obs_list) != self.state.shape[0]:
            raise InvalidArgument("obs_list", f"got {len(obs_list)} observations for {self.state.shape[0]} envs")
        inputs = inputs_to_tensors(encode_observations(obs_list, skill_indices), self.device)
        logits, values, self._state = self.network.act_step(inputs, self.state)
        log_softmax = torch.log_softmax(logits, dim=-1)
        if greedy:
            actions = logits.argmax(dim=-1)
        else:
            actions = torch.multinomial(log_softmax.exp(), 1, generator=self._generator).squeeze(-1)
        chosen = log_softmax.gather(1, actions.unsqueeze(1)).squeeze(1)
        return ActorOutput(actions=actions.cpu().numpy().astype(np.int64), log_probs=chosen.cpu().numpy(),
                           logits=logits.cpu().numpy(), values=values.cpu().numpy())

    def act(self, obs_list: Sequence[Mapping[str, np.ndarray]], skill_indices: Sequence[int] | np.ndarray,
            greedy: bool = False) -> np.ndarray:
        """int64 [N] actions; see `act_detailed`."""
        return self.act_detailed(obs_list, skill_indices, greedy).actions
