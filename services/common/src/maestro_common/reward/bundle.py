"""Reward-model bundles: how trained reward models are written to, and loaded from, the artifact store.

Per skill, two artifacts:
- `reward-<skill>.safetensors`: the model's weights;
- `reward-<skill>.json`: metadata — skill, input-spec version, model sizes, the sha256 of the
  weights, normalisation mean/std (over the deduplicated observations), the quantile table of
  the normalised rewards, the threshold and the quantile it came from, the shaping constants,
  the training config and the training metrics (validation accuracy among them).

A bundle is one JSON manifest (`reward-models.json`) naming every skill's two artifacts as
ArtifactRef dicts. `load_bundle` verifies every byte through the store (a corrupt file is refused
with DATA_LOSS) and refuses a bundle built for another input-spec version (FAILED_PRECONDITION).
`RewardBundle.score` is the one scoring path: the Score RPC and the skill-learner both call it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.reward.model import (
    INPUT_SPEC_VERSION,
    ModelConfig,
    RewardModel,
    depth_sign,
    encode_messages,
    predict,
    resolve_device,
)
from maestro_common.reward.shaping import DEFAULT_BETA, DEFAULT_SCALE, ShapingParams, shape_rewards

BUNDLE_KIND = "maestro.reward-models"
BUNDLE_FORMAT = 1
SAFETENSORS_MEDIA_TYPE = "application/vnd.safetensors"
DEFAULT_THRESHOLD_QUANTILE = 0.85
THRESHOLD_QUANTILES = {"Discoverer": 0.95}
"""Per-skill defaults of the threshold quantile; any other skill uses `DEFAULT_THRESHOLD_QUANTILE`."""


def default_threshold_quantile(skill: str) -> float:
    return THRESHOLD_QUANTILES.get(skill, DEFAULT_THRESHOLD_QUANTILE)


def artifact_slug(skill: str) -> str:
    """A name-safe form of a skill for artifact names ("Descender" -> "descender")."""
    slug = re.sub(r"[^a-z0-9]+", "-", skill.lower()).strip("-")
    return slug[:64] or "skill"


@dataclass(frozen=True)
class SkillMetadata:
    """The JSON document stored next to a skill's weights."""

    skill: str
    input_spec_version: str
    model_config: dict[str, Any]
    weights_sha256: str
    mean: float
    std: float
    quantiles: dict[str, float]
    threshold_quantile: float
    threshold: float
    beta: float = DEFAULT_BETA
    scale: float = DEFAULT_SCALE
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def shaping(self) -> ShapingParams:
        return ShapingParams(mean=self.mean, std=self.std, threshold=self.threshold, beta=self.beta, scale=self.scale)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SkillMetadata:
        try:
            return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})
        except TypeError as error:
            raise FailedPrecondition(f"reward-model metadata is incomplete ({error}); re-train the bundle") from None


@dataclass(frozen=True)
class SkillArtifacts:
    """One trained skill in the store: its weights and its metadata."""

    weights: ArtifactRef
    metadata: ArtifactRef

    def to_json(self) -> dict[str, Any]:
        return {"weights": self.weights.to_dict(), "metadata": self.metadata.to_dict()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SkillArtifacts:
        return cls(weights=ArtifactRef.from_dict(data["weights"]), metadata=ArtifactRef.from_dict(data["metadata"]))


def export_skill(store: ArtifactStore, model: RewardModel, metadata: SkillMetadata) -> SkillArtifacts:
    """Write a skill's weights and metadata; `metadata.weights_sha256` is filled in here."""
    state = {name: tensor.detach().to("cpu").contiguous() for name, tensor in model.state_dict().items()}
    header = {"skill": metadata.skill, "input_spec_version": metadata.input_spec_version}
    blob = save_safetensors(state, metadata=header)
    slug = artifact_slug(metadata.skill)
    weights = store.put_bytes(blob, name=f"reward-{slug}.safetensors", media_type=SAFETENSORS_MEDIA_TYPE)
    data = metadata.to_json() | {"weights_sha256": weights.sha256}
    meta_ref = store.put_json(data, name=f"reward-{slug}.json")
    return SkillArtifacts(weights=weights, metadata=meta_ref)


def write_bundle(store: ArtifactStore, skills: Mapping[str, SkillArtifacts], *,
                 input_spec_version: str = INPUT_SPEC_VERSION, details: Mapping[str, Any] | None = None) -> ArtifactRef:
    """Write the bundle manifest listing `skills` (in the given order)."""
    if not skills:
        raise InvalidArgument("skills", "a bundle needs at least one trained skill")
    manifest = {
        "kind": BUNDLE_KIND,
        "format_version": BUNDLE_FORMAT,
        "input_spec_version": input_spec_version,
        "skill_order": list(skills),
        "skills": {name: artifacts.to_json() for name, artifacts in skills.items()},
        "details": dict(details or {}),
    }
    return store.put_json(manifest, name="reward-models.json")


def read_bundle_manifest(store: ArtifactStore, ref: ArtifactRef) -> dict[str, Any]:
    """The verified manifest; FailedPrecondition when the artifact is not a reward-model bundle."""
    try:
        manifest = store.read_json(ref)
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("kind") != BUNDLE_KIND:
        raise FailedPrecondition(f"artifact {ref.uri} is not a reward-model bundle; pass the \"reward_models\" "
                                 "output of a TrainRewardModels job")
    if manifest.get("format_version") != BUNDLE_FORMAT:
        raise FailedPrecondition(f"bundle {ref.uri} has format {manifest.get('format_version')}; this release "
                                 f"reads format {BUNDLE_FORMAT}")
    return manifest


class RewardBundle:
    """Loaded reward models of several skills, with their shaping parameters, on one device."""

    def __init__(self, ref: ArtifactRef | None, input_spec_version: str, metadata: dict[str, SkillMetadata],
                 models: dict[str, RewardModel], device: torch.device, *, precision: str = "fp32",
                 batch_size: int = 8192):
        self.ref, self.input_spec_version = ref, input_spec_version
        self.metadata, self.models, self.device = metadata, models, device
        self.precision, self.batch_size = precision, batch_size
        self._lock = threading.Lock()

    @property
    def skills(self) -> list[str]:
        return list(self.models)

    def check_skills(self, skill_names: Sequence[str], field_name: str = "skills") -> list[str]:
        """The skills to score (all when empty); InvalidArgument names an unknown one."""
        if not skill_names:
            return self.skills
        for index, name in enumerate(skill_names):
            if name not in self.models:
                raise InvalidArgument(f"{field_name}[{index}]", f"{name!r} is not in this bundle; it holds "
                                                                f"{', '.join(self.skills)}")
        return list(skill_names)

    def raw(self, skill: str, message_bytes: torch.Tensor, signs: torch.Tensor) -> np.ndarray:
        """Raw rewards of already-encoded inputs for one skill."""
        return predict(self.models[skill], message_bytes, signs, batch_size=self.batch_size, precision=self.precision)

    def score(self, skill_names: Sequence[str], messages: Sequence[str],
              depth_changes: Sequence[int] | np.ndarray,
              message_counts: Sequence[int] | np.ndarray | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{skill: (raw, shaped)}, float32 arrays in input order; counts default to 1.

        Each distinct (message, depth sign) is run through the network once per skill.
        """
        skills = self.check_skills(skill_names)
        n = len(messages)
        if len(depth_changes) != n or (message_counts is not None and len(message_counts) != n):
            raise InvalidArgument("observations", "messages, depth changes and message counts differ in length")
        counts = np.ones(n, dtype=np.int64) if message_counts is None else np.asarray(message_counts, dtype=np.int64)
        signs = depth_sign(depth_changes).numpy()
        keys: dict[tuple[str, int], int] = {}
        inverse = np.fromiter((keys.setdefault(key, len(keys)) for key in zip(messages, signs.tolist())),
                              dtype=np.int64, count=n)
        unique = list(keys)
        tokens = encode_messages([message for message, _ in unique])
        unique_signs = torch.tensor([sign for _, sign in unique], dtype=torch.int8)
        result: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for skill in skills:
            raw = self.raw(skill, tokens, unique_signs)[inverse] if n else np.zeros(0, dtype=np.float32)
            result[skill] = (raw, shape_rewards(raw, counts, self.metadata[skill].shaping))
        return result


def load_bundle(store: ArtifactStore, ref: ArtifactRef, *, input_spec_version: str = INPUT_SPEC_VERSION,
                device: str | torch.device | None = "cpu", precision: str = "fp32",
                batch_size: int = 8192) -> RewardBundle:
    """Load and verify a bundle; refuses another input-spec version and any corrupted artifact."""
    manifest = read_bundle_manifest(store, ref)
    version = manifest.get("input_spec_version")
    if version != input_spec_version:
        raise FailedPrecondition(f"bundle {ref.uri} was trained for input spec {version!r} but the caller reads "
                                 f"{input_spec_version!r}; re-train the reward models or use a matching release")
    target = resolve_device(device)
    metadata: dict[str, SkillMetadata] = {}
    models: dict[str, RewardModel] = {}
    for skill in manifest.get("skill_order") or list(manifest["skills"]):
        artifacts = SkillArtifacts.from_json(manifest["skills"][skill])
        meta = SkillMetadata.from_json(store.read_json(artifacts.metadata))
        if meta.skill != skill or meta.input_spec_version != version:
            raise FailedPrecondition(f"bundle {ref.uri}: metadata of {skill!r} says skill {meta.skill!r}, input "
                                     f"spec {meta.input_spec_version!r}; the bundle is inconsistent, re-train it")
        if meta.weights_sha256 != artifacts.weights.sha256:
            raise FailedPrecondition(f"bundle {ref.uri}: the weights of {skill!r} are not the ones its metadata "
                                     "was written for; re-train the bundle")
        model = RewardModel(ModelConfig.from_json(meta.model_config))
        model.load_state_dict(load_safetensors(store.read_bytes(artifacts.weights)))
        models[skill] = model.to(target).eval()
        metadata[skill] = meta
    return RewardBundle(ref, version, metadata, models, target, precision=precision, batch_size=batch_size)
