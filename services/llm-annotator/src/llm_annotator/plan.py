"""AnnotateDataset request -> a validated plan. Every problem names the request field."""

from __future__ import annotations

from dataclasses import dataclass

from llm_annotator.annotate import AnnotationPlan, SkillPreference
from llm_annotator.config import AnnotatorSettings
from llm_annotator.judge import JudgeSettings
from llm_annotator.observations import DEFAULT_INTERVAL
from llm_annotator.prompts import load_prompt
from maestro.annotator.v1 import annotator_pb2 as pb
from maestro_common.artifacts import ArtifactStore
from maestro_common.datasets import read_manifest
from maestro_common.errors import InvalidArgument
from maestro_common.nethack.skills import GOD_CLAUSE, skill_by_name
from maestro_common.validation import require_artifact, require_range, require_text

MAX_PAIRS = 1_000_000
MAX_SKILLS = 32
MODE_NAMES = {
    pb.JUDGE_MODE_PAIRWISE_COT: "pairwise_cot",
    pb.JUDGE_MODE_PAIRWISE_LOGPROB: "pairwise_logprob",
    pb.JUDGE_MODE_POINTWISE_LOGPROB: "pointwise_logprob",
}


@dataclass(frozen=True)
class LlmChoice:
    """Which LLM a job uses: the service's own (empty fields) or an OpenAI-compatible endpoint."""

    model: str = ""
    base_url: str = ""


def _preferences(request: pb.AnnotateDatasetRequest) -> tuple[SkillPreference, ...]:
    if not request.skills:
        raise InvalidArgument("skills", "at least one skill is required (e.g. name: Descender)")
    require_range("skills", len(request.skills), 1, MAX_SKILLS)
    seen, result = set(), []
    for i, spec in enumerate(request.skills):
        field = f"skills[{i}]"
        require_text(f"{field}.name", spec.name, required=True, max_len=64)
        require_text(f"{field}.reward_modifier", spec.reward_modifier, max_len=4000)
        if spec.name.lower() in seen:
            raise InvalidArgument(f"{field}.name", f"{spec.name!r} is listed twice")
        seen.add(spec.name.lower())
        if spec.reward_modifier.strip():
            result.append(SkillPreference(spec.name, f"{spec.reward_modifier.strip()} {GOD_CLAUSE}"))
        else:
            known = skill_by_name(spec.name)  # InvalidArgument("skills", ...) lists the built-in skills
            result.append(SkillPreference(known.name, known.judge_preference))
    return tuple(result)


def plan_from_request(request: pb.AnnotateDatasetRequest, settings: AnnotatorSettings,
                      store: ArtifactStore) -> tuple[AnnotationPlan, JudgeSettings, LlmChoice]:
    require_artifact("dataset", request.dataset)
    dataset = store.resolve(request.dataset.uri, request.dataset.sha256, uri_field="dataset.uri",
                            sha256_field="dataset.sha256")
    read_manifest(store, dataset)  # refuses a corrupted or non-dataset artifact before any work
    skills = _preferences(request)
    require_range("num_pairs", request.num_pairs, 1, MAX_PAIRS)
    if request.judge_mode == pb.JUDGE_MODE_UNSPECIFIED:
        mode = settings.judge_mode
    elif request.judge_mode in MODE_NAMES:
        mode = MODE_NAMES[request.judge_mode]
    else:
        raise InvalidArgument("judge_mode", f"unknown value {request.judge_mode}; use one of "
                              f"{', '.join(pb.JudgeMode.Name(v) for v in MODE_NAMES)}")
    template = load_prompt(mode, request.prompt_version)
    require_range("snapshot_interval", request.snapshot_interval, 1, 10_000, zero_means=str(DEFAULT_INTERVAL))
    require_range("tie_margin", request.tie_margin, 0.0, 1.0)
    llm = request.llm
    require_range("llm.temperature", llm.temperature, 0.0, 2.0)
    require_range("llm.max_tokens", llm.max_tokens, 1, 8192, zero_means="512")
    require_text("llm.base_url", llm.base_url, max_len=2048)
    require_text("llm.model", llm.model, max_len=256)
    if llm.base_url and not llm.base_url.startswith(("http://", "https://")):
        raise InvalidArgument("llm.base_url", "must start with http:// or https://")
    if llm.base_url and not llm.model:
        raise InvalidArgument("llm.model", "required with llm.base_url: the model name that server serves")
    if llm.model and not llm.base_url and llm.model not in ("embedded", settings.llm_model):
        raise InvalidArgument("llm.model", f"this service serves {settings.llm_model!r}; give llm.base_url "
                              "to use another model from an OpenAI-compatible server")
    plan = AnnotationPlan(dataset=dataset, skills=skills, num_pairs=request.num_pairs, mode=mode,
                          snapshot_interval=request.snapshot_interval or DEFAULT_INTERVAL,
                          prompt_version=template.version, seed=request.seed)
    judge = JudgeSettings(temperature=llm.temperature or 0.1, max_tokens=llm.max_tokens or 512,
                          tie_margin=request.tie_margin or settings.tie_margin, seed=llm.seed or request.seed)
    return plan, judge, LlmChoice(model=llm.model if llm.base_url else "", base_url=llm.base_url)
