"""GenerateSkillFunctions and GeneratePolicy jobs: requests -> the generation loop -> code artifacts.

Plain logic (no gRPC). The output is a JSON code artifact (`maestro_common.generated.artifact`)
with the code, its unit test, the model, the prompt version and the whole transcript; when the
LLM never produces passing code the best attempt is still written (with the transcript) and the
job fails naming what did not pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.generate import Generation, Generator
from codegen.golden_policy import SUITES
from maestro.codegen.v1 import codegen_pb2 as pb
from maestro_common.artifacts import ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.generated.artifact import code_artifact
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.jobs.runner import JobContext
from maestro_common.nethack.skills import skill_by_name
from maestro_common.validation import require_range, require_text

GENERATE_SKILL_FUNCTIONS = "GenerateSkillFunctions"
GENERATE_POLICY = "GeneratePolicy"

TRAINING_GOAL = ("choose skills during training so that every skill is practised: Discoverer first, then Descender "
                 "down to a randomly chosen maximum depth between 2 and 4, then Ascender back up to depth 1, and "
                 "repeat, with Discoverer exploring each level reached before the next Descender or Ascender; "
                 "Merchant or Worshipper whenever they are available")
TRAINING_HINTS = (
    "1. If 'Merchant' or 'Worshipper' is in `available` and it is not ctx.active_skill, return it.",
    "2. On the first call (`state` is empty) set state['direction'] = 'down' and draw state['max_depth'] = "
    "2 + int(ctx.random * 3) (ctx.random is a number in [0, 1), not a function).",
    "3. If ctx.active_skill != 'Discoverer' (the first call, or another skill just ended), return 'Discoverer': "
    "every level reached is explored first.",
    "4. Otherwise a Discoverer run just ended: if the direction is 'down' and ctx.now.depth >= "
    "state['max_depth'], set the direction to 'up'; if the direction is 'up' and ctx.now.depth == 1, set it "
    "to 'down' and draw a new state['max_depth'] the same way.",
    "5. Return 'Descender' when the direction is 'down', else 'Ascender'.",
)
"""pi_T's strategy, step by step in words (the paper's training-policy instructions): the goal alone leaves
too much for a small model to infer."""


@dataclass(frozen=True)
class SkillRequest:
    name: str
    description: str


def skills_from_request(specs, *, field: str = "skills") -> list[SkillRequest]:
    """The requested skills (all five when empty), each with a description (given or built-in)."""
    if not specs:
        return [SkillRequest(s, skill_by_name(s).description) for s in SKILL_NAMES]
    require_range(field, len(specs), 1, len(SKILL_NAMES))
    result, seen = [], set()
    for index, spec in enumerate(specs):
        name = spec.name.strip()
        if name not in SKILL_NAMES:
            raise InvalidArgument(f"{field}[{index}].name", f"{spec.name!r} is not one of {', '.join(SKILL_NAMES)}")
        if name in seen:
            raise InvalidArgument(f"{field}[{index}].name", f"{name} is listed twice")
        seen.add(name)
        require_text(f"{field}[{index}].description", spec.description, max_len=4000)
        result.append(SkillRequest(name, spec.description.strip() or skill_by_name(name).description))
    return result


def golden_suite(request: pb.GeneratePolicyRequest) -> str:
    """The golden suite a policy request is held to: its `golden_suite`, else "training" for pi_T, else none."""
    name = request.golden_suite.strip()
    if name and name not in SUITES:
        raise InvalidArgument("golden_suite", f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}")
    if not name and request.kind == pb.POLICY_KIND_TRAINING:
        return "training"
    return name


def policy_goal(request: pb.GeneratePolicyRequest) -> tuple[str, list[str]]:
    """The goal text and strategy hints of a policy request."""
    require_text("task", request.task, max_len=4000)
    for index, hint in enumerate(request.strategy_hints):
        require_text(f"strategy_hints[{index}]", hint, max_len=2000)
    if request.kind == pb.POLICY_KIND_TRAINING:
        return TRAINING_GOAL, list(TRAINING_HINTS) + list(request.strategy_hints)
    if request.kind == pb.POLICY_KIND_TASK:
        require_text("task", request.task, required=True, max_len=4000)
        return request.task.strip(), list(request.strategy_hints)
    raise InvalidArgument("kind", "choose POLICY_KIND_TRAINING or POLICY_KIND_TASK")


def _summary(generation: Generation) -> dict:
    return {"rounds": generation.rounds, "passed": generation.passed, "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens}


def run_skill_functions(job: JobContext, skills: list[SkillRequest], generator: Generator, store: ArtifactStore,
                        model: str) -> None:
    code, transcript, failed = {}, [], []
    tokens = 0
    for index, skill in enumerate(skills):
        job.raise_if_cancelled()
        job.report_progress(index, len(skills), unit="skills", stage="generating", message=skill.name)
        generation = generator.skill_functions(skill.name, skill.description)
        transcript.append({"skill": skill.name, **_summary(generation), "messages": generation.transcript})
        tokens += generation.prompt_tokens + generation.completion_tokens
        job.set_metrics({f"{skill.name}/rounds": generation.rounds, f"{skill.name}/passed": float(generation.passed),
                         "tokens": tokens})
        if generation.code:
            code[skill.name] = generation.code
        if not generation.passed:
            failed.append(skill.name)
    if code:
        artifact = code_artifact("skill_functions", code, model=model, tests="", transcript=transcript,
                                 prompt_version=generator.settings.prompt_version)
        job.add_output("skill_functions", store.put_json(artifact, name="skill-functions.json"))
    else:
        job.add_output("transcript", store.put_json(transcript, name="transcript.json"))
    if failed:
        raise FailedPrecondition(f"no passing code for {', '.join(failed)} within the refinement budget; the best "
                                 "attempts and the transcript are kept in the job's outputs")
    job.report_progress(len(skills), len(skills), unit="skills", stage="done",
                        message=f"{len(skills)} skills, {tokens} tokens")


def run_policy(job: JobContext, goal: str, hints: list[str], skills: list[SkillRequest], generator: Generator,
               store: ArtifactStore, model: str, golden: str = "", golden_check=None) -> None:
    """`golden`: the suite's name (recorded), `golden_check(code)` -> problems (run in the sandbox)."""
    job.report_progress(0, 1, unit="policies", stage="generating", message=goal[:60])
    generation = generator.policy(goal, [(s.name, s.description) for s in skills], hints, golden=golden_check)
    job.set_metrics({"rounds": generation.rounds, "passed": float(generation.passed),
                     "tokens": generation.prompt_tokens + generation.completion_tokens})
    transcript = [{**_summary(generation), "golden_suite": golden, "golden_problems": generation.golden_problems,
                   "messages": generation.transcript}]
    if generation.code:
        artifact = code_artifact("policy", generation.code, model=model, tests=generation.test_code,
                                 transcript=transcript, prompt_version=generator.settings.prompt_version)
        job.add_output("policy", store.put_json(artifact, name="policy.json"))
    else:
        job.add_output("transcript", store.put_json(transcript, name="transcript.json"))
    if not generation.passed:
        raise FailedPrecondition(f"no policy passed its test and trace check within {generation.rounds} rounds; the "
                                 "best attempt and the transcript are kept in the job's outputs")
    job.report_progress(1, 1, unit="policies", stage="done", message=f"passed after {generation.rounds} round(s)")
