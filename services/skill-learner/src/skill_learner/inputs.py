"""Load and cross-check the artifacts of a TrainSkills job before any training starts.

Every mismatch is a FailedPrecondition that says what to fix:
- the reward-model bundle was trained for another input spec, or lacks a skill the code defines;
- a code artifact has the wrong role, or its code fails validation (codegen's validator);
- the skill functions do not define the fallback skill (Discoverer), which runs when no skill initiates;
- a checkpoint to resume from was made for other skills or another network input spec.
A corrupted artifact stays a CorruptArtifact (DATA_LOSS) and a missing one a NotFound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.generated import CodeArtifact, load_policy, load_skill_functions, parse_code_artifact
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.reward.bundle import RewardBundle, load_bundle

FALLBACK_SKILL = "Discoverer"
"""The skill the options runtime runs when no initiation holds; the code must define it."""


@dataclass(frozen=True)
class TrainingInputs:
    bundle: RewardBundle
    skill_code: dict[str, str]
    """Source of initiation/termination per skill."""
    policy_code: str
    """Source of select_skill (pi_T)."""
    skill_functions: CodeArtifact
    training_policy: CodeArtifact


def read_code_artifact(store: ArtifactStore, ref: ArtifactRef, field: str, role: str) -> CodeArtifact:
    """The parsed artifact; FailedPrecondition when it is not a code artifact of `role` or fails validation."""
    try:
        artifact = parse_code_artifact(store.read_bytes(ref))
    except (InvalidArgument, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FailedPrecondition(f"{field}: {ref.uri} is not a generated-code artifact ({error}); pass the output "
                                 "of a codegen GenerateSkillFunctions / GeneratePolicy job") from None
    if artifact.role != role:
        raise FailedPrecondition(f"{field}: {ref.uri} holds {artifact.role!r} code but {role!r} code is needed")
    try:
        if role == "policy":
            assert isinstance(artifact.code, str)
            load_policy(artifact.code)
        else:
            assert isinstance(artifact.code, dict)
            load_skill_functions(artifact.code)
    except InvalidArgument as error:
        raise FailedPrecondition(f"{field}: the generated code fails validation; regenerate it with codegen. "
                                 f"{error.message}") from None
    return artifact


def load_inputs(store: ArtifactStore, reward_models: ArtifactRef, skill_functions: ArtifactRef,
                training_policy: ArtifactRef, *, device: str, precision: str = "fp32") -> TrainingInputs:
    skills_artifact = read_code_artifact(store, skill_functions, "skill_functions", "skill_functions")
    policy_artifact = read_code_artifact(store, training_policy, "training_policy", "policy")
    assert isinstance(skills_artifact.code, dict) and isinstance(policy_artifact.code, str)
    if FALLBACK_SKILL not in skills_artifact.code:
        raise FailedPrecondition(f"skill_functions: the code defines {sorted(skills_artifact.code)} but not "
                                 f"{FALLBACK_SKILL}, which runs whenever no other skill may start")
    try:
        bundle = load_bundle(store, reward_models, device=device, precision=precision)
    except FailedPrecondition as error:
        raise FailedPrecondition(f"reward_models: {error.message}") from None
    missing = [skill for skill in skills_artifact.code if skill not in bundle.models]
    if missing:
        raise FailedPrecondition(f"reward_models: the bundle has no reward model for {missing} (it holds "
                                 f"{bundle.skills}); train those skills' reward models or drop them from the code")
    unknown = [skill for skill in skills_artifact.code if skill not in SKILL_NAMES]
    if unknown:
        raise FailedPrecondition(f"skill_functions: unknown skills {unknown}; skills are {list(SKILL_NAMES)}")
    return TrainingInputs(bundle=bundle, skill_code=dict(skills_artifact.code), policy_code=policy_artifact.code,
                          skill_functions=skills_artifact, training_policy=policy_artifact)
