"""V-trace targets and the APPO loss (Espeholt et al. 2018; Sample Factory's APPO), in plain torch.

All tensors are time-major, [T, B]. `discounts[t]` is gamma * (1 - done[t]): the discount between
step t and step t + 1 (0 where the episode ended at step t). `bootstrap` [B] is the value of the
state after the last step.

    rho_t      = pi(a_t|x_t) / mu(a_t|x_t)                target over behaviour policy
    delta_t    = min(rho_bar, rho_t) * (r_t + discount_t V(x_{t+1}) - V(x_t))
    vs_t - V_t = delta_t + discount_t * min(c_bar, rho_t) * (vs_{t+1} - V_{t+1})
    adv_t      = min(rho_bar_pg, rho_t) * (r_t + discount_t vs_{t+1} - V(x_t))

The APPO loss is PPO's clipped surrogate on the V-trace advantages (normalised over the batch),
plus `value_coef` * 0.5 * (vs - V)^2 and minus `entropy_coef` * entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class VTraceReturns:
    vs: torch.Tensor
    """Value targets [T, B]."""
    pg_advantages: torch.Tensor
    """Policy-gradient advantages [T, B]."""
    clipped_rhos: torch.Tensor
    """min(rho_bar, rho) [T, B], for diagnostics."""


@torch.no_grad()
def vtrace(behaviour_log_probs: torch.Tensor, target_log_probs: torch.Tensor, rewards: torch.Tensor,
           values: torch.Tensor, bootstrap: torch.Tensor, discounts: torch.Tensor, *,
           rho_bar: float = 1.0, c_bar: float = 1.0, pg_rho_bar: float = 1.0) -> VTraceReturns:
    """V-trace value targets and advantages; see the module docstring. No gradient flows through."""
    if not (behaviour_log_probs.shape == target_log_probs.shape == rewards.shape == values.shape
            == discounts.shape) or bootstrap.shape != values.shape[1:]:
        raise ValueError("vtrace: log-probs, rewards, values and discounts must be [T, B] and bootstrap [B]")
    rhos = torch.exp(target_log_probs - behaviour_log_probs)
    clipped_rhos = rhos.clamp(max=rho_bar)
    cs = rhos.clamp(max=c_bar)
    next_values = torch.cat([values[1:], bootstrap.unsqueeze(0)], dim=0)
    deltas = clipped_rhos * (rewards + discounts * next_values - values)
    corrections = torch.zeros_like(values)
    acc = torch.zeros_like(bootstrap)
    for t in range(values.shape[0] - 1, -1, -1):
        acc = deltas[t] + discounts[t] * cs[t] * acc
        corrections[t] = acc
    vs = values + corrections
    next_vs = torch.cat([vs[1:], bootstrap.unsqueeze(0)], dim=0)
    pg_advantages = rhos.clamp(max=pg_rho_bar) * (rewards + discounts * next_vs - values)
    return VTraceReturns(vs=vs, pg_advantages=pg_advantages, clipped_rhos=clipped_rhos)


@dataclass(frozen=True)
class LossTerms:
    total: torch.Tensor
    """The scalar to minimise."""
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    """Mean entropy of the policy (the loss term is -entropy_coef * entropy)."""
    clip_fraction: torch.Tensor
    """Share of samples whose ratio fell outside the clip range."""


def appo_loss(logits: torch.Tensor, values: torch.Tensor, actions: torch.Tensor,
              behaviour_log_probs: torch.Tensor, rewards: torch.Tensor, discounts: torch.Tensor,
              bootstrap: torch.Tensor, *, clip: float, value_coef: float, entropy_coef: float,
              normalise_advantages: bool = True) -> LossTerms:
    """APPO's loss over a [T, B] batch: logits [T, B, A], values [T, B], actions [T, B] (int64)."""
    log_probs_all = F.log_softmax(logits.float(), dim=-1)
    log_probs = log_probs_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    values = values.float()
    targets = vtrace(behaviour_log_probs, log_probs.detach(), rewards, values.detach(), bootstrap.float(), discounts)
    advantages = targets.pg_advantages
    if normalise_advantages and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_probs - behaviour_log_probs)
    clipped = ratio.clamp(1.0 - clip, 1.0 + clip)
    policy_loss = -torch.min(ratio * advantages, clipped * advantages).mean()
    value_loss = 0.5 * (targets.vs - values).pow(2).mean()
    entropy = -(log_probs_all.exp() * log_probs_all).sum(-1).mean()
    total = policy_loss + value_coef * value_loss - entropy_coef * entropy
    clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
    return LossTerms(total=total, policy=policy_loss.detach(), value=value_loss.detach(), entropy=entropy.detach(),
                     clip_fraction=clip_fraction.detach())
