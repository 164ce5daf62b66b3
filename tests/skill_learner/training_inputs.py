"""Real TrainSkills inputs for tests and benchmarks: a reward-model bundle and codegen code artifacts.

The bundle is trained (briefly) on synthetic preference labels with a known rule
(`maestro_common.reward.synthetic`: Descender prefers going down, Discoverer kills and gold on the
same level, ...) and exported exactly as the reward-trainer does; the code is the reference
hand-written skill functions and pi_T, packaged as the codegen code artifact.
"""

from __future__ import annotations

import sys
from pathlib import Path

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.generated import code_artifact
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.reward.bundle import SkillMetadata, default_threshold_quantile, export_skill, write_bundle
from maestro_common.reward.model import INPUT_SPEC_VERSION
from maestro_common.reward.synthetic import synthetic_label_table
from maestro_common.reward.training import TrainingConfig, pair_set, shaping_stats, train_skill, training_record

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common" / "generated"))
from generated_golden import SKILL_CODE, TRAINING_POLICY  # noqa: E402


def make_reward_bundle(store: ArtifactStore, *, pairs: int = 2000, epochs: int = 3, seed: int = 0,
                       skills: tuple[str, ...] = SKILL_NAMES, device: str = "cpu") -> ArtifactRef:
    """Train one small reward model per skill on synthetic labels and write the bundle."""
    table = synthetic_label_table(pairs, skills, seed=seed)
    config = TrainingConfig(epochs=epochs, batch_size=500, learning_rate=1e-3, seed=seed, device=device)
    exported = {}
    for skill in skills:
        result = train_skill(pair_set(table, skill), config)
        quantile = default_threshold_quantile(skill)
        stats = shaping_stats(result.model, table, skill, quantile, device=device)
        metadata = SkillMetadata(skill=skill, input_spec_version=INPUT_SPEC_VERSION,
                                 model_config=config.model.to_json(), weights_sha256="", mean=stats.mean,
                                 std=stats.std, quantiles=stats.quantiles, threshold_quantile=quantile,
                                 threshold=stats.threshold, training=training_record(config), metrics=result.metrics)
        exported[skill] = export_skill(store, result.model, metadata)
    return write_bundle(store, exported)


def make_code_artifacts(store: ArtifactStore, *, skill_code: dict[str, str] | None = None,
                        policy_code: str | None = None) -> tuple[ArtifactRef, ArtifactRef]:
    """(skill_functions, training_policy) artifacts, in the format codegen writes."""
    skills = code_artifact("skill_functions", skill_code or dict(SKILL_CODE), model="hand-written",
                           prompt_version="reference", tests="", transcript=[])
    policy = code_artifact("policy", policy_code or TRAINING_POLICY, model="hand-written", prompt_version="reference",
                           tests="", transcript=[])
    return (store.put_json(skills, name="skill-functions.json"), store.put_json(policy, name="training-policy.json"))
