"""TrainSkills: reward models + generated code -> a trained skill network (plain logic, no gRPC).

1. Load and cross-check every artifact (`inputs.load_inputs`): any mismatch fails the job with
   FAILED_PRECONDITION before a single environment starts.
2. Build the network: from this job's own latest training state (a restarted job), else from
   `resume_from` (a published checkpoint: weights and optimizer state), else fresh from the seed.
3. Run the engine. Every `checkpoint_every` env steps the full training state (weights, optimizer,
   learner version, counters, episode counters per env, RNG states) is written atomically to
   `<data dir>/training/<job id>/state-<env steps>.pt` (temporary file, then rename); the newest
   `keep_checkpoints` files are kept. The job checkpoint then names that file, so a service killed
   mid-run resumes from it exactly: same step count, same optimizer state, same RNG streams, each
   environment's episodes continuing from its saved counter (episodes in flight at the kill are
   replayed from the start of a fresh seed, never from a half-saved game).
4. At the end, on cancel and on shutdown, the network is published to the artifact store
   (`skillnet.save_checkpoint`, output "checkpoint"). A diverging run (NaN loss or gradients) stops
   with FAILED_PRECONDITION; its last good state file and published checkpoint stay intact.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import Cancelled, FailedPrecondition
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.jobs.runner import JobContext, JobInterrupted
from skill_learner.engine import Engine, TrainingObserver, TrainState
from skill_learner.inputs import load_inputs
from skill_learner.learner import Diverged
from skill_learner.plan import TrainPlan
from skill_learner.rewards import SkillRewards

TRAIN_SKILLS = "TrainSkills"
STATE_FORMAT = "maestro.skill-training-state/1"
log = logging.getLogger(__name__)


def state_dir(data_dir: Path, job_id: str) -> Path:
    return Path(data_dir) / "training" / job_id


def write_state(directory: Path, engine: Engine, keep: int) -> Path:
    """Write the full training state atomically; delete all but the newest `keep` files. Returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    state = engine.export_state()
    payload = {
        "format": STATE_FORMAT,
        "network": {k: v.detach().cpu() for k, v in engine.network.state_dict().items()},
        "network_config": engine.network.config.to_json(),
        "optimizer": engine.learner.optimizer.state_dict(),
        "learner_version": engine.learner.version,
        "train_state": state.to_json(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_rng": np.random.get_state(),
    }
    final = directory / f"state-{state.env_steps:015d}.pt"
    temporary = directory / f".{final.name}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    for old in sorted(directory.glob("state-*.pt"))[:-keep]:
        old.unlink(missing_ok=True)
    return final


def read_state(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        data = handle.read()
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    if payload.get("format") != STATE_FORMAT:
        raise FailedPrecondition(f"training state {path} has format {payload.get('format')!r}; expected {STATE_FORMAT}")
    payload["sha256"] = hashlib.sha256(data).hexdigest()
    return payload


def _network_and_state(ctx: JobContext, plan: TrainPlan, store: ArtifactStore, device: torch.device):
    """(network, optimizer state or None, learner version, TrainState, where it came from)."""
    from maestro_common.skillnet import SkillNetConfig, SkillNetwork, load_checkpoint, load_optimizer_state

    saved = ctx.checkpoint.get("state_file")
    if saved and Path(saved).exists():
        payload = read_state(Path(saved))
        network = SkillNetwork(SkillNetConfig.from_json(payload["network_config"])).to(device)
        network.load_state_dict(payload["network"])
        torch.set_rng_state(payload["torch_rng"])
        if payload["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(payload["cuda_rng"])
        np.random.set_state(payload["numpy_rng"])
        ctx.set_metrics({"resumed_env_steps": payload["train_state"]["env_steps"],
                         "resumed_learner_version": payload["learner_version"]})
        return (network, payload["optimizer"], payload["learner_version"],
                TrainState.from_json(payload["train_state"]), f"resumed from {Path(saved).name}",
                payload["sha256"])
    torch.manual_seed(plan.config.seed)
    np.random.seed(plan.config.seed % (2 ** 32))
    if plan.resume_from is not None:
        network, meta = load_checkpoint(store, plan.resume_from, device=device)
        network = network.to(device)
        optimizer = load_optimizer_state(store, plan.resume_from)
        version = int(meta.extra.get("learner_version", 0))
        origin = f"continuing {plan.resume_from.uri}"
        return network, optimizer, version, TrainState(env_steps=meta.env_steps), origin, ""
    return SkillNetwork().to(device), None, 0, TrainState(), "fresh network", ""


def publish(store: ArtifactStore, engine: Engine, inputs_meta: dict[str, Any]) -> ArtifactRef:
    """The network as a skillnet checkpoint artifact (weights, optimizer state, metadata)."""
    from maestro_common.skillnet import INPUT_SPEC_VERSION, CheckpointMeta, save_checkpoint

    meta = CheckpointMeta(skill_names=SKILL_NAMES, input_spec_version=INPUT_SPEC_VERSION,
                          env_steps=engine.state.env_steps,
                          extra=inputs_meta | {"learner_version": engine.learner.version})
    return save_checkpoint(store, engine.network, meta,  # type: ignore[arg-type]
                           optimizer_state=engine.learner.optimizer.state_dict())


def run_training(ctx: JobContext, plan: TrainPlan, store: ArtifactStore, data_dir: Path,
                 observer: TrainingObserver | None = None) -> None:
    config = plan.config
    ctx.report_progress(0, config.env_steps, unit="env steps", stage="loading", message="checking the artifacts")
    inputs = load_inputs(store, plan.reward_models, plan.skill_functions, plan.training_policy,
                         device=config.device, precision=config.precision)
    device = torch.device(config.device)
    network, optimizer_state, version, state, origin, state_sha = _network_and_state(ctx, plan, store, device)
    rewards = SkillRewards(inputs.bundle, config.extrinsic_coef)
    engine = Engine(config, network, rewards, skill_code=inputs.skill_code, policy_code=inputs.policy_code,
                    device=device, state=state, observer=observer)
    if optimizer_state is not None:
        engine.learner.optimizer.load_state_dict(optimizer_state)
    engine.learner.version = version
    if state_sha:
        ctx.set_metrics({"resumed_state_sha256_prefix": int(state_sha[:12], 16)})
    inputs_meta = {"reward_models": plan.reward_models.to_dict(), "skill_functions": plan.skill_functions.to_dict(),
                   "training_policy": plan.training_policy.to_dict(), "config": config.to_json()}
    directory = state_dir(data_dir, ctx.job_id)

    def checkpoint(engine: Engine) -> None:
        path = write_state(directory, engine, config.keep_checkpoints)
        ctx.save_checkpoint({"state_file": str(path), "env_steps": engine.state.env_steps,
                             "learner_version": engine.learner.version})
        ctx.set_metrics(_job_metrics(engine))
        ctx.report_progress(engine.state.env_steps, config.env_steps, unit="env steps",
                            message=f"checkpoint at {engine.state.env_steps:,} env steps")

    def should_stop() -> bool:
        if not (ctx.cancel_requested or ctx.stopping):
            ctx.report_progress(engine.state.env_steps, config.env_steps, unit="env steps")
            return False
        return True

    ctx.report_progress(state.env_steps, config.env_steps, unit="env steps", stage="training",
                        message=f"{origin}; {config.num_envs} envs on {config.env_runners} runners, learner on "
                                f"{device}")
    try:
        outcome = engine.run(should_stop, checkpoint)
    except Diverged as error:
        last = ctx.checkpoint.get("state_file", "none yet")
        raise FailedPrecondition(f"training diverged: {error}; the last good state ({last}) is intact; lower the "
                                 "learning rate or the gradient-norm limit and resume") from None
    if engine.learner.version:
        checkpoint(engine)
        ctx.add_output("checkpoint", publish(store, engine, inputs_meta))
    ctx.set_metrics(_job_metrics(engine))
    if outcome == "stopped":
        ctx.raise_if_cancelled()
        raise JobInterrupted(f"job {ctx.job_id} stopped at {engine.state.env_steps:,} env steps by a shutdown")
    ctx.report_progress(engine.state.env_steps, config.env_steps, unit="env steps", stage="done",
                        message=f"{engine.state.env_steps:,} env steps, {engine.state.episodes:,} episodes, "
                                f"{engine.learner.version:,} updates")


def _job_metrics(engine: Engine) -> dict[str, float]:
    metrics = {"env_steps": float(engine.state.env_steps), "episodes": float(engine.state.episodes),
               "learner_updates": float(engine.learner.version),
               "reward_cache_hit_rate": engine.rewards.hit_rate}
    if engine.last_update is not None:
        metrics |= {"loss_total": engine.last_update.loss_total, "entropy": engine.last_update.entropy}
    return metrics


__all__ = ["TRAIN_SKILLS", "Cancelled", "run_training"]
