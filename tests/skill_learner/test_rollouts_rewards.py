"""Rollout buffers, batch splitting and the learner-side reward computation."""

from __future__ import annotations

import numpy as np
import pytest
from training_inputs import make_reward_bundle

from maestro_common.artifacts import ArtifactStore
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.reward.bundle import load_bundle
from maestro_common.reward.shaping import shape_rewards
from skill_learner.rewards import SkillRewards
from skill_learner.rollouts import GroupRollout, Trajectories


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    store = ArtifactStore(str(tmp_path_factory.mktemp("artifacts")))
    return load_bundle(store, make_reward_bundle(store, pairs=300, epochs=1))


def _features(n: int, value: int) -> dict[str, np.ndarray]:
    return {"stats": np.full((n, 3), value, dtype=np.float32), "skill": np.full(n, value % 5, dtype=np.int64)}


def _fill(rollout: GroupRollout, n: int, steps: int) -> None:
    rollout.begin(np.zeros((n, 4), dtype=np.float32))
    for t in range(steps):
        rollout.add_decision(_features(n, t), np.full(n, t % 28), np.full(n, -1.0, dtype=np.float32))
        rollout.add_outcome(np.full(n, 1), [f"m{t}"] * n, np.zeros(n, dtype=np.int8), np.ones(n, dtype=np.int64),
                            np.zeros(n, dtype=np.float32), np.array([t == 1] + [False] * (n - 1)))


def test_a_group_rollout_becomes_time_major_trajectories_with_a_bootstrap_step():
    rollout = GroupRollout(np.array([4, 7]), length=3)
    _fill(rollout, 2, 3)
    assert rollout.ready()
    batch = rollout.take(_features(2, 99), version=5)
    assert batch.features["stats"].shape == (4, 2, 3) and batch.features["stats"][3, 0, 0] == 99
    assert batch.actions.shape == (3, 2) and batch.messages[2, 1] == "m2" and batch.length == 3
    assert batch.dones[:, 0].tolist() == [0.0, 1.0, 0.0]
    np.testing.assert_array_equal(batch.initial_state, np.zeros((2, 4)))  # the state before the first step
    assert batch.policy_versions.tolist() == [5, 5] and batch.env_indices.tolist() == [4, 7]
    assert rollout.steps == 0 and not rollout.ready()  # the next rollout starts empty


def test_batches_concatenate_and_split_along_the_batch_dimension():
    parts = []
    for envs in (np.array([0, 1]), np.array([2, 3, 4])):
        rollout = GroupRollout(envs, length=2)
        _fill(rollout, len(envs), 2)
        parts.append(rollout.take(_features(len(envs), 9), version=0))
    whole = Trajectories.concat(parts, state_batch_dim=0)
    assert whole.batch_size == 5 and whole.env_indices.tolist() == [0, 1, 2, 3, 4] and whole.rewards is None
    assert whole.features["stats"].shape == (3, 5, 3) and whole.initial_state.shape == (5, 4)
    first, rest = whole.split(4, state_batch_dim=0)
    assert first.batch_size == 4 and rest.batch_size == 1 and rest.env_indices.tolist() == [4]
    assert first.messages.shape == (2, 4) and rest.initial_state.shape == (1, 4)
    assert rest.features["stats"].shape == (3, 1, 3) and rest.policy_versions.shape == (1,)


def test_rewards_use_the_acting_skills_model_and_the_shared_shaping(bundle):
    rewards = SkillRewards(bundle, extrinsic_coef=0.5)
    descender = SKILL_NAMES.index("Descender")
    skills = np.array([descender, descender, 0, -1])
    messages = ["", "", "You kill the newt!", ""]
    signs = np.array([1, 0, 0, 0], dtype=np.int8)
    raw = rewards.raw(skills, messages, signs)
    assert raw[3] == 0.0 and rewards.misses == 3
    expected = bundle.score(["Descender"], ["", ""], [1, 0])["Descender"][0]
    np.testing.assert_allclose(raw[:2], expected, rtol=1e-5)
    counts, scores = np.array([1, 2, 1, 1]), np.array([0.0, 0.0, 4.0, 0.0], dtype=np.float32)
    shaped = rewards.shaped(skills, raw, counts, scores)
    np.testing.assert_allclose(shaped[:2], shape_rewards(raw[:2], counts[:2], bundle.metadata["Descender"].shaping))
    discoverer = shape_rewards(raw[2:3], counts[2:3], bundle.metadata["Discoverer"].shaping)[0]
    assert shaped[2] == pytest.approx(discoverer + 2.0)
    rewards.raw(skills, messages, signs)
    assert rewards.misses == 3 and rewards.hits == 3  # the second call is served from the cache
