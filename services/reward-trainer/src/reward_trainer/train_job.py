"""TrainRewardModels: labels -> one reward model per skill -> a bundle (plain logic, no gRPC).

Skills are trained one after another in the plan's order. After each skill its weights and
metadata are written to the artifact store and the job checkpoint records their references, so
a restarted job skips every finished skill (a skill cut off mid-training is trained again from
its seed, which gives the same model). The output "reward_models" is the bundle manifest.
"""

from __future__ import annotations

from maestro_common.artifacts import ArtifactStore
from maestro_common.jobs.runner import JobContext
from maestro_common.reward.bundle import SkillArtifacts, SkillMetadata, export_skill, write_bundle
from maestro_common.reward.model import INPUT_SPEC_VERSION
from maestro_common.reward.training import (
    REQUIRED_COLUMNS,
    EpochReport,
    pair_set,
    read_label_table,
    shaping_stats,
    train_skill,
    training_record,
)
from reward_trainer.plan import TrainPlan

TRAIN_REWARD_MODELS = "TrainRewardModels"
SKILL_METRICS = ("val_accuracy", "val_loss", "final_loss", "pairs_per_s", "train_pairs", "val_pairs",
                 "dropped_unknown", "ties", "epochs_run", "best_epoch")
"""Per-skill job metrics, reported as "<skill>/<name>"."""


class TrainingObserver:
    """Told about each epoch (the service's metrics implement it); the base does nothing."""

    def on_epoch(self, report: EpochReport) -> None:
        """Called after every epoch of every skill."""


def _finished(ctx: JobContext, store: ArtifactStore) -> dict[str, SkillArtifacts]:
    """Skills a previous attempt finished whose artifacts are still in the store."""
    done = {}
    for skill, data in ctx.checkpoint.get("skills", {}).items():
        artifacts = SkillArtifacts.from_json(data)
        if store.exists(artifacts.weights) and store.exists(artifacts.metadata):
            done[skill] = artifacts
    return done


def run_training(ctx: JobContext, plan: TrainPlan, store: ArtifactStore,
                 observer: TrainingObserver | None = None) -> None:
    observer = observer or TrainingObserver()
    done = _finished(ctx, store)
    metrics: dict[str, float] = dict(ctx.checkpoint.get("metrics", {}))
    epochs, total = plan.config.epochs, plan.config.epochs * len(plan.skills)
    resumed = [s for s in plan.skills if s in done]
    ctx.report_progress(len(resumed) * epochs, total, unit="epochs", stage="training",
                        message=f"resuming: {', '.join(resumed)} already trained" if resumed else
                        f"{len(plan.skills)} skills on {plan.config.device}")
    table = read_label_table(store, plan.labels, columns=list(REQUIRED_COLUMNS))

    def check() -> None:
        ctx.raise_if_cancelled()
        ctx.raise_if_stopping()

    for position, skill in enumerate(plan.skills):
        if skill in done:
            continue
        check()
        base = position * epochs

        def on_epoch(report: EpochReport, base: int = base) -> None:
            observer.on_epoch(report)
            accuracy = "n/a" if report.val_accuracy is None else f"{report.val_accuracy:.3f}"
            ctx.report_progress(base + report.epoch, total, unit="epochs",
                                message=f"{report.skill}: epoch {report.epoch}/{report.epochs}, loss "
                                        f"{report.train_loss:.4f}, validation accuracy {accuracy}, "
                                        f"{report.pairs_per_s:,.0f} pairs/s")

        pairs = pair_set(table, skill)
        result = train_skill(pairs, plan.config, progress=on_epoch, check=check)
        quantile = plan.threshold_quantiles[skill]
        stats = shaping_stats(result.model, table, skill, quantile, device=plan.config.device)
        metadata = SkillMetadata(
            skill=skill, input_spec_version=INPUT_SPEC_VERSION, model_config=plan.config.model.to_json(),
            weights_sha256="", mean=stats.mean, std=stats.std, quantiles=stats.quantiles,
            threshold_quantile=quantile, threshold=stats.threshold,
            training=training_record(plan.config) | {"labels_sha256": plan.labels.sha256,
                                                     "label_counts": plan.label_counts[skill]},
            metrics=result.metrics,
        )
        done[skill] = export_skill(store, result.model, metadata)
        metrics.update({f"{skill}/{name}": result.metrics[name] for name in SKILL_METRICS if name in result.metrics})
        metrics["skills_done"] = float(len(done))
        ctx.save_checkpoint({"skills": {s: a.to_json() for s, a in done.items()}, "metrics": metrics})
        ctx.set_metrics(metrics)
        ctx.report_progress(base + epochs, total, unit="epochs", message=f"{skill} done")
    bundle = write_bundle(store, {s: done[s] for s in plan.skills},
                          details={"labels": plan.labels.to_dict(), "training": training_record(plan.config)})
    ctx.add_output("reward_models", bundle)
    ctx.set_metrics(metrics | {"skills_done": float(len(plan.skills))})
    summary = ", ".join(f"{s} {metrics.get(f'{s}/val_accuracy', float('nan')):.3f}" for s in plan.skills)
    ctx.report_progress(total, total, unit="epochs", stage="done", message=f"validation accuracy: {summary}")
