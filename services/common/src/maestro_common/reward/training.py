"""Fitting one reward model per skill to preference labels (plain logic: no gRPC, no job store).

For a pair (first, second) with label y in {first: 0, second: 1, tie: 0.5}, the model's two
rewards go through a softmax and the loss is the cross-entropy against [1 - y, y]. Pairs labelled
`unknown` carry no preference and are dropped (and counted). A seeded share of the pairs is held
out; validation accuracy is measured on held-out pairs that are not ties. With a patience, training
stops once validation has not improved for that many epochs and the best weights are kept.

A run is a function of (labels, config): the split, the initial weights and the batch order all
come from `config.seed`, so training twice on the same machine gives the same weights.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from maestro_common.artifacts import ArtifactRef, ArtifactStore
from maestro_common.errors import FailedPrecondition
from maestro_common.reward.model import (
    INPUT_SPEC_VERSION,
    ModelConfig,
    RewardModel,
    depth_sign,
    encode_messages,
    predict,
    resolve_device,
)
from maestro_common.reward.shaping import ShapingStats, fit_shaping

if TYPE_CHECKING:  # pyarrow is imported where label tables are read, so the GPU path needs only torch
    import pyarrow as pa

LABEL_TARGETS = {"first": 0.0, "second": 1.0, "tie": 0.5}
"""Probability that the second observation is preferred, per label; `unknown` is dropped."""
REQUIRED_COLUMNS = ("skill", "label", "first_id", "second_id", "first_message", "second_message",
                    "first_depth_change", "second_depth_change")
CHECK_EVERY_STEPS = 50
"""Steps between checks for a non-finite loss and for cancellation (one device sync each)."""


@dataclass(frozen=True)
class TrainingConfig:
    """How one skill's model is trained (the defaults are the paper's)."""

    epochs: int = 20
    batch_size: int = 1000
    """Pairs per optimiser step."""
    learning_rate: float = 1e-5
    validation_fraction: float = 0.1
    early_stop_patience: int = 0
    """Epochs without validation improvement before stopping (keeping the best weights); 0 disables."""
    seed: int = 0
    device: str = "auto"
    """"cpu", "cuda", "cuda:N" or "auto" (cuda when available)."""
    precision: str = "fp32"
    """"bf16" trains under bfloat16 autocast on CUDA (weights stay fp32); ignored on the CPU."""
    dedupe_messages: bool = True
    """Run each distinct message of a batch through the CNN once (messages repeat heavily)."""
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_json(self) -> dict:
        return asdict(self) | {"model": self.model.to_json()}


class TrainingDiverged(FailedPrecondition):
    """The loss became NaN or infinite; names the skill and the step."""

    def __init__(self, skill: str, epoch: int, step: int, value: float, learning_rate: float):
        super().__init__(f"training {skill!r} diverged: the loss was {value} at epoch {epoch}, step {step} "
                         f"(learning_rate {learning_rate:g}); lower config.learning_rate and train again")
        self.skill, self.epoch, self.step = skill, epoch, step


# ----- labels ---------------------------------------------------------------------------------

def read_label_table(store: ArtifactStore, ref: ArtifactRef, columns: list[str] | None = None) -> pa.Table:
    """The verified label table (only `columns` when given); FailedPrecondition if it is not one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = store.read_bytes(ref)
    try:
        table = pq.read_table(io.BytesIO(data), columns=columns)
    except (pa.ArrowInvalid, pa.ArrowException, KeyError) as error:
        raise FailedPrecondition(f"artifact {ref.uri} is not a label table with the needed columns ({error}); "
                                 "pass the \"labels\" output of an AnnotateDataset job") from None
    missing = [c for c in (columns or REQUIRED_COLUMNS) if c not in table.column_names]
    if missing:
        raise FailedPrecondition(f"label table {ref.uri} lacks the columns {', '.join(missing)}; it was written by "
                                 "an older annotator: label the dataset again")
    return table


def label_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    """{skill: {label: count}}, skills in order of first appearance."""
    counts: dict[str, dict[str, int]] = {}
    for skill, label in zip(table.column("skill").to_pylist(), table.column("label").to_pylist()):
        per = counts.setdefault(skill, {})
        per[label] = per.get(label, 0) + 1
    return counts


def usable_pairs(counts: dict[str, int]) -> int:
    return sum(n for label, n in counts.items() if label in LABEL_TARGETS)


def no_usable_pairs(skill: str, counts: dict[str, int]) -> FailedPrecondition:
    found = ", ".join(f"{label} {n}" for label, n in sorted(counts.items())) or "no rows"
    return FailedPrecondition(f"skill {skill!r} has no usable labelled pairs ({found}); pairs labelled unknown "
                              "are dropped: label more pairs for it or leave it out of skills")


@dataclass
class PairSet:
    """The labelled pairs of one skill, encoded: messages once each, pairs as indices into them."""

    skill: str
    tokens: torch.Tensor
    """uint8 [U, 256]: every distinct message once."""
    first_index: torch.Tensor
    second_index: torch.Tensor
    first_sign: torch.Tensor
    second_sign: torch.Tensor
    target: torch.Tensor
    """float32 [N]: probability that the second observation is preferred."""
    dropped_unknown: int = 0

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @property
    def ties(self) -> int:
        return int((self.target == 0.5).sum())

    def to(self, device: torch.device) -> PairSet:
        moved = {name: getattr(self, name).to(device) for name in
                 ("tokens", "first_index", "second_index", "first_sign", "second_sign", "target")}
        return replace(self, **moved)


def pair_set(table: pa.Table, skill: str) -> PairSet:
    """The usable pairs of `skill` in a label table; FailedPrecondition when there are none."""
    import pyarrow.compute as pc

    rows = table.filter(pc.equal(table.column("skill"), skill))
    labels = rows.column("label").to_pylist()
    keep = [i for i, label in enumerate(labels) if label in LABEL_TARGETS]
    if not keep:
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        raise no_usable_pairs(skill, counts)
    first = rows.column("first_message").to_pylist()
    second = rows.column("second_message").to_pylist()
    index: dict[str, int] = {}
    first_index = [index.setdefault(first[i] or "", len(index)) for i in keep]
    second_index = [index.setdefault(second[i] or "", len(index)) for i in keep]
    first_depth = np.asarray(rows.column("first_depth_change").to_pylist(), dtype=np.int64)[keep]
    second_depth = np.asarray(rows.column("second_depth_change").to_pylist(), dtype=np.int64)[keep]
    return PairSet(
        skill=skill,
        tokens=encode_messages(list(index)),
        first_index=torch.tensor(first_index, dtype=torch.int64),
        second_index=torch.tensor(second_index, dtype=torch.int64),
        first_sign=depth_sign(first_depth),
        second_sign=depth_sign(second_depth),
        target=torch.tensor([LABEL_TARGETS[labels[i]] for i in keep], dtype=torch.float32),
        dropped_unknown=len(labels) - len(keep),
    )


def unique_observations(table: pa.Table, skill: str) -> tuple[list[str], np.ndarray]:
    """(messages, depth changes) of the distinct observations in `skill`'s rows (by observation id)."""
    import pyarrow.compute as pc

    rows = table.filter(pc.equal(table.column("skill"), skill))
    seen: dict[object, tuple[str, int]] = {}
    for side in ("first", "second"):
        ids = rows.column(f"{side}_id").to_pylist()
        messages = rows.column(f"{side}_message").to_pylist()
        depths = rows.column(f"{side}_depth_change").to_pylist()
        for obs_id, message, depth in zip(ids, messages, depths):
            key = obs_id if obs_id else ("content", message, depth)
            seen.setdefault(key, (message or "", int(depth or 0)))
    values = list(seen.values())
    return [m for m, _ in values], np.asarray([d for _, d in values], dtype=np.int64)


def split_indices(n: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: a seeded permutation; at least one pair is kept for training."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(int(round(n * validation_fraction)), n - 1) if validation_fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# ----- training -------------------------------------------------------------------------------

def pair_loss(r_first: torch.Tensor, r_second: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of softmax([r_first, r_second]) against [1 - target, target]."""
    log_p = torch.log_softmax(torch.stack([r_first, r_second], dim=1).float(), dim=1)
    return -((1.0 - target) * log_p[:, 0] + target * log_p[:, 1]).mean()


@dataclass(frozen=True)
class EpochReport:
    """Told to the progress callback after each epoch."""

    skill: str
    epoch: int
    """1-based."""
    epochs: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    """On the held-out pairs that are not ties; None when there are none."""
    pairs_per_s: float
    best_epoch: int


@dataclass
class SkillResult:
    skill: str
    model: RewardModel
    """On the CPU, in eval mode: the best weights under early stopping, else the last ones."""
    config: TrainingConfig
    history: list[EpochReport]
    metrics: dict[str, float]


def _forward_pairs(model: RewardModel, pairs: PairSet, idx: torch.Tensor, amp: torch.dtype | None,
                   dedupe: bool = True):
    """Rewards of both sides of the pairs `idx`; with `dedupe`, each distinct message of the batch
    goes through the CNN once (same loss and gradients up to float summation order)."""
    b = idx.shape[0]
    messages = torch.cat([pairs.first_index[idx], pairs.second_index[idx]])
    signs = torch.cat([pairs.first_sign[idx], pairs.second_sign[idx]])
    if dedupe:
        distinct, inverse = torch.unique(messages, return_inverse=True)
        tokens = pairs.tokens[distinct]
    else:
        tokens, inverse = pairs.tokens[messages], None
    with torch.autocast(tokens.device.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
        rewards = model(tokens, signs, inverse).float()
    return rewards[:b], rewards[b:]


@torch.inference_mode()
def _evaluate(model: RewardModel, pairs: PairSet, idx: torch.Tensor, amp: torch.dtype | None,
              batch: int = 8192) -> tuple[float | None, float | None]:
    """(mean loss, accuracy on non-tie pairs) over `idx`; Nones when `idx` is empty."""
    if idx.numel() == 0:
        return None, None
    model.eval()
    loss_sum = torch.zeros((), device=idx.device)
    correct = torch.zeros((), device=idx.device)
    decided = torch.zeros((), device=idx.device)
    for start in range(0, idx.numel(), batch):
        part = idx[start:start + batch]
        r1, r2 = _forward_pairs(model, pairs, part, amp)
        target = pairs.target[part]
        loss_sum += pair_loss(r1, r2, target) * part.numel()
        mask = target != 0.5
        correct += ((r2 > r1) == (target > 0.5))[mask].sum()
        decided += mask.sum()
    model.train()
    n_decided = int(decided.item())
    accuracy = float(correct.item()) / n_decided if n_decided else None
    return float(loss_sum.item()) / idx.numel(), accuracy


def _improved(accuracy: float | None, loss: float | None, best: tuple[float, float] | None) -> bool:
    if loss is None:
        return False
    if best is None:
        return True
    key = (accuracy if accuracy is not None else -math.inf, -loss)
    return key > best


def train_skill(pairs: PairSet, config: TrainingConfig, *, progress: Callable[[EpochReport], None] | None = None,
                check: Callable[[], None] | None = None) -> SkillResult:
    """Train `pairs.skill`'s model. `check` is called every few steps (it may raise to stop)."""
    device = resolve_device(config.device)
    amp = torch.bfloat16 if config.precision == "bf16" and device.type == "cuda" else None
    skill = pairs.skill
    train_np, val_np = split_indices(len(pairs), config.validation_fraction, config.seed)
    data = pairs.to(device)
    train_idx = torch.from_numpy(train_np).to(device)
    val_idx = torch.from_numpy(val_np).to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = RewardModel(config.model)
    model = model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    steps = math.ceil(train_idx.numel() / config.batch_size)
    history: list[EpochReport] = []
    best: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch, since_best = 0, 0
    keep_best = config.early_stop_patience > 0 and val_idx.numel() > 0
    trained_pairs, train_seconds = 0, 0.0
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        order = train_idx[torch.randperm(train_idx.numel(), generator=generator).to(device)]
        losses = torch.empty(steps, device=device)
        checked = 0
        for step in range(steps):
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            r1, r2 = _forward_pairs(model, data, idx, amp, config.dedupe_messages)
            loss = pair_loss(r1, r2, data.target[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[step] = loss.detach()
            if (step + 1) % CHECK_EVERY_STEPS == 0 or step + 1 == steps:
                _check_finite(losses, checked, step + 1, skill, epoch, steps, config.learning_rate)
                checked = step + 1
                if check is not None:
                    check()
        train_loss = float(losses.mean().item())
        seconds = time.perf_counter() - started
        trained_pairs += train_idx.numel()
        train_seconds += seconds
        val_loss, val_accuracy = _evaluate(model, data, val_idx, amp)
        if _improved(val_accuracy, val_loss, best):
            best = (val_accuracy if val_accuracy is not None else -math.inf, -val_loss)
            best_epoch, since_best = epoch, 0
            if keep_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        report = EpochReport(skill, epoch, config.epochs, train_loss, val_loss, val_accuracy,
                             train_idx.numel() / seconds if seconds > 0 else 0.0, best_epoch)
        history.append(report)
        if progress is not None:
            progress(report)
        if keep_best and since_best >= config.early_stop_patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    final = history[-1]
    chosen = history[best_epoch - 1] if best_state is not None else final
    metrics = {
        "train_pairs": float(train_idx.numel()),
        "val_pairs": float(val_idx.numel()),
        "val_decided_pairs": float((data.target[val_idx] != 0.5).sum().item()) if val_idx.numel() else 0.0,
        "ties": float(pairs.ties),
        "dropped_unknown": float(pairs.dropped_unknown),
        "epochs_run": float(len(history)),
        "best_epoch": float(best_epoch),
        "final_loss": final.train_loss,
        "pairs_per_s": trained_pairs / train_seconds if train_seconds > 0 else 0.0,
        "train_seconds": train_seconds,
    }
    if chosen.val_loss is not None:
        metrics["val_loss"] = chosen.val_loss
    if chosen.val_accuracy is not None:
        metrics["val_accuracy"] = chosen.val_accuracy
    return SkillResult(skill, model.to("cpu").eval(), config, history, metrics)


def _check_finite(losses: torch.Tensor, start: int, stop: int, skill: str, epoch: int, steps: int,
                  learning_rate: float) -> None:
    window = losses[start:stop]
    if bool(torch.isfinite(window).all()):
        return
    bad = int((~torch.isfinite(window)).nonzero()[0].item())
    raise TrainingDiverged(skill, epoch, (epoch - 1) * steps + start + bad + 1,
                           float(window[bad].item()), learning_rate)


def shaping_stats(model: RewardModel, table: pa.Table, skill: str, threshold_quantile: float, *,
                  device: str | torch.device | None = "cpu") -> ShapingStats:
    """Normalisation and thresholds of `model` over the skill's deduplicated observations."""
    messages, depth_changes = unique_observations(table, skill)
    target = resolve_device(device)
    model = model.to(target)
    raw = predict(model, encode_messages(messages), depth_sign(depth_changes))
    model.to("cpu")
    return fit_shaping(raw, threshold_quantile)


def training_record(config: TrainingConfig) -> dict:
    """What a bundle records of how a model was trained."""
    return config.to_json() | {"input_spec_version": INPUT_SPEC_VERSION}
