"""The main job: the whole method as a chain of service jobs, resumable phase by phase.

collect a dataset -> label pairs for the five skills -> train the reward models -> write the skill
predicates -> write pi_T -> train the skills -> evaluate a task zero-shot -> report. Each phase is one
job on one service, reached over gRPC like any other client would (so the same chain runs against
local mode or a cluster). A phase's request (without its request id) and the artifacts it consumes
determine a key; finished phases are recorded in a ledger under $MAESTRO_HOME/runs/, so a re-run
with the same budgets reuses their artifacts (checked by sha256) instead of redoing them, and a run
stopped half-way resumes at the first unfinished phase.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.settings import maestro_home


@dataclass(frozen=True)
class Budgets:
    """What the main job spends; the defaults finish on a 2-core laptop."""

    episodes: int = 16
    """Episodes the random macro policy plays for the dataset."""
    max_steps: int = 2000
    """Step cap per collected episode."""
    envs: int = 0
    """Parallel environments for collection (0 = one per core)."""
    pairs: int = 8
    """Observation pairs labelled per skill."""
    judge_mode: str = "JUDGE_MODE_POINTWISE_LOGPROB"
    """The annotator's judge mode (proto enum name)."""
    reward_epochs: int = 20
    """Reward-model training epochs."""
    codegen_attempts: int = 3
    """Generation jobs tried per code artifact (each with its own seed) before the run stops."""
    train_env_steps: int = 20_000
    """Environment steps of skill training."""
    train_envs: int = 4
    """Environments during skill training."""
    train_device: str = "cpu"
    """Where the learner runs ("cpu", "cuda", or "" for the best available)."""
    task: str = "gnomish_mines"
    """Registered task evaluated zero-shot at the end."""
    eval_episodes: int = 4
    """Episodes per evaluated policy."""
    seed: int = 0
    """Base seed of every phase."""


@dataclass
class PhaseResult:
    name: str
    title: str
    status: str
    """done, reused, failed or skipped."""
    seconds: float = 0.0
    job_id: str = ""
    outputs: dict[str, ArtifactRef] = field(default_factory=dict)
    message: str = ""


class Ledger:
    """Finished phases by key, in one JSON file written atomically."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, dict] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self.entries = {}

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, entry: dict) -> None:
        self.entries[key] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def default_ledger() -> Ledger:
    return Ledger(maestro_home() / "runs" / "ledger.json")


def request_key(phase: str, request) -> str:
    """sha256 over the phase name and the request's deterministic bytes without its request id."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.request_id = ""
    return hashlib.sha256(phase.encode() + b"\0" + copy.SerializeToString(deterministic=True)).hexdigest()


def _ref_to_proto(ref: ArtifactRef):
    from maestro.common.v1 import common_pb2

    return common_pb2.ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes)


def _ref_from_proto(ref) -> ArtifactRef:
    return ArtifactRef(ref.uri, ref.sha256, ref.size_bytes)


@dataclass
class Phase:
    name: str
    title: str
    service: str
    rpc: str
    build: Callable[[Budgets, dict[str, ArtifactRef], int], Any]
    """(budgets, outputs of earlier phases, attempt) -> the request message."""
    needs: tuple[str, ...] = ()
    """Outputs of earlier phases this one consumes (it is skipped when one is missing)."""
    attempts: Callable[[Budgets], int] = lambda budgets: 1


def _collect(b: Budgets, inputs: dict, attempt: int):
    from maestro.skill_learner.v1 import skill_learner_pb2 as pb

    return pb.CollectDatasetRequest(policy=pb.COLLECTION_POLICY_RANDOM_MACRO, episodes=b.episodes, num_envs=b.envs,
                                    max_episode_steps=b.max_steps, seed=b.seed)


def _annotate(b: Budgets, inputs: dict, attempt: int):
    from maestro.annotator.v1 import annotator_pb2 as pb
    from maestro.common.v1 import common_pb2
    from maestro_common.generated.contract import SKILL_NAMES

    return pb.AnnotateDatasetRequest(dataset=_ref_to_proto(inputs["dataset"]), num_pairs=b.pairs,
                                     skills=[common_pb2.SkillSpec(name=name) for name in SKILL_NAMES],
                                     judge_mode=pb.JudgeMode.Value(b.judge_mode), seed=b.seed)


def _reward_models(b: Budgets, inputs: dict, attempt: int):
    from maestro.reward.v1 import reward_pb2 as pb

    return pb.TrainRewardModelsRequest(labels=_ref_to_proto(inputs["labels"]),
                                       config=pb.RewardTrainingConfig(epochs=b.reward_epochs, seed=b.seed))


def _skill_functions(b: Budgets, inputs: dict, attempt: int):
    from maestro.codegen.v1 import codegen_pb2 as pb
    from maestro.common.v1 import common_pb2

    return pb.GenerateSkillFunctionsRequest(llm=common_pb2.LlmSettings(seed=b.seed + attempt))


def _training_policy(b: Budgets, inputs: dict, attempt: int):
    from maestro.codegen.v1 import codegen_pb2 as pb
    from maestro.common.v1 import common_pb2

    return pb.GeneratePolicyRequest(kind=pb.POLICY_KIND_TRAINING, llm=common_pb2.LlmSettings(seed=b.seed + attempt),
                                    skill_functions=_ref_to_proto(inputs["skill_functions"]))


def _train_skills(b: Budgets, inputs: dict, attempt: int):
    from maestro.skill_learner.v1 import skill_learner_pb2 as pb

    config = pb.SkillTrainingConfig(env_steps=b.train_env_steps, num_envs=b.train_envs, seed=b.seed,
                                    device=b.train_device)
    return pb.TrainSkillsRequest(reward_models=_ref_to_proto(inputs["reward_models"]),
                                 skill_functions=_ref_to_proto(inputs["skill_functions"]),
                                 training_policy=_ref_to_proto(inputs["policy"]), config=config)


def _evaluate(b: Budgets, inputs: dict, attempt: int):
    from maestro.evaluator.v1 import evaluator_pb2 as pb

    return pb.EvaluateTaskRequest(task_id=b.task, skill_checkpoint=_ref_to_proto(inputs["checkpoint"]),
                                  episodes=b.eval_episodes, seed=b.seed, include_baselines=True)


PHASES: tuple[Phase, ...] = (
    Phase("collect", "Collect a dataset (random macro-action policy)", "skill-learner", "CollectDataset", _collect),
    Phase("annotate", "Label observation pairs for the five skills (LLM judge)", "llm-annotator", "AnnotateDataset",
          _annotate, needs=("dataset",)),
    Phase("reward_models", "Train one reward model per skill", "reward-trainer", "TrainRewardModels",
          _reward_models, needs=("labels",)),
    Phase("skill_functions", "Write the skills' initiation/termination (LLM + sandbox)", "codegen",
          "GenerateSkillFunctions", _skill_functions, attempts=lambda b: b.codegen_attempts),
    Phase("training_policy", "Write the training policy over skills, pi_T (LLM + sandbox)", "codegen",
          "GeneratePolicy", _training_policy, needs=("skill_functions",), attempts=lambda b: b.codegen_attempts),
    Phase("train_skills", "Train the skill network (APPO)", "skill-learner", "TrainSkills", _train_skills,
          needs=("reward_models", "skill_functions", "policy")),
    Phase("evaluate", "Evaluate a task zero-shot", "evaluator", "EvaluateTask", _evaluate, needs=("checkpoint",)),
)
"""The main job's phases, in order."""


def run_pipeline(budgets: Budgets, *, stub: Callable[[str], Any],
                 watch: Callable[[str, str], Any], store: ArtifactStore, ledger: Ledger | None = None,
                 phases: tuple[Phase, ...] = PHASES, log: Callable[[str], None] = print,
                 describe: Callable[[str, dict[str, ArtifactRef]], str | None] = lambda phase, outputs: None,
                 ) -> list[PhaseResult]:
    """Run `phases` in order; stop at the first that fails. `stub(service)` -> a gRPC stub,
    `watch(service, job_id)` -> the final Job (with progress shown), `describe(phase, outputs)` -> a summary
    printed after a phase. The stubs carry whatever credentials their service asks for."""
    from maestro.common.v1 import common_pb2

    ledger = ledger or default_ledger()
    outputs: dict[str, ArtifactRef] = {}
    results: list[PhaseResult] = []
    for number, phase in enumerate(phases, 1):
        prefix = f"[{number}/{len(phases)}]"
        missing = [name for name in phase.needs if name not in outputs]
        if missing or (results and results[-1].status in ("failed", "skipped")):
            results.append(PhaseResult(phase.name, phase.title, "skipped",
                                       message=f"needs {', '.join(missing) or 'the phase before'}"))
            continue
        began = time.monotonic()
        result = PhaseResult(phase.name, phase.title, "failed")
        for attempt in range(phase.attempts(budgets)):
            request = phase.build(budgets, outputs, attempt)
            key = request_key(phase.name, request)
            cached = ledger.get(key)
            if cached and all(store.exists(ArtifactRef.from_dict(ref)) for ref in cached["outputs"].values()):
                result = PhaseResult(phase.name, phase.title, "reused", job_id=cached["job_id"],
                                     outputs={n: ArtifactRef.from_dict(r) for n, r in cached["outputs"].items()})
                log(f"{prefix} {phase.title}: reusing the artifacts of job {cached['job_id']}")
                break
            request.request_id = f"{key[:24]}-{uuid.uuid4().hex[:8]}"
            tried = f" (attempt {attempt + 1} of {phase.attempts(budgets)})" if attempt else ""
            response = getattr(stub(phase.service), phase.rpc)(request)
            log(f"{prefix} {phase.title}{tried}: job {response.job.job_id} on {phase.service}")
            job = watch(phase.service, response.job.job_id)
            result.job_id = job.job_id
            if job.state == common_pb2.JOB_STATE_SUCCEEDED:
                result.status = "done"
                result.outputs = {name: _ref_from_proto(ref) for name, ref in job.outputs.items()}
                ledger.put(key, {"phase": phase.name, "job_id": job.job_id, "finished_at": time.time(),
                                 "outputs": {n: r.to_dict() for n, r in result.outputs.items()}})
                break
            result.message = f"{job.error.code}: {job.error.message}" if job.error.code else \
                common_pb2.JobState.Name(job.state)
            log(f"{prefix} {phase.title}: {result.message}")
        result.seconds = time.monotonic() - began
        outputs.update(result.outputs)
        if result.outputs:
            text = describe(phase.name, result.outputs)
            if text:
                log(text)
        results.append(result)
    return results


def summary_lines(results: list[PhaseResult], seconds: float) -> list[str]:
    """The end-of-run table: each phase, what happened, how long, its main output."""
    lines = [f"{'phase':18} {'status':8} {'time':>7}  output"]
    for result in results:
        main = next(iter(result.outputs.items()), None)
        shown = f"{main[0]}: {main[1].uri}" if main else result.message[:70]
        lines.append(f"{result.name:18} {result.status:8} {result.seconds:6.0f}s  {shown}")
    ok = all(r.status in ("done", "reused") for r in results)
    lines.append(f"main job {'finished' if ok else 'stopped'} in {seconds:.0f}s")
    return lines


def results_json(results: list[PhaseResult]) -> list[dict]:
    return [{**asdict(r), "outputs": {n: ref.to_dict() for n, ref in r.outputs.items()}} for r in results]
