"""The TrainRewardModels job logic: a bundle per run, and a resumed job skips finished skills."""

from __future__ import annotations

import threading

import pytest
import torch

from maestro.reward.v1 import reward_pb2 as pb
from maestro_common.artifacts import ArtifactStore
from maestro_common.errors import FailedPrecondition, InvalidArgument, NotFound
from maestro_common.jobs import JobContext, JobStore
from maestro_common.reward.bundle import load_bundle, read_bundle_manifest
from maestro_common.reward.synthetic import synthetic_label_table, write_label_table
from reward_trainer.config import RewardTrainerSettings
from reward_trainer.plan import plan_from_request
from reward_trainer.train_job import TrainingObserver, run_training

SETTINGS = RewardTrainerSettings(grpc_port=0, metrics_port=-1)


def _request(labels, **fields) -> pb.TrainRewardModelsRequest:
    config = pb.RewardTrainingConfig(epochs=2, batch_size=100, learning_rate=1e-3, seed=4, device="cpu")
    request = pb.TrainRewardModelsRequest(config=config, **fields)
    request.labels.uri, request.labels.sha256 = labels.uri, labels.sha256
    return request


class Recorder(TrainingObserver):
    def __init__(self):
        self.skills = []

    def on_epoch(self, report):
        self.skills.append(report.skill)


def _run(jobs: JobStore, plan, store, checkpoint=None):
    record, _ = jobs.create("TrainRewardModels", b"")
    jobs.claim_next(["TrainRewardModels"])
    if checkpoint is not None:
        jobs.save_checkpoint(record.job_id, checkpoint)
    context = JobContext(jobs, jobs.get(record.job_id), threading.Event())
    recorder = Recorder()
    run_training(context, plan, store, observer=recorder)
    context.flush_progress()
    return jobs.get(record.job_id), recorder


@pytest.fixture
def store(tmp_path):
    return ArtifactStore(str(tmp_path / "artifacts"))


def test_trains_every_skill_and_a_resumed_job_skips_finished_ones(tmp_path, store):
    table = synthetic_label_table(240, ["Descender", "Ascender", "Discoverer"], seed=1, pool_size=20)
    labels = write_label_table(store, table)
    plan = plan_from_request(_request(labels, threshold_quantiles={"Ascender": 0.9}), SETTINGS, store)
    assert plan.skills == ("Descender", "Ascender", "Discoverer")
    assert plan.threshold_quantiles == {"Descender": 0.85, "Ascender": 0.9, "Discoverer": 0.95}
    jobs = JobStore(tmp_path / "jobs.sqlite")
    first, recorder = _run(jobs, plan, store)
    assert set(recorder.skills) == {"Descender", "Ascender", "Discoverer"}
    assert first.progress_done == first.progress_total == 6
    assert {"Descender/val_accuracy", "Ascender/final_loss", "Discoverer/pairs_per_s"} <= set(first.metrics)
    bundle = load_bundle(store, first.outputs["reward_models"])
    assert bundle.skills == ["Descender", "Ascender", "Discoverer"]
    assert bundle.metadata["Ascender"].threshold_quantile == 0.9
    assert bundle.metadata["Discoverer"].threshold == bundle.metadata["Discoverer"].quantiles["0.95"]
    assert bundle.metadata["Descender"].training["learning_rate"] == 1e-3

    # A job cut off after its first skill resumes at the second and ends with the same bundle.
    manifest = read_bundle_manifest(store, first.outputs["reward_models"])
    checkpoint = {"skills": {"Descender": manifest["skills"]["Descender"]}}
    resumed, recorder = _run(jobs, plan, store, checkpoint)
    assert set(recorder.skills) == {"Ascender", "Discoverer"}
    again = read_bundle_manifest(store, resumed.outputs["reward_models"])["skills"]
    assert again["Descender"] == manifest["skills"]["Descender"]  # reused as is
    before = load_bundle(store, first.outputs["reward_models"])
    after = load_bundle(store, resumed.outputs["reward_models"])
    for skill in ("Ascender", "Discoverer"):  # trained again from the same seed: the same model
        for name, tensor in before.models[skill].state_dict().items():
            torch.testing.assert_close(after.models[skill].state_dict()[name], tensor, rtol=1e-4, atol=1e-5)


def test_plan_checks_name_the_field(store):
    table = synthetic_label_table(50, ["Descender", "Merchant"], seed=2)
    labels = write_label_table(store, table)
    cases = [
        (_request(labels, skills=["Worshipper"]), "skills[0]: 'Worshipper' has no labels"),
        (_request(labels, skills=["Descender", "Descender"]), "skills[1]: 'Descender' is listed twice"),
        (_request(labels, threshold_quantiles={"Descender": 1.0}), "threshold_quantiles[Descender]:"),
        (_request(labels, skills=["Descender"], threshold_quantiles={"Merchant": 0.5}),
         "threshold_quantiles[Merchant]:"),
    ]
    for request, message in cases:
        with pytest.raises(InvalidArgument) as error:
            plan_from_request(request, SETTINGS, store)
        assert error.value.message.startswith(message), error.value.message
    for name, value in (("epochs", 10**6), ("batch_size", -1), ("learning_rate", -1.0),
                        ("validation_fraction", 0.9), ("early_stop_patience", -2), ("device", "tpu")):
        request = _request(labels)
        setattr(request.config, name, value)
        with pytest.raises(InvalidArgument, match=rf"^config\.{name}:"):
            plan_from_request(request, SETTINGS, store)
    with pytest.raises(InvalidArgument, match="^labels:"):
        plan_from_request(pb.TrainRewardModelsRequest(), SETTINGS, store)
    missing = _request(labels)
    missing.labels.uri = labels.uri.replace(f"/{labels.sha256[:2]}/{labels.sha256}/", "/00/" + "0" * 64 + "/")
    missing.labels.sha256 = "0" * 64
    with pytest.raises(NotFound):
        plan_from_request(missing, SETTINGS, store)


def test_a_skill_without_usable_pairs_is_a_failed_precondition(store):
    table = synthetic_label_table(30, ["Merchant"], seed=3, unknown_fraction=1.0)
    labels = write_label_table(store, table)
    with pytest.raises(FailedPrecondition, match="'Merchant' has no usable labelled pairs"):
        plan_from_request(_request(labels), SETTINGS, store)
