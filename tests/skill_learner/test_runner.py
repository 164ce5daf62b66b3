"""The env runner in process (no Ray): groups, reward inputs, episode seeds that continue after a resume."""

from __future__ import annotations

import numpy as np
from training_inputs import SKILL_CODE, TRAINING_POLICY

from maestro_common.skillnet import INPUT_KEYS
from skill_learner.runner import EnvRunner, RunnerSpec, episode_seed


def _spec(**overrides) -> RunnerSpec:
    base = dict(env_indices=(3, 4, 5), skill_code=dict(SKILL_CODE), policy_code=TRAINING_POLICY, seed=7,
                skill_turns=50, max_episode_steps=6)
    return RunnerSpec(**(base | overrides))


def test_groups_step_separately_and_return_encoded_observations_and_reward_inputs():
    runner = EnvRunner(_spec())
    try:
        assert runner.group_count() == 2
        first = runner.start(0)
        assert first.env_indices.tolist() == [3, 5] and set(first.features) == set(INPUT_KEYS)
        assert (first.acted_skills == -1).all() and first.skills.tolist() == [0, 0]  # pi_T starts with Discoverer
        runner.start(1)
        steps, ended = 0, []
        while len(ended) < 2:
            result = runner.step(0, np.array([2, 6]))  # walk
            steps += 1
            assert (result.acted_skills >= 0).all() and len(result.messages) == 2
            assert result.message_counts.min() >= 1 and set(np.unique(result.depth_signs)) <= {-1, 0, 1}
            ended += result.episodes
        assert steps <= 6  # the 6-step cap ends every episode
        summary = ended[0]
        assert summary["steps"] <= 6 and summary["skills"][0]["skill"] == "Discoverer" and summary["max_depth"] >= 1
        assert runner.episode_counters() == {3: 2, 4: 1, 5: 2}
    finally:
        runner.close()


def test_saved_episode_counters_continue_the_seed_sequence():
    runner = EnvRunner(_spec(env_indices=(0,), groups=1, episode_counters={0: 5}))
    try:
        runner.start(0)
        assert runner.slots[0].env.seed == episode_seed(7, 0, 5)
        assert runner.episode_counters() == {0: 6}
    finally:
        runner.close()
