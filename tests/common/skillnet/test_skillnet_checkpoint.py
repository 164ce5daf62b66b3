"""Checkpoints through the ArtifactStore: round trip, optimizer state, meta validation, corruption."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
import torch

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import CorruptArtifact, FailedPrecondition
from maestro_common.skillnet import (
    CHECKPOINT_FORMAT,
    INPUT_SPEC_VERSION,
    CheckpointMeta,
    SkillNetConfig,
    SkillNetwork,
    load_checkpoint,
    load_optimizer_state,
    save_checkpoint,
)

SMALL = SkillNetConfig(conv_channels=(8, 8, 8), screen_hidden_dim=32, screen_dim=32, stats_dim=16,
                       message_channels=(8, 8, 8), message_dim=16, core_dim=512, head_dim=32)


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(tmp_path / "artifacts")


def test_round_trip_gives_the_same_network_and_meta(store):
    torch.manual_seed(1)
    network = SkillNetwork(SMALL)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    network.value.bias.grad = torch.ones_like(network.value.bias)
    optimizer.step()
    meta = CheckpointMeta(env_steps=12_345, extra={"run": "r1"})
    ref = save_checkpoint(store, network, meta, optimizer_state=optimizer.state_dict())
    assert ref.media_type == "application/json"
    loaded, loaded_meta = load_checkpoint(store, ref)
    assert loaded.config == SMALL and not loaded.training
    assert loaded_meta.env_steps == 12_345 and loaded_meta.extra == {"run": "r1"}
    assert loaded_meta.input_spec_version == INPUT_SPEC_VERSION and loaded_meta.config == SMALL.to_json()
    for key, value in network.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    state = load_optimizer_state(store, ref)
    fresh = torch.optim.Adam(loaded.parameters(), lr=1e-4)
    fresh.load_state_dict(state)
    assert fresh.state_dict()["state"][len(list(network.parameters())) - 1]["step"] == 1
    assert save_checkpoint(store, network, meta, optimizer_state=optimizer.state_dict()) == ref  # content-addressed


def test_checkpoint_without_optimizer(store):
    ref = save_checkpoint(store, SkillNetwork(SMALL), {"env_steps": 7})
    assert load_optimizer_state(store, ref) is None
    assert load_checkpoint(store, ref)[1].env_steps == 7


def test_other_skills_or_input_spec_are_refused(store):
    network = SkillNetwork(SMALL)
    ref = save_checkpoint(store, network, CheckpointMeta(skill_names=("Discoverer", "Descender")))
    with pytest.raises(FailedPrecondition, match="trained for skills"):
        load_checkpoint(store, ref)
    ref = save_checkpoint(store, network, CheckpointMeta(input_spec_version="old-spec"))
    with pytest.raises(FailedPrecondition, match="input spec 'old-spec'"):
        load_checkpoint(store, ref)
    assert load_checkpoint(store, ref, input_spec_version="old-spec")[1].input_spec_version == "old-spec"


def test_not_a_checkpoint_and_corrupted_weights(store):
    other = store.put_json({"format": "something/1"}, name="other.json")
    with pytest.raises(FailedPrecondition, match=CHECKPOINT_FORMAT):
        load_checkpoint(store, other)
    ref = save_checkpoint(store, SkillNetwork(SMALL))
    manifest = store.read_json(ref)
    weights = ArtifactRef.from_dict(manifest["weights"])
    path = urlparse(weights.uri).path
    with open(path, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff\xff\xff\xff")
    with pytest.raises(CorruptArtifact):
        load_checkpoint(store, ref)
