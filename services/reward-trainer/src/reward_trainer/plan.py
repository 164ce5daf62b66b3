"""TrainRewardModels request -> a validated plan. Every problem names the request field."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from maestro.reward.v1 import reward_pb2 as pb
from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.reward.bundle import default_threshold_quantile
from maestro_common.reward.training import TrainingConfig, label_counts, no_usable_pairs, read_label_table, usable_pairs
from maestro_common.validation import require_artifact, require_range, require_text
from reward_trainer.config import RewardTrainerSettings

MAX_SKILLS = 64
MAX_LEARNING_RATE = 10.0
DEFAULTS = TrainingConfig()


@dataclass(frozen=True)
class TrainPlan:
    labels: ArtifactRef
    skills: tuple[str, ...]
    """In training (and bundle) order."""
    config: TrainingConfig
    threshold_quantiles: dict[str, float]
    """The threshold quantile of every skill in `skills` (request overrides, else the defaults)."""
    label_counts: dict[str, dict[str, int]]


def training_config(request: pb.RewardTrainingConfig, settings: RewardTrainerSettings) -> TrainingConfig:
    """The request's config with defaults filled in; InvalidArgument names `config.<field>`."""
    require_range("config.epochs", request.epochs, 1, settings.max_epochs, zero_means=str(DEFAULTS.epochs))
    require_range("config.batch_size", request.batch_size, 1, settings.max_batch_size,
                  zero_means=str(DEFAULTS.batch_size))
    if not math.isfinite(request.learning_rate) or not 0 <= request.learning_rate <= MAX_LEARNING_RATE:
        raise InvalidArgument("config.learning_rate", f"{request.learning_rate} is out of range; use a positive "
                              f"number up to {MAX_LEARNING_RATE:g} (or 0 for {DEFAULTS.learning_rate:g})")
    if not math.isfinite(request.validation_fraction) or not 0 <= request.validation_fraction <= 0.5:
        raise InvalidArgument("config.validation_fraction", f"{request.validation_fraction} is out of range; use "
                              f"a fraction in (0, 0.5] (or 0 for {DEFAULTS.validation_fraction})")
    require_range("config.early_stop_patience", request.early_stop_patience, 0, settings.max_epochs)
    device = request.device.strip() or settings.train_device
    if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        raise InvalidArgument("config.device", f"{request.device!r} is not a device; use cpu, cuda, cuda:N or "
                              "leave it empty for the service default")
    if device.startswith("cuda"):
        index = int(device[5:]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise FailedPrecondition(f"config.device: {device} was asked for but this replica has "
                                     f"{torch.cuda.device_count()} GPUs; use cpu or leave it empty")
    return TrainingConfig(
        epochs=request.epochs or DEFAULTS.epochs,
        batch_size=request.batch_size or DEFAULTS.batch_size,
        learning_rate=request.learning_rate or DEFAULTS.learning_rate,
        validation_fraction=request.validation_fraction or DEFAULTS.validation_fraction,
        early_stop_patience=request.early_stop_patience,
        seed=request.seed,
        device=device,
        precision=settings.train_precision,
    )


def _skills(request: pb.TrainRewardModelsRequest, counts: dict[str, dict[str, int]]) -> tuple[str, ...]:
    require_range("skills", len(request.skills), 0, MAX_SKILLS)
    if not request.skills:
        return tuple(counts)
    seen: set[str] = set()
    for index, name in enumerate(request.skills):
        field = f"skills[{index}]"
        require_text(field, name, required=True, max_len=64)
        if name in seen:
            raise InvalidArgument(field, f"{name!r} is listed twice")
        if name not in counts:
            raise InvalidArgument(field, f"{name!r} has no labels in this label table; it holds "
                                         f"{', '.join(counts) or 'no skills'}")
        seen.add(name)
    return tuple(request.skills)


def plan_from_request(request: pb.TrainRewardModelsRequest, settings: RewardTrainerSettings,
                      store: ArtifactStore) -> TrainPlan:
    require_artifact("labels", request.labels)
    labels = store.resolve(request.labels.uri, request.labels.sha256, uri_field="labels.uri",
                           sha256_field="labels.sha256")
    config = training_config(request.config, settings)
    for skill, q in request.threshold_quantiles.items():
        require_text(f"threshold_quantiles[{skill}]", skill, required=True, max_len=64)
        if not (math.isfinite(q) and 0.0 < q < 1.0):
            raise InvalidArgument(f"threshold_quantiles[{skill}]", f"{q} is out of range; use a quantile strictly "
                                                                   "between 0 and 1 (e.g. 0.85)")
    counts = label_counts(read_label_table(store, labels, columns=["skill", "label"]))
    if not counts:
        raise FailedPrecondition(f"label table {labels.uri} holds no labels; label some pairs first")
    skills = _skills(request, counts)
    for skill in request.threshold_quantiles:
        if skill not in skills:
            raise InvalidArgument(f"threshold_quantiles[{skill}]", f"{skill!r} is not one of the skills being "
                                                                   f"trained ({', '.join(skills)})")
    for skill in skills:
        if usable_pairs(counts[skill]) == 0:
            raise no_usable_pairs(skill, counts[skill])
    quantiles = {s: request.threshold_quantiles.get(s, default_threshold_quantile(s)) for s in skills}
    return TrainPlan(labels=labels, skills=skills, config=config, threshold_quantiles=quantiles,
                     label_counts={s: counts[s] for s in skills})
