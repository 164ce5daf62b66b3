"""The engine's side of the runner protocol: runner rollouts train the learner; weights travel through Ray."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_inputs import SKILL_CODE, TRAINING_POLICY, make_reward_bundle

from maestro_common.artifacts import ArtifactStore
from maestro_common.reward.bundle import load_bundle
from maestro_common.skillnet import SkillNetwork
from skill_learner.engine import Engine, TrainingObserver, TrainState, runner_gpu_share
from skill_learner.inference import PublishedWeights, weights_vector
from skill_learner.plan import APPOConfig
from skill_learner.rewards import SkillRewards
from skill_learner.runner import EnvRunner


class Recorder(TrainingObserver):
    def __init__(self):
        self.updates, self.episodes = [], []

    def on_update(self, stats, env_steps):
        self.updates.append(stats)

    def on_episode(self, summary):
        self.episodes.append(summary)


@pytest.fixture(scope="module")
def rewards(tmp_path_factory) -> SkillRewards:
    store = ArtifactStore(str(tmp_path_factory.mktemp("artifacts")))
    return SkillRewards(load_bundle(store, make_reward_bundle(store, pairs=300, epochs=1)))


def test_runner_rollouts_train_the_learner_and_the_policy_lag_is_recorded(rewards):
    torch.manual_seed(0)
    network = SkillNetwork()
    config = APPOConfig(num_envs=3, env_runners=1, rollout_length=4, batch_size=8, max_episode_steps=5, skill_turns=20,
                        device="cpu", seed=1)
    observer = Recorder()
    engine = Engine(config, network, rewards, skill_code=dict(SKILL_CODE), policy_code=TRAINING_POLICY,
                    device=torch.device("cpu"), state=TrainState(), observer=observer)
    [spec] = engine.runner_specs("cpu")
    assert spec.env_indices == (0, 1, 2) and spec.rollout_length == 4 and spec.device == "cpu"
    runner = EnvRunner(spec)
    try:
        weights = PublishedWeights(engine.learner.version, weights_vector(network))  # version 0
        for _ in range(4):  # 4 rollouts x 3 trajectories; a batch of 8 samples is 2 trajectories of 4 steps
            engine.ingest(runner.rollout(weights))
            engine.train_ready()
    finally:
        runner.close()
    assert engine.state.env_steps == 4 * 4 * 3 and engine.state.episodes == len(observer.episodes) >= 3
    assert engine.learner.version == 6 and len(observer.updates) == 6  # 12 trajectories / 2 per batch
    assert [u.policy_lag for u in observer.updates] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # all acted by version 0
    assert all(np.isfinite(u.loss_total) for u in observer.updates)
    assert engine.runner_seconds["env"] > 0 and engine.rollouts_received == 4


def test_runners_get_an_equal_share_of_the_gpus_only_when_the_learner_is_on_cuda():
    assert runner_gpu_share(torch.device("cuda"), 1.0, 15) == 0.0666  # 15 x 0.0666 fits in one GPU
    assert runner_gpu_share(torch.device("cuda"), 4.0, 2) == 1.0
    assert runner_gpu_share(torch.device("cuda"), 0.5, 15) == 0.0333  # what a RayJob driver leaves of one GPU
    assert runner_gpu_share(torch.device("cuda"), 0.0, 4) == 0.0  # a cluster without GPUs: CPU inference
    assert runner_gpu_share(torch.device("cpu"), 1.0, 4) == 0.0


@pytest.mark.slow
def test_weights_published_through_the_object_store_reach_a_runner_actor():
    import ray

    from skill_learner.engine import init_ray

    torch.manual_seed(0)
    network = SkillNetwork()
    config = APPOConfig(num_envs=2, env_runners=1, rollout_length=2, batch_size=2, max_episode_steps=5, device="cpu")
    engine = Engine(config, network, rewards=None, skill_code=dict(SKILL_CODE),  # type: ignore[arg-type]
                    policy_code=TRAINING_POLICY, device=torch.device("cpu"))
    init_ray()
    actor = ray.remote(num_cpus=1)(EnvRunner).remote(engine.runner_specs("cpu")[0])
    try:
        first = ray.get(actor.rollout.remote(PublishedWeights(5, ray.put(weights_vector(network)))))
        assert first.trajectories.policy_versions.tolist() == [5, 5]
        zeros = np.zeros_like(weights_vector(network))  # a uniform policy: every log-probability is -log(28)
        second = ray.get(actor.rollout.remote(PublishedWeights(6, ray.put(zeros))))
        assert second.trajectories.policy_versions.tolist() == [6, 6]
        np.testing.assert_allclose(second.trajectories.log_probs, -np.log(28.0), rtol=1e-5)
        state = ray.get(actor.runner_state.remote())
        assert state["episode_counters"] == {0: 1, 1: 1} and state["sampler_state"]["bit_generator"] == "PCG64"
    finally:
        ray.kill(actor)
        ray.shutdown()
