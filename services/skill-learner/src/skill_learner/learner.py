"""The APPO learner: one SGD step per batch of trajectories, on one device.

The network is unrolled over the T + 1 observations of each trajectory from the recurrent state
saved when the trajectory started; where an episode ended (done) the network zeroes the state
before the next observation ("episode_start"). A skill switch is not a done: the state
carries across it. The loss is `vtrace.appo_loss`; gradients are clipped to `max_grad_norm`.

A non-finite loss or gradient norm raises `Diverged` before the optimizer steps, so the weights
stay those of the last good update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from skill_learner.plan import APPOConfig
from skill_learner.rollouts import Trajectories
from skill_learner.vtrace import appo_loss


class Diverged(RuntimeError):
    """The loss or the gradients became NaN or infinite."""


def state_batch_dim(network: nn.Module, device: torch.device) -> int:
    """Which dimension of the recurrent state is the batch (found by asking for two sizes)."""
    one, two = network.initial_state(1, device), network.initial_state(2, device)
    for dim, (a, b) in enumerate(zip(one.shape, two.shape)):
        if a == 1 and b == 2:
            return dim
    raise ValueError(f"cannot find the batch dimension of the recurrent state {tuple(two.shape)}")


def unroll(network: nn.Module, features: dict[str, torch.Tensor], state: torch.Tensor,
           dones: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits [T+1, B, A] and values [T+1, B] over `features` [T+1, B, ...], one pass through the GRU.

    Step t + 1 begins a new episode where done[t]: the network zeroes the state before it
    ("episode_start"). The state given for step 0 was already reset by the actor where needed.
    """
    episode_start = torch.zeros((dones.shape[0] + 1, dones.shape[1]), dtype=torch.bool, device=dones.device)
    episode_start[1:] = dones > 0
    logits, values, _ = network({**features, "episode_start": episode_start}, state)
    return logits, values


def _on(device: torch.device, array: np.ndarray) -> torch.Tensor:
    """`array` as a tensor on `device` (arrays read from the object store are read-only: copied first)."""
    return torch.from_numpy(array if array.flags.writeable else array.copy()).to(device, non_blocking=True)


@dataclass(frozen=True)
class UpdateStats:
    version: int
    """Learner updates done after this one."""
    samples: int
    loss_total: float
    loss_policy: float
    loss_value: float
    loss_entropy: float
    entropy: float
    clip_fraction: float
    grad_norm: float
    policy_lag: float
    """Mean learner updates between the weights that acted (as published to the runners) and this update."""
    seconds: float
    """Wall time of the forward and backward pass."""


class Learner:
    def __init__(self, network: nn.Module, config: APPOConfig, device: torch.device):
        self.network, self.config, self.device = network, config, device
        self.optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate, eps=1e-6)
        self.version = 0
        self.batch_dim = state_batch_dim(network, device)
        self.autocast = config.precision == "bf16" and device.type == "cuda"

    def train(self, batch: Trajectories) -> UpdateStats:
        started = time.perf_counter()
        device, config = self.device, self.config
        if batch.rewards is None:
            raise ValueError("the batch has no rewards yet; score it first")
        features = {key: _on(device, value) for key, value in batch.features.items()}
        state = _on(device, batch.initial_state)
        dones = _on(device, batch.dones)
        actions = _on(device, batch.actions)
        behaviour = _on(device, batch.log_probs)
        rewards = _on(device, batch.rewards)
        self.network.train()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits, values = unroll(self.network, features, state, dones)
        terms = appo_loss(logits[:-1], values[:-1], actions, behaviour, rewards, config.gamma * (1.0 - dones),
                          values[-1].detach().float(), clip=config.clip, value_coef=config.value_coef,
                          entropy_coef=config.entropy_coef)
        if not torch.isfinite(terms.total):
            raise Diverged(f"the loss is {terms.total.item()} at learner update {self.version + 1}")
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.network.parameters(), config.max_grad_norm)
        if not torch.isfinite(grad_norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise Diverged(f"the gradient norm is {grad_norm.item()} at learner update {self.version + 1}")
        self.optimizer.step()
        self.version += 1
        lag = float((self.version - 1 - batch.policy_versions).mean())
        return UpdateStats(version=self.version, samples=batch.batch_size * batch.actions.shape[0],
                           loss_total=terms.total.item(), loss_policy=terms.policy.item(),
                           loss_value=terms.value.item(), loss_entropy=-config.entropy_coef * terms.entropy.item(),
                           entropy=terms.entropy.item(), clip_fraction=terms.clip_fraction.item(),
                           grad_norm=float(grad_norm), policy_lag=lag, seconds=time.perf_counter() - started)
