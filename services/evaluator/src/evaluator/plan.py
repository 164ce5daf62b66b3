"""EvaluateTask requests checked and turned into an `EvalPlan` (no gRPC here beyond the message)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.config import EvaluatorSettings
from evaluator.tasks import TaskSpec, get_task
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.generated.artifact import parse_code_artifact
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.validation import require_artifact, require_range, require_text

MAX_TASK_TEXT = 4096
DEFAULT_MAX_STEPS = 10_000
DEFAULT_SKILL_TURNS = 500


@dataclass(frozen=True)
class EvalPlan:
    """A validated evaluation."""

    task: TaskSpec | None
    """The registered task whose check is used (None: free text without a check)."""
    task_text: str
    """The task in language, as given to codegen."""
    checkpoint: ArtifactRef
    skill_functions: ArtifactRef
    policy: ArtifactRef | None
    """A given task policy; None = codegen writes one."""
    seeds: tuple[int, ...]
    max_steps: int
    skill_turns: int
    num_envs: int
    include_baselines: bool
    seed: int


def _ref(store: ArtifactStore, field: str, message) -> ArtifactRef:
    return store.resolve(message.uri, message.sha256, uri_field=f"{field}.uri", sha256_field=f"{field}.sha256")


def check_checkpoint(store: ArtifactStore, ref: ArtifactRef):
    """The checkpoint's meta; FailedPrecondition unless it was made for this code's skills and input spec."""
    from maestro_common.skillnet import INPUT_SPEC_VERSION
    from maestro_common.skillnet.checkpoint import CheckpointMeta, check_meta, read_manifest

    meta = CheckpointMeta.from_json(read_manifest(store, ref).get("meta", {}))
    check_meta(meta, SKILL_NAMES, INPUT_SPEC_VERSION)
    return meta


def _skill_functions(store: ArtifactStore, request, meta) -> ArtifactRef:
    """The request's skill functions, else those the checkpoint records it was trained with."""
    if require_artifact("skill_functions", request.skill_functions, required=False):
        return _ref(store, "skill_functions", request.skill_functions)
    recorded = meta.extra.get("skill_functions") if isinstance(meta.extra, dict) else None
    if not recorded:
        raise InvalidArgument("skill_functions", "required: give the skill functions artifact (uri and sha256), or "
                                                 "a checkpoint whose metadata records the skill functions it was "
                                                 "trained with (the skill-learner's checkpoints do)")
    ref = ArtifactRef.from_dict(recorded)
    return store.resolve(ref.uri, ref.sha256, uri_field="skill_checkpoint (recorded skill_functions.uri)",
                         sha256_field="skill_checkpoint (recorded skill_functions.sha256)")


def plan_from_request(request, settings: EvaluatorSettings, store: ArtifactStore) -> EvalPlan:
    """Check every field; raises InvalidArgument / NotFound / FailedPrecondition with an actionable message."""
    which = request.WhichOneof("task_spec")
    task: TaskSpec | None
    if which == "task_id":
        task = get_task(request.task_id)
        text = task.description
        if request.success_check:
            raise InvalidArgument("success_check", "only with task_text; a registered task_id brings its own check")
    elif which == "task_text":
        require_text("task_text", request.task_text, required=True, max_len=MAX_TASK_TEXT)
        text = request.task_text.strip()
        task = get_task(request.success_check, field="success_check") if request.success_check else None
    else:
        raise InvalidArgument("task_spec", "give task_id (see ListTasks) or task_text")
    require_range("episodes", request.episodes, 1, settings.max_episodes)
    if request.seeds and len(request.seeds) != request.episodes:
        raise InvalidArgument("seeds", f"{len(request.seeds)} seeds for {request.episodes} episodes; give one seed per "
                                       "episode or none")
    if any(seed < 0 for seed in request.seeds) or request.seed < 0:
        raise InvalidArgument("seeds", "seeds must be >= 0")
    require_range("max_steps", request.max_steps, 1, 100_000, zero_means="10000")
    require_range("skill_turns", request.skill_turns, 1, 100_000, zero_means="500")
    require_range("num_envs", request.num_envs, 1, 256, zero_means="the service default")
    require_artifact("skill_checkpoint", request.skill_checkpoint)
    has_policy = require_artifact("policy", request.policy, required=False)
    checkpoint = _ref(store, "skill_checkpoint", request.skill_checkpoint)
    meta = check_checkpoint(store, checkpoint)
    functions = _skill_functions(store, request, meta)
    if parse_code_artifact(store.read_bytes(functions)).role != "skill_functions":
        raise FailedPrecondition("skill_functions: the artifact is not a skill_functions code artifact")
    policy = None
    if has_policy:
        policy = _ref(store, "policy", request.policy)
        if parse_code_artifact(store.read_bytes(policy)).role != "policy":
            raise FailedPrecondition("policy: the artifact is a skill_functions artifact, not a policy")
    if request.seeds:
        seeds = tuple(int(s) for s in request.seeds)
    else:
        seeds = tuple(int(s) for s in np.random.SeedSequence(request.seed).generate_state(request.episodes,
                                                                                          dtype=np.uint32))
    num_envs = min(request.num_envs or settings.default_num_envs, request.episodes)
    return EvalPlan(task=task, task_text=text, checkpoint=checkpoint, skill_functions=functions, policy=policy,
                    seeds=seeds, max_steps=request.max_steps or DEFAULT_MAX_STEPS,
                    skill_turns=request.skill_turns or DEFAULT_SKILL_TURNS, num_envs=num_envs,
                    include_baselines=request.include_baselines, seed=int(request.seed))
