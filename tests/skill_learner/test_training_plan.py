"""TrainSkills request validation: the paper's defaults, and errors that name the field."""

from __future__ import annotations

import pytest

from maestro.common.v1 import common_pb2
from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro_common.errors import FailedPrecondition, InvalidArgument
from skill_learner.config import SkillLearnerSettings
from skill_learner.plan import APPOConfig, appo_config, check_request

SHA = "a" * 64


def _settings(**overrides) -> SkillLearnerSettings:
    return SkillLearnerSettings(training_device="cpu", train_env_runners=3, train_num_envs=12, **overrides)


def test_empty_config_gives_the_papers_appo_defaults():
    config = appo_config(pb.SkillTrainingConfig(), _settings())
    assert (config.rollout_length, config.batch_size, config.learning_rate, config.gamma) == (32, 4096, 1e-4, 0.99)
    assert (config.clip, config.entropy_coef, config.value_coef, config.max_grad_norm) == (0.1, 0.003, 0.5, 4.0)
    assert config.extrinsic_coef == 0.0 and config.skill_turns == 500 and config.max_episode_steps == 10_000
    assert (config.num_envs, config.env_runners, config.device) == (12, 3, "cpu")


def test_environments_are_spread_evenly_over_runners():
    assert APPOConfig(num_envs=10, env_runners=3).envs_per_runner == [4, 3, 3]
    config = appo_config(pb.SkillTrainingConfig(num_envs=2, env_runners=2), _settings())
    assert config.envs_per_runner == [1, 1]


@pytest.mark.parametrize("fields, field", [
    ({"batch_size": 100, "rollout_length": 32}, "config.batch_size"),
    ({"num_envs": 100_000}, "config.num_envs"),
    ({"learning_rate": float("nan")}, "config.learning_rate"),
    ({"gamma": 1.5}, "config.gamma"),
    ({"precision": "fp8"}, "config.precision"),
    ({"device": "tpu"}, "config.device"),
    ({"max_episode_steps": 20_000}, "config.max_episode_steps"),
    ({"seed": -1}, "config.seed"),
])
def test_bad_config_fields_are_named(fields, field):
    with pytest.raises(InvalidArgument) as error:
        appo_config(pb.SkillTrainingConfig(**fields), _settings())
    assert error.value.field == field


def test_artifacts_are_required_and_checked():
    ref = common_pb2.ArtifactRef(uri="file:///x/sha256/aa/" + SHA + "/a.json", sha256=SHA)
    with pytest.raises(InvalidArgument) as error:
        check_request(pb.TrainSkillsRequest(skill_functions=ref, training_policy=ref), _settings())
    assert error.value.field == "reward_models"
    with pytest.raises(InvalidArgument) as error:
        check_request(pb.TrainSkillsRequest(reward_models=ref, skill_functions=ref, training_policy=ref,
                                            resume_from=common_pb2.ArtifactRef(uri="x", sha256="nope")), _settings())
    assert error.value.field == "resume_from.sha256"


def test_a_cuda_device_on_a_machine_without_one_is_a_failed_precondition():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(FailedPrecondition, match="config.device"):
        appo_config(pb.SkillTrainingConfig(device="cuda"), _settings())
