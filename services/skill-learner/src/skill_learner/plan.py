"""TrainSkills request -> a validated plan. Every problem names the request field.

Two kinds of check: the shape of the request (INVALID_ARGUMENT, in the RPC before a job exists) and
the artifacts it names (FAILED_PRECONDITION: a reward-model bundle of another input spec, code that
fails validation, a checkpoint of other skills), checked by `load_inputs` before any training starts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from maestro.skill_learner.v1 import skill_learner_pb2 as pb
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.validation import require_artifact, require_range
from skill_learner.config import SkillLearnerSettings

MAX_ENV_STEPS = 100_000_000_000
MAX_EPISODE_STEPS = 10_000


@dataclass(frozen=True)
class APPOConfig:
    """APPO and run settings of one TrainSkills job; the defaults are the paper's."""

    env_steps: int = 4_000_000_000
    """Environment steps to train for (summed over all environments)."""
    num_envs: int = 480
    """Environments stepped in parallel, spread over the env runners."""
    env_runners: int = 15
    """Ray env-runner actors (one process each)."""
    rollout_length: int = 32
    """Steps per trajectory sent to the learner (and the length of BPTT through the GRU)."""
    batch_size: int = 4096
    """Samples per SGD step (a multiple of `rollout_length`)."""
    learning_rate: float = 1e-4
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    clip: float = 0.1
    """PPO ratio clip: the ratio is kept within [1 - clip, 1 + clip]."""
    entropy_coef: float = 0.003
    """Weight of the entropy bonus."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 4.0
    """Gradients are clipped to this global norm."""
    extrinsic_coef: float = 0.0
    """Weight of the game-score change added to the skill reward (0 for skill training)."""
    checkpoint_every: int = 10_000_000
    """Environment steps between checkpoints."""
    keep_checkpoints: int = 3
    """Checkpoints kept on disk (the newest); older ones are deleted."""
    seed: int = 0
    """Seed of the network initialisation, action sampling, pi_T randomness and episode seeds."""
    device: str = "auto"
    """Device of the learner; on CUDA the env runners infer on shares of the free GPUs, else on their CPUs."""
    precision: str = "fp32"
    """"fp32" or "bf16" (autocast on CUDA)."""
    skill_turns: int = 500
    """N: Discoverer lasts N game turns, Worshipper and Merchant 20 x N."""
    max_episode_steps: int = 10_000
    """Step cap per episode."""
    publish_interval_s: float = 0.1
    """Least seconds between two publications of the learner's weights to the env runners (each one copies
    the weights into the object store; the runners load the newest between rollouts)."""

    @property
    def envs_per_runner(self) -> list[int]:
        """How many environments each runner steps (as even as possible)."""
        base, extra = divmod(self.num_envs, self.env_runners)
        return [base + (1 if i < extra else 0) for i in range(self.env_runners)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = APPOConfig()


def _positive_float(field_name: str, value: float, high: float, default: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= high:
        raise InvalidArgument(field_name, f"{value} is out of range; use a positive number up to {high:g} "
                                          f"(or 0 for {default:g})")
    return value or default


def _device(requested: str, settings: SkillLearnerSettings) -> str:
    device = requested.strip() or settings.training_device
    if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        raise InvalidArgument("config.device", f"{requested!r} is not a device; use cpu, cuda, cuda:N or leave it "
                                               "empty for the service default")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        index = int(device[5:]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise FailedPrecondition(f"config.device: {device} was asked for but this replica has "
                                     f"{torch.cuda.device_count()} GPUs; use cpu or leave it empty")
    return device


def appo_config(request: pb.SkillTrainingConfig, settings: SkillLearnerSettings) -> APPOConfig:
    """The request's config with defaults filled in; InvalidArgument names `config.<field>`."""
    require_range("config.env_steps", request.env_steps, 1, MAX_ENV_STEPS, zero_means=f"{DEFAULTS.env_steps:,}")
    require_range("config.num_envs", request.num_envs, 1, settings.train_max_envs, zero_means="the service default")
    num_envs = request.num_envs or settings.train_num_envs
    require_range("config.env_runners", request.env_runners, 1, num_envs, zero_means="the service default")
    env_runners = min(request.env_runners or settings.train_env_runners, num_envs)
    require_range("config.rollout_length", request.rollout_length, 1, 1024, zero_means="32")
    rollout = request.rollout_length or DEFAULTS.rollout_length
    require_range("config.batch_size", request.batch_size, 1, 1 << 20, zero_means="4096")
    batch = request.batch_size or DEFAULTS.batch_size
    if batch % rollout:
        raise InvalidArgument("config.batch_size", f"{batch} is not a multiple of the rollout length {rollout}; "
                                                   "the learner trains on whole trajectories")
    if request.gamma and not 0 < request.gamma <= 1:
        raise InvalidArgument("config.gamma", f"{request.gamma} is out of range; use (0, 1] (or 0 for 0.99)")
    require_range("config.checkpoint_every", request.checkpoint_every, 1, MAX_ENV_STEPS,
                  zero_means=f"{DEFAULTS.checkpoint_every:,}")
    require_range("config.keep_checkpoints", request.keep_checkpoints, 1, 1000, zero_means="3")
    require_range("config.skill_turns", request.skill_turns, 1, 100_000, zero_means="500")
    require_range("config.max_episode_steps", request.max_episode_steps, 1, MAX_EPISODE_STEPS, zero_means="10000")
    if request.precision not in ("", "fp32", "bf16"):
        raise InvalidArgument("config.precision", f"{request.precision!r}: use fp32, bf16 or leave it empty")
    if request.seed < 0:
        raise InvalidArgument("config.seed", f"{request.seed} is negative; use a seed >= 0")
    if not math.isfinite(request.extrinsic_coef) or abs(request.extrinsic_coef) > 1e3:
        raise InvalidArgument("config.extrinsic_coef", f"{request.extrinsic_coef} is out of range; use -1000..1000")
    return APPOConfig(
        env_steps=request.env_steps or DEFAULTS.env_steps,
        num_envs=num_envs,
        env_runners=env_runners,
        rollout_length=rollout,
        batch_size=batch,
        learning_rate=_positive_float("config.learning_rate", request.learning_rate, 1.0, DEFAULTS.learning_rate),
        gamma=request.gamma or DEFAULTS.gamma,
        clip=_positive_float("config.clip", request.clip, 1.0, DEFAULTS.clip),
        entropy_coef=_positive_float("config.entropy_coef", request.entropy_coef, 10.0, DEFAULTS.entropy_coef),
        value_coef=_positive_float("config.value_coef", request.value_coef, 100.0, DEFAULTS.value_coef),
        max_grad_norm=_positive_float("config.max_grad_norm", request.max_grad_norm, 1e6, DEFAULTS.max_grad_norm),
        extrinsic_coef=request.extrinsic_coef,
        checkpoint_every=request.checkpoint_every or DEFAULTS.checkpoint_every,
        keep_checkpoints=request.keep_checkpoints or DEFAULTS.keep_checkpoints,
        seed=request.seed,
        device=_device(request.device, settings),
        precision=request.precision or settings.training_precision,
        skill_turns=request.skill_turns or DEFAULTS.skill_turns,
        max_episode_steps=request.max_episode_steps or DEFAULTS.max_episode_steps,
    )


@dataclass(frozen=True)
class TrainPlan:
    reward_models: ArtifactRef
    skill_functions: ArtifactRef
    training_policy: ArtifactRef
    config: APPOConfig
    resume_from: ArtifactRef | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def _resolve(store: ArtifactStore, name: str, ref) -> ArtifactRef:
    return store.resolve(ref.uri, ref.sha256, uri_field=f"{name}.uri", sha256_field=f"{name}.sha256")


def check_request(request: pb.TrainSkillsRequest, settings: SkillLearnerSettings) -> APPOConfig:
    """Shape checks only (no artifact is read); InvalidArgument names the field."""
    require_artifact("reward_models", request.reward_models)
    require_artifact("skill_functions", request.skill_functions)
    require_artifact("training_policy", request.training_policy)
    require_artifact("resume_from", request.resume_from, required=False)
    return appo_config(request.config, settings)


def plan_from_request(request: pb.TrainSkillsRequest, settings: SkillLearnerSettings,
                      store: ArtifactStore) -> TrainPlan:
    """The validated plan; artifacts are resolved (NOT_FOUND when absent), not yet loaded."""
    config = check_request(request, settings)
    resume = None
    if request.resume_from.uri:
        resume = _resolve(store, "resume_from", request.resume_from)
    return TrainPlan(reward_models=_resolve(store, "reward_models", request.reward_models),
                     skill_functions=_resolve(store, "skill_functions", request.skill_functions),
                     training_policy=_resolve(store, "training_policy", request.training_policy),
                     config=config, resume_from=resume)
