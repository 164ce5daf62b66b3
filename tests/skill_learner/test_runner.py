"""The env runner in process (no Ray): rollouts with its own policy, published weights, resumable seeds and sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_inputs import SKILL_CODE, TRAINING_POLICY

from maestro_common.skillnet import INPUT_KEYS, SkillNetwork
from skill_learner.inference import PublishedWeights, weights_vector
from skill_learner.learner import unroll
from skill_learner.runner import EnvRunner, RunnerSpec, episode_seed


@pytest.fixture(scope="module")
def network() -> SkillNetwork:
    torch.manual_seed(0)
    return SkillNetwork()


def _spec(network: SkillNetwork, **overrides) -> RunnerSpec:
    base = dict(index=0, env_indices=(3, 4, 5), skill_code=dict(SKILL_CODE), policy_code=TRAINING_POLICY, seed=7,
                skill_turns=50, max_episode_steps=6, rollout_length=4, network_config=network.config.to_json())
    return RunnerSpec(**(base | overrides))


def test_a_rollout_is_a_time_major_batch_acted_by_the_published_weights(network):
    runner = EnvRunner(_spec(network))
    try:
        weights = PublishedWeights(version=7, vector=weights_vector(network))
        rollout = runner.rollout(weights)
        batch = rollout.trajectories
        assert set(batch.features) == set(INPUT_KEYS) and batch.features["stats"].shape[:2] == (5, 3)
        assert batch.actions.shape == (4, 3) and batch.log_probs.shape == (4, 3) and batch.messages.shape == (4, 3)
        assert batch.env_indices.tolist() == [3, 5, 4]  # group 0 (envs 3, 5), then group 1 (env 4)
        assert batch.policy_versions.tolist() == [7, 7, 7] and batch.initial_state.shape == (3, 512)
        assert (batch.log_probs <= 0).all() and (batch.reward_skills >= 0).all()
        assert batch.message_counts.min() >= 1 and set(np.unique(batch.depth_signs)) <= {-1, 0, 1}
        assert rollout.env_seconds > 0 and rollout.policy_seconds > 0
        ended = list(rollout.episodes)
        second = runner.rollout(weights)  # the 6-step cap ends every episode within 8 steps
        ended += second.episodes
        assert len(ended) == 3 and {s["env"] for s in ended} == {3, 4, 5} and ended[0]["steps"] == 6
        assert ended[0]["skills"][0]["skill"] == "Discoverer" and ended[0]["max_depth"] >= 1
        assert second.trajectories.dones.sum() == 3
        # the next rollout starts where the last one ended: its first observation is the bootstrap one
        np.testing.assert_array_equal(second.trajectories.features["message"][0], batch.features["message"][-1])
        assert runner.runner_state()["episode_counters"] == {3: 2, 4: 2, 5: 2}
    finally:
        runner.close()


def test_behaviour_log_probs_match_the_learner_unroll_from_the_saved_state(network):
    """The runner's GRU state handling (carried between rollouts, zeroed after a done) is what the learner replays."""
    runner = EnvRunner(_spec(network, max_episode_steps=3))
    try:
        weights = PublishedWeights(version=0, vector=weights_vector(network))
        runner.rollout(weights)
        batch = runner.rollout(weights).trajectories  # starts from a non-zero state, has dones inside
        assert batch.dones.any() and np.abs(batch.initial_state).sum() > 0
        features = {key: torch.from_numpy(value) for key, value in batch.features.items()}
        with torch.no_grad():
            logits, _ = unroll(network, features, torch.from_numpy(batch.initial_state), torch.from_numpy(batch.dones))
        replayed = torch.log_softmax(logits[:-1], dim=-1).gather(-1, torch.from_numpy(batch.actions)[..., None])
        np.testing.assert_allclose(replayed[..., 0].numpy(), batch.log_probs, atol=1e-4)
    finally:
        runner.close()


def test_newer_published_weights_reach_the_runner_and_older_ones_are_ignored(network):
    runner = EnvRunner(_spec(network, env_indices=(0,), groups=1, rollout_length=1))
    try:
        runner.rollout(PublishedWeights(version=3, vector=weights_vector(network)))
        assert runner.policy.version == 3
        other = np.zeros_like(weights_vector(network))
        runner.rollout(PublishedWeights(version=2, vector=other))  # older: kept the version-3 weights
        np.testing.assert_array_equal(weights_vector(runner.policy.network), weights_vector(network))
        rollout = runner.rollout(PublishedWeights(version=4, vector=other))
        assert runner.policy.version == 4 and not weights_vector(runner.policy.network).any()
        assert rollout.trajectories.policy_versions.tolist() == [4]
    finally:
        runner.close()


def test_saved_episode_counters_and_sampler_state_continue_where_the_run_was(network):
    spec = _spec(network, env_indices=(0,), groups=1, rollout_length=2, episode_counters={0: 5})
    weights = PublishedWeights(version=0, vector=weights_vector(network))
    first = EnvRunner(spec)
    try:
        first.rollout(weights)
        assert first.slots[0].env.seed == episode_seed(7, 0, 5)
        saved = first.runner_state()
        assert saved["episode_counters"] == {0: 6}
        expected = first.policy.rng.random(4)
    finally:
        first.close()
    resumed = EnvRunner(_spec(network, env_indices=(0,), groups=1, rollout_length=2,
                              episode_counters=saved["episode_counters"], sampler_state=saved["sampler_state"]))
    try:
        np.testing.assert_array_equal(resumed.policy.rng.random(4), expected)
        resumed.rollout(weights)
        assert resumed.slots[0].env.seed == episode_seed(7, 0, 6)
    finally:
        resumed.close()
