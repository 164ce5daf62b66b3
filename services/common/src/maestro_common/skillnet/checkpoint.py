"""Skill-network checkpoints in the ArtifactStore: safetensors weights + JSON manifest (content-addressed).

A checkpoint is up to three artifacts: ``skillnet.safetensors`` (the state dict, the rendering atlas
included), optionally ``skillnet-optimizer.pt`` (a torch-saved optimizer state dict, loaded with
``weights_only=True``), and ``skillnet-checkpoint.json``, the manifest whose ref is the checkpoint's
handle:

    {"format": "maestro.skillnet-checkpoint/1", "meta": {CheckpointMeta}, "weights": {ArtifactRef},
     "optimizer": {ArtifactRef} | null}

The store writes atomically and verifies sha256 and size on every read (`CorruptArtifact`).
`load_checkpoint` refuses a checkpoint made for other skills or another input spec with
`FailedPrecondition`, naming both sides, because such a network would silently read its inputs wrong.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import CorruptArtifact, FailedPrecondition, InvalidArgument
from maestro_common.generated.contract import SKILL_NAMES
from maestro_common.skillnet.features import INPUT_SPEC_VERSION
from maestro_common.skillnet.network import SkillNetConfig, SkillNetwork

CHECKPOINT_FORMAT = "maestro.skillnet-checkpoint/1"
"""The manifest's `format`."""
SAFETENSORS_MEDIA_TYPE = "application/vnd.safetensors"
"""Media type of the weights artifact."""


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint was made for; stored in its manifest."""

    skill_names: tuple[str, ...] = SKILL_NAMES
    """Skills of the one-hot input, in index order."""
    input_spec_version: str = INPUT_SPEC_VERSION
    """The `encode_observations` version the network reads."""
    config: dict[str, Any] = field(default_factory=dict)
    """SkillNetConfig.to_json() of the network (filled in by save_checkpoint)."""
    env_steps: int = 0
    """Environment steps the network was trained on."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else the trainer records (JSON values): run id, learner steps, hyper-parameters."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {"skill_names": list(self.skill_names), "input_spec_version": self.input_spec_version,
                "config": dict(self.config), "env_steps": self.env_steps, "extra": dict(self.extra)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckpointMeta:
        """Inverse of `to_json`."""
        try:
            return cls(skill_names=tuple(data["skill_names"]), input_spec_version=str(data["input_spec_version"]),
                       config=dict(data["config"]), env_steps=int(data["env_steps"]), extra=dict(data.get("extra", {})))
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptArtifact(f"skill-network checkpoint meta is malformed: {error!r}") from error


def save_checkpoint(store: ArtifactStore, network: SkillNetwork, meta: CheckpointMeta | Mapping[str, Any] | None = None,
                    *, optimizer_state: Mapping[str, Any] | None = None) -> ArtifactRef:
    """Stores `network` (and the optimizer state, if given); returns the manifest's ref."""
    if meta is None:
        meta = CheckpointMeta()
    elif not isinstance(meta, CheckpointMeta):
        meta = CheckpointMeta(**{key: meta[key] for key in meta if key != "config"})
    if meta.env_steps < 0:
        raise InvalidArgument("meta.env_steps", f"must be >= 0, got {meta.env_steps}")
    meta = CheckpointMeta(skill_names=tuple(meta.skill_names), input_spec_version=meta.input_spec_version,
                          config=network.config.to_json(), env_steps=int(meta.env_steps), extra=dict(meta.extra))
    state = {key: value.detach().to("cpu").contiguous() for key, value in network.state_dict().items()}
    weights = store.put_bytes(save_safetensors(state, metadata={"format": CHECKPOINT_FORMAT}),
                              name="skillnet.safetensors", media_type=SAFETENSORS_MEDIA_TYPE)
    optimizer = None
    if optimizer_state is not None:
        buffer = io.BytesIO()
        torch.save(dict(optimizer_state), buffer)
        optimizer = store.put_bytes(buffer.getvalue(), name="skillnet-optimizer.pt")
    manifest = {"format": CHECKPOINT_FORMAT, "meta": meta.to_json(), "weights": weights.to_dict(),
                "optimizer": optimizer.to_dict() if optimizer else None}
    return store.put_json(manifest, name="skillnet-checkpoint.json")


def read_manifest(store: ArtifactStore, ref: ArtifactRef) -> dict[str, Any]:
    """The verified manifest of a checkpoint."""
    manifest = store.read_json(ref)
    if not isinstance(manifest, dict) or manifest.get("format") != CHECKPOINT_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise FailedPrecondition(f"artifact {ref.uri} is not a skill-network checkpoint (format {found!r}, "
                                 f"expected {CHECKPOINT_FORMAT!r})")
    return manifest


def check_meta(meta: CheckpointMeta, skill_names: Sequence[str], input_spec_version: str) -> None:
    """FailedPrecondition unless the checkpoint was made for these skills and this input spec."""
    if tuple(meta.skill_names) != tuple(skill_names):
        raise FailedPrecondition(f"checkpoint was trained for skills {list(meta.skill_names)} but this code uses "
                                 f"{list(skill_names)}; load a checkpoint trained with the same skill list")
    if meta.input_spec_version != input_spec_version:
        raise FailedPrecondition(f"checkpoint reads input spec {meta.input_spec_version!r} but this code encodes "
                                 f"{input_spec_version!r}; retrain or use the matching code version")


def load_checkpoint(store: ArtifactStore, ref: ArtifactRef, device: torch.device | str = "cpu", *,
                    skill_names: Sequence[str] = SKILL_NAMES, input_spec_version: str = INPUT_SPEC_VERSION
                    ) -> tuple[SkillNetwork, CheckpointMeta]:
    """(network on `device`, in eval mode; meta) of a checkpoint; see the module docstring for errors."""
    manifest = read_manifest(store, ref)
    meta = CheckpointMeta.from_json(manifest.get("meta", {}))
    check_meta(meta, skill_names, input_spec_version)
    network = SkillNetwork(SkillNetConfig.from_json(meta.config))
    state = load_safetensors(store.read_bytes(ArtifactRef.from_dict(manifest["weights"])))
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise CorruptArtifact(f"checkpoint weights do not fit its config: {error}") from error
    return network.to(device).eval(), meta


def load_optimizer_state(store: ArtifactStore, ref: ArtifactRef) -> dict[str, Any] | None:
    """The optimizer state dict saved with a checkpoint (None if none was saved)."""
    manifest = read_manifest(store, ref)
    if not manifest.get("optimizer"):
        return None
    data = store.read_bytes(ArtifactRef.from_dict(manifest["optimizer"]))
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
