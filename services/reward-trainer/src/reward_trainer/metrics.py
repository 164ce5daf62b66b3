"""The reward-trainer's domain metrics (maestro_reward_trainer_*), on the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from maestro_common.reward.training import EpochReport
from reward_trainer.train_job import TrainingObserver


class RewardTrainerMetrics(TrainingObserver):
    def __init__(self, registry: CollectorRegistry):
        prefix = "maestro_reward_trainer"
        self.training_loss = Gauge(f"{prefix}_training_loss", "Mean training loss of the last epoch, by skill.",
                                   ["skill"], registry=registry)
        self.validation_loss = Gauge(f"{prefix}_validation_loss", "Validation loss of the last epoch, by skill.",
                                     ["skill"], registry=registry)
        self.validation_accuracy = Gauge(f"{prefix}_validation_accuracy",
                                         "Validation accuracy (non-tie held-out pairs) of the last epoch, by skill.",
                                         ["skill"], registry=registry)
        self.pairs_per_second = Gauge(f"{prefix}_training_pairs_per_second",
                                      "Training throughput of the last epoch (pairs per second), by skill.",
                                      ["skill"], registry=registry)
        self.epochs = Counter(f"{prefix}_epochs_total", "Training epochs finished, by skill.", ["skill"],
                              registry=registry)
        self.score_seconds = Histogram(f"{prefix}_score_seconds", "Time to answer one Score request.",
                                       buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                       registry=registry)
        self.observations_scored = Counter(f"{prefix}_observations_scored_total",
                                           "Observations scored by Score (counted once per skill).", ["skill"],
                                           registry=registry)
        self.bundle_loads = Counter(f"{prefix}_bundle_loads_total",
                                    "Reward-model bundles loaded for Score (cache misses).", registry=registry)

    def on_epoch(self, report: EpochReport) -> None:
        self.training_loss.labels(report.skill).set(report.train_loss)
        if report.val_loss is not None:
            self.validation_loss.labels(report.skill).set(report.val_loss)
        if report.val_accuracy is not None:
            self.validation_accuracy.labels(report.skill).set(report.val_accuracy)
        self.pairs_per_second.labels(report.skill).set(report.pairs_per_s)
        self.epochs.labels(report.skill).inc()
