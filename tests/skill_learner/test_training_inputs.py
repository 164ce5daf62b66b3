"""Artifacts of a TrainSkills job are cross-checked before training: mismatches are FAILED_PRECONDITION."""

from __future__ import annotations

import pytest
from training_inputs import SKILL_CODE, make_code_artifacts, make_reward_bundle

from maestro_common.artifacts import ArtifactStore
from maestro_common.errors import FailedPrecondition
from maestro_common.reward.bundle import SkillArtifacts, read_bundle_manifest, write_bundle
from skill_learner.inputs import load_inputs


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ArtifactStore(str(tmp_path_factory.mktemp("artifacts")))


@pytest.fixture(scope="module")
def bundle(store):
    return make_reward_bundle(store, pairs=300, epochs=1)


def test_matching_inputs_load(store, bundle):
    skills, policy = make_code_artifacts(store)
    inputs = load_inputs(store, bundle, skills, policy, device="cpu")
    assert set(inputs.skill_code) == set(SKILL_CODE) and "def select_skill" in inputs.policy_code
    assert inputs.bundle.skills == list(SKILL_CODE)


def test_a_reward_bundle_of_another_input_spec_is_refused(store, bundle):
    manifest = read_bundle_manifest(store, bundle)
    skills = {name: SkillArtifacts.from_json(data) for name, data in manifest["skills"].items()}
    other = write_bundle(store, skills, input_spec_version="msg128-depthsign-v0")
    code, policy = make_code_artifacts(store)
    with pytest.raises(FailedPrecondition, match="reward_models: .*input spec 'msg128-depthsign-v0'"):
        load_inputs(store, other, code, policy, device="cpu")


def test_code_that_fails_validation_is_refused(store, bundle):
    bad = dict(SKILL_CODE) | {"Descender": "import os\ndef initiation(ctx):\n    return True\n"}
    code, policy = make_code_artifacts(store, skill_code=bad)
    with pytest.raises(FailedPrecondition, match="skill_functions: the generated code fails validation"):
        load_inputs(store, bundle, code, policy, device="cpu")


def test_code_of_the_wrong_role_and_missing_skills_are_refused(store, bundle):
    code, policy = make_code_artifacts(store)
    with pytest.raises(FailedPrecondition, match="training_policy: .* holds 'skill_functions' code"):
        load_inputs(store, bundle, code, code, device="cpu")
    partial = make_reward_bundle(store, pairs=200, epochs=1, skills=("Discoverer", "Descender"))
    with pytest.raises(FailedPrecondition, match="no reward model for"):
        load_inputs(store, partial, code, policy, device="cpu")
    no_fallback = {k: v for k, v in SKILL_CODE.items() if k != "Discoverer"}
    code_without, _ = make_code_artifacts(store, skill_code=no_fallback)
    with pytest.raises(FailedPrecondition, match="not Discoverer"):
        load_inputs(store, bundle, code_without, policy, device="cpu")


def test_an_artifact_that_is_not_code_is_refused(store, bundle):
    _, policy = make_code_artifacts(store)
    not_code = store.put_json({"hello": 1}, name="x.json")
    with pytest.raises(FailedPrecondition, match="not a generated-code artifact"):
        load_inputs(store, bundle, not_code, policy, device="cpu")
