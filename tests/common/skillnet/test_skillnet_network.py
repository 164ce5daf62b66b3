"""SkillNetwork: sizes, time-major forward against single steps, episode resets, the skill input, bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maestro_common.errors import InvalidArgument
from maestro_common.nethack.actions import COMPASS
from maestro_common.nethack.env import make_env
from maestro_common.skillnet import SkillNetConfig, SkillNetwork, encode_observations, inputs_to_tensors
from maestro_common.skillnet.atlas import render_crop
from maestro_common.skillnet.network import parameter_count

T, B = 5, 3


@pytest.fixture(scope="module")
def batch():
    """Time-major inputs [T, B] from three real games (seeds 1-3), skills varying."""
    envs = [make_env() for _ in range(B)]
    try:
        rng = np.random.default_rng(0)
        obs = [{k: v.copy() for k, v in env.reset(seed + 1).items()} for seed, env in enumerate(envs)]
        steps = []
        for t in range(T):
            steps.append(encode_observations(obs, [(t + b) % 5 for b in range(B)]))
            obs = [{k: v.copy() for k, v in env.step(int(rng.choice(COMPASS)))[0].items()} for env in envs]
        return {key: torch.as_tensor(np.stack([s[key] for s in steps])) for key in steps[0]}
    finally:
        for env in envs:
            env.close()


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return SkillNetwork().eval()


def test_default_size_is_cdgpt5_like(network):
    assert 6_000_000 <= parameter_count(network) <= 7_000_000
    assert network.config.core_dim == 512 and network.config.num_actions == 28


def test_config_round_trip_and_checks():
    config = SkillNetConfig(screen_dim=256)
    assert SkillNetConfig.from_json(config.to_json()) == config
    with pytest.raises(InvalidArgument, match="unknown"):
        SkillNetConfig.from_json({"bogus": 1})
    with pytest.raises(InvalidArgument):
        SkillNetConfig(core_dim=0)


def test_forward_shapes_and_render_matches_numpy(network, batch):
    state = network.initial_state(B)
    logits, values, new_state = network(batch, state)
    assert logits.shape == (T, B, 28) and values.shape == (T, B) and new_state.shape == (B, 512)
    assert logits.dtype == values.dtype == torch.float32
    image = network.render(batch["crop_chars"][0], batch["crop_colors"][0]).numpy()
    assert np.allclose(image, render_crop(batch["crop_chars"][0].numpy(), batch["crop_colors"][0].numpy()))


@torch.no_grad()
def test_time_major_equals_single_steps_carrying_the_state(network, batch):
    logits, values, final = network(batch, network.initial_state(B))
    state = network.initial_state(B)
    for t in range(T):
        step_logits, step_values, state = network.act_step({k: v[t] for k, v in batch.items()}, state)
        assert torch.allclose(step_logits, logits[t], atol=1e-5) and torch.allclose(step_values, values[t], atol=1e-5)
    assert torch.allclose(state, final, atol=1e-5)


@torch.no_grad()
def test_episode_start_zeroes_the_state_of_that_env_only(network, batch):
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[2, 1] = True
    logits, _, _ = network({**batch, "episode_start": starts}, torch.randn(B, 512))
    plain, _, _ = network(batch, torch.randn(B, 512))
    fresh, _, _ = network({k: v[2:] for k, v in batch.items()}, network.initial_state(B))
    assert torch.allclose(logits[2:, 1], fresh[:, 1], atol=1e-5)
    assert not torch.allclose(logits[2:, 0], fresh[:, 0], atol=1e-3)
    assert not torch.allclose(plain[2, 1], fresh[0, 1], atol=1e-3)


@torch.no_grad()
def test_several_episode_starts_match_stepping_with_manual_resets(network, batch):
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[0, 0] = starts[1, 2] = starts[3, 0] = starts[3, 1] = True
    initial = torch.randn(B, 512)
    logits, values, final = network({**batch, "episode_start": starts}, initial)
    state = initial.clone()
    for t in range(T):
        state = state * (~starts[t]).float().unsqueeze(-1)
        step_logits, step_values, state = network.act_step({k: v[t] for k, v in batch.items()}, state)
        assert torch.allclose(step_logits, logits[t], atol=1e-5) and torch.allclose(step_values, values[t], atol=1e-5)
    assert torch.allclose(state, final, atol=1e-5)


@torch.no_grad()
def test_the_skill_is_an_input(network, batch):
    state = network.initial_state(B)
    first = {k: v[:1] for k, v in batch.items()}
    other = dict(first, skill=(first["skill"] + 1) % 5)
    assert not torch.allclose(network(first, state)[0], network(other, state)[0])


def test_backward_gives_finite_gradients_everywhere_that_matters(batch):
    network = SkillNetwork()
    logits, values, _ = network(batch, network.initial_state(B))
    (logits.logsumexp(-1).mean() + values.pow(2).mean()).backward()
    grads = {name: p.grad for name, p in network.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["core.weight_ih_l0"].abs().sum() > 0 and grads["screen.0.weight"].abs().sum() > 0


def test_bf16_autocast_returns_float32(batch):
    network = SkillNetwork()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, values, state = network(batch, network.initial_state(B))
    assert logits.dtype == values.dtype == state.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_autocast_on_cuda_forward_backward(batch):
    network = SkillNetwork().cuda()
    inputs = inputs_to_tensors({k: v.numpy() for k, v in batch.items()}, "cuda")
    starts = torch.zeros(T, B, dtype=torch.bool, device="cuda")
    starts[1, 0] = True
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits, values, _ = network({**inputs, "episode_start": starts}, network.initial_state(B, "cuda"))
    assert logits.dtype == torch.float32
    (logits.logsumexp(-1).mean() + values.pow(2).mean()).backward()
    assert all(torch.isfinite(p.grad).all() for p in network.parameters())
    with torch.no_grad():
        reference, _, _ = network({**inputs, "episode_start": starts}, network.initial_state(B, "cuda"))
    assert (logits - reference).abs().max() < 0.1


def test_wrong_state_shape_is_refused(network, batch):
    with pytest.raises(InvalidArgument, match="core_state"):
        network(batch, network.initial_state(B + 1))
    with pytest.raises(InvalidArgument, match="missing"):
        network({"skill": batch["skill"]}, network.initial_state(B))
