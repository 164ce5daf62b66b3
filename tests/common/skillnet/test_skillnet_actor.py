"""SkillActor on real environments: N = 4 envs, a few hundred steps, skills from the options runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maestro_common.errors import InvalidArgument
from maestro_common.generated import load_skill_functions
from maestro_common.nethack.env import EnvConfig, make_env
from maestro_common.options import OptionsRuntime, RandomSkillPolicy
from maestro_common.skillnet import SkillActor, SkillNetwork

N = 4
SKILLS = {name: "def initiation(ctx):\n    return True\n\ndef termination(ctx):\n    return ctx.turns_since_skill_start >= 8\n"
          for name in ("Discoverer", "Descender", "Ascender")}


def test_acting_for_four_real_envs_keeps_and_resets_state_per_env():
    torch.manual_seed(0)
    actor = SkillActor(SkillNetwork(), "cpu", seed=3)
    envs = [make_env(EnvConfig(max_episode_steps=80)) for _ in range(N)]
    runtimes = [OptionsRuntime(load_skill_functions(SKILLS), RandomSkillPolicy(), skill_turns=8,
                               rng=np.random.default_rng(i)) for i in range(N)]
    try:
        obs = [{k: v.copy() for k, v in env.reset(20 + i).items()} for i, env in enumerate(envs)]
        skills = [rt.reset(o) for rt, o in zip(runtimes, obs)]
        episodes_ended = switches = 0
        for _ in range(200):
            before = actor.state.clone() if actor.num_envs else None
            out = actor.act_detailed(obs, skills)
            assert out.actions.shape == (N,) and out.actions.dtype == np.int64
            assert ((0 <= out.actions) & (out.actions < envs[0].num_actions)).all()
            assert np.isfinite(out.values).all() and (out.log_probs <= 0).all()
            if before is not None:
                assert not torch.equal(actor.state, before)  # every env's state moved on
            for i, env in enumerate(envs):
                step_obs, _, done, truncated, _ = env.step(int(out.actions[i]))
                if done or truncated:
                    episodes_ended += 1
                    runtimes[i].end_episode()
                    kept = actor.state.clone()
                    actor.reset_env(i)
                    assert actor.state[i].abs().sum() == 0
                    others = [j for j in range(N) if j != i]
                    assert torch.equal(actor.state[others], kept[others])
                    step_obs = env.reset(100 + episodes_ended)
                    skills[i] = runtimes[i].reset(step_obs)
                else:
                    new_skill = runtimes[i].step(step_obs)
                    switches += new_skill != skills[i] or runtimes[i].timeline[-1].start_step == runtimes[i].steps
                    skills[i] = new_skill
                obs[i] = {k: v.copy() for k, v in step_obs.items()}
        assert episodes_ended >= N  # 80-step cap: every env restarted at least once
        assert switches > 0
    finally:
        for env in envs:
            env.close()


def test_a_skill_switch_does_not_reset_the_state_and_greedy_is_deterministic():
    torch.manual_seed(0)
    network = SkillNetwork()
    env = make_env()
    try:
        obs = {k: v.copy() for k, v in env.reset(3).items()}
        a, b = SkillActor(network, num_envs=1), SkillActor(network, num_envs=1)
        first = [a.act([obs], [0], greedy=True)[0] for _ in range(3)]
        assert first == [b.act([obs], [0], greedy=True)[0] for _ in range(3)]
        state = a.state.clone()
        a.act([obs], [1])  # the skill switches: the state is carried, not zeroed
        assert a.state.abs().sum() > 0 and not torch.equal(a.state, state)
        c = SkillActor(network, num_envs=1)
        c.act([obs], [1])
        assert not torch.allclose(a.state, c.state)  # history made a difference
    finally:
        env.close()


def test_batch_size_is_checked():
    actor = SkillActor(SkillNetwork(), num_envs=2)
    with pytest.raises(InvalidArgument, match="2 envs"):
        actor.act([], [])
    with pytest.raises(InvalidArgument, match="index"):
        actor.reset_env(2)
