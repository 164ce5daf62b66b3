"""Bundle export and load: round trip, the one scoring path, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import CorruptArtifact, FailedPrecondition, InvalidArgument
from maestro_common.reward.bundle import (
    SkillMetadata,
    artifact_slug,
    default_threshold_quantile,
    export_skill,
    load_bundle,
    read_bundle_manifest,
    write_bundle,
)
from maestro_common.reward.model import INPUT_SPEC_VERSION, RewardModel, depth_sign, encode_messages, predict
from maestro_common.reward.shaping import ShapingParams, shape_rewards


def _metadata(skill: str, **overrides) -> SkillMetadata:
    base = dict(skill=skill, input_spec_version=INPUT_SPEC_VERSION, model_config=RewardModel().config.to_json(),
                weights_sha256="", mean=0.05, std=0.02, quantiles={"0.85": 0.5}, threshold_quantile=0.85,
                threshold=0.5, training={"epochs": 1}, metrics={"val_accuracy": 0.9})
    return SkillMetadata(**(base | overrides))


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture
def bundle_ref(store):
    skills = {}
    for seed, skill in enumerate(("Descender", "Discoverer")):
        torch.manual_seed(seed)
        skills[skill] = export_skill(store, RewardModel(), _metadata(skill))
    return write_bundle(store, skills)


def test_round_trip_scores_like_the_exported_models(store):
    torch.manual_seed(3)
    model = RewardModel().eval()
    ref = write_bundle(store, {"Descender": export_skill(store, model, _metadata("Descender"))})
    manifest = read_bundle_manifest(store, ref)
    assert manifest["input_spec_version"] == INPUT_SPEC_VERSION
    assert set(manifest["skills"]["Descender"]) == {"weights", "metadata"}
    bundle = load_bundle(store, ref, input_spec_version=INPUT_SPEC_VERSION, device="cpu")
    assert bundle.skills == ["Descender"] and bundle.metadata["Descender"].metrics["val_accuracy"] == 0.9
    messages, depth = ["", "You kill the newt!", "", "The door opens."], [0, 1, 0, -2]
    raw, shaped = bundle.score([], messages, depth, [1, 2, 3, 0])["Descender"]
    expected = predict(model, encode_messages(messages), depth_sign(depth))
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(shaped, shape_rewards(raw, [1, 2, 3, 1], bundle.metadata["Descender"].shaping))
    assert raw[0] == raw[2]  # the same (message, sign) gets the same reward


def test_score_returns_every_requested_skill_in_order(store, bundle_ref):
    bundle = load_bundle(store, bundle_ref, input_spec_version=INPUT_SPEC_VERSION)
    result = bundle.score(["Discoverer", "Descender"], ["a", "b"], [0, 1], None)
    assert list(result) == ["Discoverer", "Descender"]
    assert all(raw.dtype == np.float32 and shaped.shape == (2,) for raw, shaped in result.values())
    assert not np.array_equal(result["Discoverer"][0], result["Descender"][0])
    with pytest.raises(InvalidArgument, match=r"skills\[0\]: 'Merchant' is not in this bundle"):
        bundle.score(["Merchant"], ["a"], [0], None)


def test_a_mismatched_input_spec_version_is_refused(store, bundle_ref):
    with pytest.raises(FailedPrecondition, match="input spec"):
        load_bundle(store, bundle_ref, input_spec_version="msg128-v0")


def test_a_corrupted_weights_file_is_refused(store, bundle_ref):
    entry = read_bundle_manifest(store, bundle_ref)["skills"]["Descender"]["weights"]
    path = Path(entry["uri"].removeprefix("file://"))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifact):
        load_bundle(store, bundle_ref, input_spec_version=INPUT_SPEC_VERSION)


def test_an_artifact_that_is_not_a_bundle_is_refused(store):
    ref = store.put_json({"hello": 1}, name="other.json")
    with pytest.raises(FailedPrecondition, match="not a reward-model bundle"):
        load_bundle(store, ref)
    ref = store.put_bytes(b"\x00\x01", name="x.json")
    with pytest.raises(FailedPrecondition):
        load_bundle(store, ArtifactRef.from_dict(ref.to_dict()))


def test_threshold_defaults_and_names():
    assert default_threshold_quantile("Discoverer") == 0.95
    assert default_threshold_quantile("Descender") == 0.85 == default_threshold_quantile("Merchant")
    assert artifact_slug("Gold Finder/2") == "gold-finder-2"
    assert _metadata("X").shaping == ShapingParams(mean=0.05, std=0.02, threshold=0.5)
