"""Training one reward model per skill: learnability, reproducibility, divergence, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maestro_common.errors import FailedPrecondition
from maestro_common.reward import training
from maestro_common.reward.model import ModelConfig
from maestro_common.reward.synthetic import synthetic_label_table
from maestro_common.reward.training import (
    TrainingConfig,
    TrainingDiverged,
    label_counts,
    pair_loss,
    pair_set,
    shaping_stats,
    split_indices,
    train_skill,
    unique_observations,
)

SMALL = ModelConfig(conv_channels=(16, 16, 32), message_dim=32, depth_dim=16, hidden_dim=32)


def test_pair_loss_is_the_softmax_cross_entropy():
    r1, r2 = torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 2.0])
    loss = pair_loss(r1, r2, torch.tensor([0.5, 0.0, 1.0]))
    expected = np.mean([np.log(2), np.log1p(np.exp(-1.0)), np.log1p(np.exp(-2.0))])
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_pairs_drop_unknowns_and_map_labels():
    table = synthetic_label_table(400, ["Descender"], seed=1, unknown_fraction=0.1)
    counts = label_counts(table)["Descender"]
    pairs = pair_set(table, "Descender")
    assert pairs.dropped_unknown == counts["unknown"] > 0
    assert len(pairs) == 400 - counts["unknown"] and pairs.ties == counts["tie"]
    assert set(pairs.target.tolist()) == {0.0, 0.5, 1.0}
    assert pairs.tokens.shape[0] < 400  # each distinct message is encoded once
    messages, depth = unique_observations(table, "Descender")
    assert len(messages) == len(depth) == 800


def test_no_usable_pairs_names_the_skill():
    table = synthetic_label_table(20, ["Merchant"], seed=0, unknown_fraction=1.0)
    with pytest.raises(FailedPrecondition, match="'Merchant' has no usable labelled pairs"):
        pair_set(table, "Merchant")


def test_split_is_seeded_and_keeps_a_training_pair():
    train, val = split_indices(100, 0.1, seed=5)
    assert len(val) == 10 and len(train) == 90 and not set(train) & set(val)
    assert np.array_equal(split_indices(100, 0.1, seed=5)[1], val)
    assert not np.array_equal(split_indices(100, 0.1, seed=6)[1], val)
    assert len(split_indices(1, 0.5, seed=0)[0]) == 1


def test_descender_learns_to_prefer_going_down():
    table = synthetic_label_table(1500, ["Descender"], seed=2, pool_size=30)
    reports = []
    result = train_skill(pair_set(table, "Descender"),
                         TrainingConfig(epochs=4, batch_size=200, learning_rate=1e-3, seed=0, device="cpu"),
                         progress=reports.append)
    assert [r.epoch for r in reports] == [1, 2, 3, 4]
    assert result.metrics["val_accuracy"] >= 0.95
    assert result.metrics["pairs_per_s"] > 0 and result.metrics["final_loss"] < reports[0].train_loss
    stats = shaping_stats(result.model, table, "Descender", 0.85)
    assert stats.std > 0 and stats.threshold == stats.quantiles["0.85"]


def _train(seed: int):
    table = synthetic_label_table(300, ["Descender"], seed=3, pool_size=20)
    config = TrainingConfig(epochs=2, batch_size=64, learning_rate=1e-3, seed=seed, device="cpu", model=SMALL)
    return train_skill(pair_set(table, "Descender"), config)


def test_same_seed_same_model_twice():
    first, second = _train(7), _train(7)
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert first.metrics["final_loss"] == second.metrics["final_loss"]
    other = _train(8)
    assert not torch.equal(first.model.trunk[0].weight, other.model.trunk[0].weight)


def test_a_nan_loss_stops_training_naming_skill_and_step(monkeypatch):
    calls = {"n": 0}

    def poisoned(r1, r2, target):
        calls["n"] += 1
        loss = pair_loss(r1, r2, target)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(training, "pair_loss", poisoned)
    table = synthetic_label_table(300, ["Ascender"], seed=4, pool_size=10)
    config = TrainingConfig(epochs=2, batch_size=50, learning_rate=1e-3, seed=0, device="cpu", model=SMALL)
    with pytest.raises(TrainingDiverged, match=r"training 'Ascender' diverged: the loss was nan at epoch 1, step 3"):
        train_skill(pair_set(table, "Ascender"), config)


def test_a_huge_learning_rate_is_reported_as_divergence():
    table = synthetic_label_table(300, ["Descender"], seed=4, pool_size=10)
    config = TrainingConfig(epochs=3, batch_size=50, learning_rate=1e10, seed=0, device="cpu", model=SMALL)
    with pytest.raises(TrainingDiverged, match="lower config.learning_rate") as error:
        train_skill(pair_set(table, "Descender"), config)
    assert error.value.code == "FAILED_PRECONDITION" and error.value.skill == "Descender"


def test_early_stopping_keeps_the_best_epoch():
    table = synthetic_label_table(300, ["Descender"], seed=5, pool_size=10, flip_fraction=0.3)
    config = TrainingConfig(epochs=30, batch_size=100, learning_rate=3e-3, seed=0, device="cpu", model=SMALL,
                            early_stop_patience=2)
    result = train_skill(pair_set(table, "Descender"), config)
    best = int(result.metrics["best_epoch"])
    assert result.metrics["epochs_run"] < 30 and result.metrics["epochs_run"] == best + 2
    assert result.metrics["val_accuracy"] == result.history[best - 1].val_accuracy
