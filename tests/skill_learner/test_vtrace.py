"""V-trace and the APPO loss against hand-computed references."""

from __future__ import annotations

import torch

from skill_learner.vtrace import appo_loss, vtrace


def _discounted_returns(rewards, discounts, bootstrap):
    out = torch.zeros_like(rewards)
    acc = bootstrap.clone()
    for t in range(rewards.shape[0] - 1, -1, -1):
        acc = rewards[t] + discounts[t] * acc
        out[t] = acc
    return out


def test_on_policy_vtrace_targets_are_bootstrapped_returns():
    torch.manual_seed(0)
    T, B = 6, 3
    rewards, values, bootstrap = torch.randn(T, B), torch.randn(T, B), torch.randn(B)
    discounts = torch.full((T, B), 0.9)
    discounts[2, 1] = 0.0  # an episode ends at step 2 of env 1
    log_probs = torch.randn(T, B)
    out = vtrace(log_probs, log_probs, rewards, values, bootstrap, discounts)
    expected = _discounted_returns(rewards, discounts, bootstrap)
    assert torch.allclose(out.vs, expected, atol=1e-5)
    next_vs = torch.cat([expected[1:], bootstrap[None]])
    assert torch.allclose(out.pg_advantages, rewards + discounts * next_vs - values, atol=1e-5)


def test_off_policy_importance_weights_are_clipped():
    T, B = 1, 2
    rewards, values, bootstrap = torch.ones(T, B), torch.zeros(T, B), torch.zeros(B)
    discounts = torch.zeros(T, B)
    behaviour = torch.log(torch.tensor([[0.1, 0.5]]))
    target = torch.log(torch.tensor([[0.5, 0.25]]))  # rho = 5 (clipped to 1) and 0.5
    out = vtrace(behaviour, target, rewards, values, bootstrap, discounts)
    assert torch.allclose(out.vs, torch.tensor([[1.0, 0.5]]))
    assert torch.allclose(out.clipped_rhos, torch.tensor([[1.0, 0.5]]))


def test_appo_loss_moves_the_policy_towards_advantageous_actions():
    torch.manual_seed(1)
    T, B, A = 4, 8, 5
    logits = torch.zeros(T, B, A, requires_grad=True)
    values = torch.zeros(T, B, requires_grad=True)
    actions = torch.randint(0, A, (T, B))
    rewards = (actions == 2).float()  # action 2 pays
    behaviour = torch.full((T, B), -torch.log(torch.tensor(float(A))))
    terms = appo_loss(logits, values, actions, behaviour, rewards, torch.zeros(T, B), torch.zeros(B),
                      clip=0.1, value_coef=0.5, entropy_coef=0.003)
    terms.total.backward()
    assert torch.isfinite(terms.total)
    assert abs(terms.entropy.item() - torch.log(torch.tensor(float(A))).item()) < 1e-5
    # gradient descent raises the logit of the paying action where it was taken
    taken_2 = actions == 2
    assert (logits.grad[..., 2][taken_2] < 0).all()
    assert (values.grad[taken_2] < 0).all()  # value pulled up towards the reward
